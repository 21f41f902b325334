"""The Backend protocol: how the runner has one op executed, in-process or on a server."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ProgressFn = Callable[[float, str], None]


class BackendError(Exception):
    """The op failed; the message is the backend's, for the user."""


class TransientBackendError(BackendError):
    """A failure worth retrying: connection refused or reset, timeout, 5xx, queue full."""


ABSENT_MODEL = "absent"
"""The digest an engine gives a model file that is not there (FaceFusion's models.digests)."""


@dataclass(frozen=True)
class BackendIdentity:
    """Who runs a step; part of every step's cache key."""

    kind: str
    """"local" or "gradio"."""
    engine: str
    engine_version: str
    server: str | None = None
    """Server URL for remote backends (credentials never included)."""
    step_models: Callable[[str, Mapping[str, Any]], Mapping[str, str]] | None = field(
        default=None, compare=False, repr=False
    )
    """For engines with model files: (op, params) -> {model: digest} of the models a step uses
    (:data:`ABSENT_MODEL` for a file that is not there)."""
    platform: Mapping[str, str] = field(default_factory=dict, compare=False)
    """The engine's platform fingerprint (:mod:`ffpipe.engine.platform`): recorded in the lock
    file to explain other bytes for the same recipe, never part of a cache key."""

    def key_fields(
        self, op: str | None = None, params: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """The fields that make outputs differ: engine and version, not where it runs.

        Given a step's op and parameters, also the digest of every model file that step uses
        (``"model NAME"``), so replacing a model re-runs exactly the steps that used it.
        """
        fields = {"engine": self.engine, "engine_version": self.engine_version}
        if self.step_models is not None and op is not None and params is not None:
            for name, digest in sorted(self.step_models(op, params).items()):
                fields[f"model {name}"] = digest
        return fields


@dataclass(frozen=True)
class StepRequest:
    """One op to run: validated catalog parameters as plain JSON values, files as local paths."""

    op: str
    params: dict[str, Any]
    workdir: Path
    """An empty folder the backend may write its outputs into."""
    progress: ProgressFn | None = None
    stop: threading.Event | None = None
    """Set when the runner gave up on the step (its ``timeout:``): stop the work, not only the
    wait for it."""


@dataclass(frozen=True)
class StepResult:
    """Output files (``"output"`` is the primary one) and the op's result document."""

    files: dict[str, Path]
    result: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """Runs ops for the runner."""

    @abstractmethod
    def identity(self) -> BackendIdentity: ...

    @abstractmethod
    def capabilities(self) -> dict[str, Any]: ...

    @abstractmethod
    def max_concurrency(self) -> int:
        """How many steps this backend takes at once (the scheduler's default ``--jobs``)."""

    @abstractmethod
    def run(self, request: StepRequest) -> StepResult: ...

    def check(  # noqa: B027 - optional hook: most backends have nothing to check up front
        self, steps: Iterable[tuple[str, Mapping[str, Any]]]
    ) -> None:
        """Refuse, before anything runs, a plan of (op, known parameters) this backend cannot run.

        Raises one BackendError listing every problem; the default has nothing to check.
        """

    def model_capabilities(self) -> dict[str, Any]:
        """The part of :meth:`capabilities` that says how the backend honours models and
        parameters (``models``, ``parameters``): what plans and ``--strict-models`` read.

        Backends that can answer without starting their engine override it.
        """
        return self.capabilities()

    def supports_jobs(self) -> bool:
        """Whether :meth:`run_job` queues work on a server (the catalog's asynchronous mode)."""
        return False

    def run_job(self, request: StepRequest, job_id: str, options: Mapping[str, Any]) -> StepResult:
        """Run ``request`` as a durable job named ``job_id``, reattaching if it already exists.

        ``options`` are the catalog's job options (priority, callback_url). Backends without a
        job queue refuse.
        """
        raise BackendError(f"the {self.identity().kind} backend has no job queue")

    def close(self) -> None:  # noqa: B027 - optional hook with nothing to do by default
        """Release connections; the default has nothing to release."""
