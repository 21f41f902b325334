"""One request, whatever protocol it came by: check files, validate, run the engine, pack outputs.

Both the gradio endpoints and the legacy ``/api/predict`` route call :func:`execute`; failures are
:class:`RequestError` carrying the catalog's error shape (``{"error", "detail"}``) and an HTTP
status, never a traceback.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ffpipe.catalog import OPS, op_spec
from ffpipe.engine.api import (
    CancelledError,
    Engine,
    EngineError,
    EngineOutput,
    FaceNotFoundError,
    MediaError,
    ProgressFn,
    RunContext,
    UnsupportedError,
)
from ffpipe.server.files import FileRejected, incoming_path, pack_outputs

LOG = logging.getLogger("ffpipe.server")

ENDPOINT_ORDER: tuple[str, ...] = (
    "swap",
    "enhance",
    "edit",
    "detect",
    "video",
    "extract_frames",
    "process",
)
"""Ops in fn_index order: the catalog's example calls swap with fn_index=0 and enhance with 1."""

CAPABILITIES_ENDPOINT = "capabilities"
MANIFEST_KEY = "ffpipe_files"
"""Result key listing the returned files: ``[{"key", "archive"}]``, primary first."""

_ENGINE_ERRORS: tuple[tuple[type[EngineError], str], ...] = (
    (UnsupportedError, "unsupported"),
    (FaceNotFoundError, "face not found"),
    (MediaError, "unreadable media"),
    (CancelledError, "cancelled"),
)


class RequestError(Exception):
    """A request that failed in a way the caller can act on; ``shape()`` is the catalog's."""

    def __init__(self, error: str, detail: str, status: int = 400) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail
        self.status = status

    def shape(self) -> dict[str, str]:
        return {"error": self.error, "detail": self.detail}


@dataclass(frozen=True)
class Outcome:
    """Files of one request (primary first, directories packed as archives) and its result.

    ``folder`` is the request's own output folder, holding every file; a caller that has sent the
    files' contents (the legacy protocol) removes it.
    """

    files: dict[str, Path]
    archives: frozenset[str]
    result: dict[str, Any]
    folder: Path

    def ordered_keys(self) -> list[str]:
        """File keys, the primary ``output`` first."""
        return sorted(self.files, key=lambda key: key != "output")

    def result_with_manifest(self) -> dict[str, Any]:
        """The engine's result plus which returned file is which (the client strips it)."""
        manifest = [{"key": key, "archive": key in self.archives} for key in self.ordered_keys()]
        return {**self.result, MANIFEST_KEY: manifest}


def parameter_order(op: str) -> list[str]:
    """The parameter names of ``op`` in endpoint order.

    Required files, other required parameters, optional files, then the rest in the catalog's
    reading order (the model's groups as declared). This is the positional order of gradio's
    ``data`` list and of the legacy protocol.
    """
    model = op_spec(op).params
    declared: list[str] = []
    for cls in model.__mro__:
        for name in getattr(cls, "__annotations__", {}):
            if name in model.model_fields and name not in declared:
                declared.append(name)
    files = set(OPS[op].file_fields)

    def rank(name: str) -> int:
        required = model.model_fields[name].is_required()
        return (0 if name in files else 1) + (0 if required else 2)

    return sorted(declared, key=rank)


def _describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "parameters"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def validate(op: str, values: Mapping[str, Any], roots: Sequence[Path]) -> Any:
    """The catalog model of ``op`` built from ``values``; file fields must be server files."""
    spec = op_spec(op)
    prepared = dict(values)
    try:
        for name in spec.file_fields:
            if prepared.get(name) is not None:
                prepared[name] = str(incoming_path(name, prepared[name], roots))
    except FileRejected as error:
        raise RequestError("file not allowed", str(error), status=403) from None
    try:
        return spec.params.model_validate(prepared)
    except ValidationError as error:
        raise RequestError("invalid parameters", _describe_validation(error)) from None


def _refuse_long_video(op: str, target: Path) -> None:
    """The catalog's rule: video over 10 s is always asynchronous, so never a sync request."""
    from ffpipe.server.jobs.api import SYNC_VIDEO_LIMIT_SECONDS, requires_job

    if requires_job(target):
        raise RequestError(
            "use a job",
            f"{target.name} is a video longer than {SYNC_VIDEO_LIMIT_SECONDS:g} s, which always "
            f"runs asynchronously: submit {op} with POST /api/jobs",
            status=422,
        )


def execute(
    engine: Engine,
    op: str,
    values: Mapping[str, Any],
    *,
    roots: Sequence[Path],
    output_dir: Path,
    progress: ProgressFn | None = None,
) -> Outcome:
    """Validate and run one op; outputs land in a fresh folder under ``output_dir``."""
    if op not in OPS:
        raise RequestError("unknown op", f"{op!r}; this server has {', '.join(ENDPOINT_ORDER)}")
    params = validate(op, values, roots)
    _refuse_long_video(op, Path(params.target_media))
    out_dir = output_dir / uuid.uuid4().hex
    out_dir.mkdir(parents=True)
    try:
        output = _run_engine(engine, op, params, RunContext(out_dir=out_dir, progress=progress))
        packed = pack_outputs(output.files, out_dir)
    except BaseException:
        # A failed request returns no file, so nothing it wrote may stay behind.
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    archives = frozenset(key for key, path in output.files.items() if path.is_dir())
    return Outcome(files=packed, archives=archives, result=dict(output.result), folder=out_dir)


def _run_engine(engine: Engine, op: str, params: Any, context: RunContext) -> EngineOutput:
    """``engine.run`` with every failure turned into a :class:`RequestError`."""
    try:
        output = engine.run(op, params, context)
    except EngineError as error:
        kind = next((text for cls, text in _ENGINE_ERRORS if isinstance(error, cls)), "failed")
        raise RequestError(f"{op} {kind}", str(error), status=422) from None
    except Exception as error:
        LOG.exception("%s failed unexpectedly", op)
        raise RequestError(
            f"{op} failed", f"internal error ({type(error).__name__}); see the server log", 500
        ) from None
    if not output.files:
        raise RequestError(f"{op} failed", "the engine wrote no output", status=500)
    return output
