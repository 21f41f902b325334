"""What every engine offers the backends: capabilities and running one op on local files."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.catalog import CatalogModel, op_spec

ProgressFn = Callable[[float, str], None]
"""Called with progress 0.0-1.0 and a short description of the current stage."""


class EngineError(Exception):
    """A request the engine cannot satisfy; the message is meant for the user as it is."""


class UnsupportedError(EngineError):
    """A parameter value, model, device or encoder this engine cannot honour."""


class MediaError(EngineError):
    """An input file that cannot be read as the media it should be."""


class FaceNotFoundError(EngineError):
    """No face, or not the requested face, in an input."""


class CancelledError(EngineError):
    """The request was cancelled while running."""


@dataclass(frozen=True)
class EngineOutput:
    """Files written by one op, and its JSON-serialisable result document.

    ``files["output"]`` is the primary artifact. The result always carries ``substitutions``: a
    list of ``{"parameter", "requested", "used"}`` for every named model the engine stood in for.
    """

    files: dict[str, Path]
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """Per-call plumbing: where to write, whom to tell about progress, and how to be stopped."""

    out_dir: Path
    progress: ProgressFn | None = None
    cancel: threading.Event | None = None

    def report(self, fraction: float, stage: str) -> None:
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), stage)

    def check_cancelled(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise CancelledError("cancelled")


class Engine(ABC):
    """A face-processing engine: the builtin CPU one, or a driver for an external install."""

    name: str
    version: str
    max_parallel: int | None = None
    """Requests it can run at once (None: as many as asked)."""

    @abstractmethod
    def capabilities(self) -> dict[str, Any]:
        """Engine name and version, ops, models (exact or substituted), encoders, devices."""

    @abstractmethod
    def run(self, op: str, params: CatalogModel, context: RunContext) -> EngineOutput:
        """Run ``op`` with validated ``params`` whose file fields are local paths."""

    def check(self, steps: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """Problems a plan of (op, known parameters) would hit, found before anything runs."""
        return []

    def platform(self) -> dict[str, str]:
        """What its output bytes may depend on besides the recipe and its version: the
        :func:`ffpipe.engine.platform.fingerprint` the lock file records."""
        from ffpipe.engine.platform import fingerprint

        return fingerprint(())

    def close(self) -> None:  # noqa: B027 - optional hook: most engines hold nothing
        """Release what the engine holds (worker processes)."""


def output_file(op: str, name: str, target: Path, out_dir: Path) -> Path:
    """Where ``op`` writes its output ``name`` in ``out_dir``, once the name passed the op's
    checks: :class:`UnsupportedError` for a name that cannot hold what the op writes,
    :class:`EngineError` for one that would overwrite the target."""
    problem = op_spec(op).check_output_name(name)
    if problem is not None:
        raise UnsupportedError(problem)
    destination = out_dir / name
    if destination.resolve() == target.resolve():
        raise EngineError(f"the output {name} would overwrite the target; set output_path")
    return destination


def check_target(op: str, target_name: str, is_video: bool) -> None:
    """Refuse a target of the wrong kind for ``op``: a video for detect, an image for the ops
    that need a video."""
    spec = op_spec(op)
    if is_video and not spec.takes_video:
        raise UnsupportedError(
            f"{op} works on images and target_media {target_name} is a video; extract a "
            "frame first (extract_frames)"
        )
    if not is_video and spec.needs_video:
        raise MediaError(f"target_media {target_name} is not a video")
