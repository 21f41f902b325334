"""The server's one way to run an op, whatever protocol the request came by.

The gradio endpoints and ``/api/predict`` call :func:`execute`; the job service checks a submission
with :func:`parse_params` and its workers run it with :func:`run_op`. So every route validates the
same way, maps failures the same way and checks outputs the same way. Failures are
:class:`~ffpipe.server.errors.RequestError` (the catalog's ``{"error", "detail"}`` and an HTTP
status); an internal error is logged here with its traceback and reported without its type, its
message or any server path.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ffpipe import media
from ffpipe.catalog import ENDPOINT_ORDER, OPS, CatalogModel, op_spec
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
from ffpipe.server.errors import INVALID_STATUS, RequestError
from ffpipe.server.files import FileRejected, incoming_path, pack_outputs
from ffpipe.server.in_use import Claim
from ffpipe.server.output_budget import (
    DEFAULT_MAX_OUTPUT_BYTES,
    OutputTooLarge,
    check_output_budget,
)

LOG = logging.getLogger("ffpipe.server")

CAPABILITIES_ENDPOINT = "capabilities"
MANIFEST_KEY = "ffpipe_files"
"""Result key listing the returned files: ``[{"key", "archive"}]``, primary first."""

_ENGINE_ERRORS: tuple[tuple[type[EngineError], str], ...] = (
    (UnsupportedError, "unsupported"),
    (FaceNotFoundError, "face not found"),
    (MediaError, "unreadable media"),
    (CancelledError, "cancelled"),
)
_QUOTED_PATH = re.compile(r"(['\"])/[^'\"\n]*/([^'\"/\n]+)\1")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"`]+/)+([^\s/'\"`]+)")


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


def without_paths(message: str) -> str:
    """``message`` with every absolute path cut to its last part, the name the user knows.

    Files reach the engine under the server's folders (an upload, a job's staged input), so
    a message naming one would tell the caller where this server keeps its data.
    """
    return _ABSOLUTE_PATH.sub(r"\1", _QUOTED_PATH.sub(r"\1\2\1", message))


def describe_validation(error: ValidationError) -> str:
    """A pydantic error as ``where: what`` parts, the detail of every refused request."""
    return describe_errors(error.errors(include_url=False))


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """pydantic's error items as ``where: what`` parts (:func:`describe_validation`'s wording)."""
    parts = []
    for item in errors:
        where = ".".join(str(part) for part in item["loc"]) or "parameters"
        parts.append(f"{where}: {item['msg']}")
    return without_paths("; ".join(parts))


def value_errors(op: str, values: Mapping[str, Any]) -> list[ErrorDetails]:
    """What the catalog model of ``op`` says of each of ``values``, taken strictly as they are.

    Only the given values are looked at (a part of a request: a parameter not given is no
    error here), and none is converted (``"0.5"`` is no number): for a caller that hands the
    values on to code that takes them only as they are.
    """
    check_op(op)
    try:
        op_spec(op).params.model_validate(dict(values), strict=True)
    except ValidationError as error:
        return [
            item
            for item in error.errors(include_url=False)
            if item["loc"] and item["loc"][0] in values
        ]
    return []


def check_op(op: str) -> None:
    """Refuse an op this server does not have."""
    if op not in OPS:
        raise RequestError(
            INVALID_STATUS, "unknown op", f"{op!r}; this server has {', '.join(ENDPOINT_ORDER)}"
        )


def parse_params(op: str, values: Mapping[str, Any]) -> CatalogModel:
    """The catalog model of ``op`` built from ``values`` (file fields already local paths)."""
    check_op(op)
    try:
        return op_spec(op).params.model_validate(dict(values))
    except ValidationError as error:
        raise RequestError(
            INVALID_STATUS, "invalid parameters", describe_validation(error)
        ) from None


def validate(op: str, values: Mapping[str, Any], roots: Sequence[Path]) -> CatalogModel:
    """:func:`parse_params` of a synchronous request, whose files must be server files."""
    check_op(op)
    prepared = dict(values)
    try:
        for name in op_spec(op).file_fields:
            if prepared.get(name) is not None:
                prepared[name] = str(incoming_path(name, prepared[name], roots))
    except FileRejected as error:
        raise RequestError(403, "file not allowed", str(error)) from None
    return parse_params(op, prepared)


def _refuse_long_video(op: str, target: Path) -> None:
    """The catalog's rule: video over 10 s is always asynchronous, so never a sync request."""
    if media.requires_job(target):
        raise RequestError(
            INVALID_STATUS,
            "use a job",
            f"{target.name} is a video longer than {media.ASYNC_VIDEO_SECONDS:g} s, which always "
            f"runs asynchronously: submit {op} with POST /api/jobs",
        )


def execute(
    engine: Engine,
    op: str,
    values: Mapping[str, Any],
    *,
    roots: Sequence[Path],
    output_dir: Path,
    progress: ProgressFn | None = None,
    max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
    claim: Claim | None = None,
) -> Outcome:
    """Validate and run one synchronous request; outputs land in a new folder in ``output_dir``.

    ``claim`` is the request's hold on its files (:mod:`ffpipe.server.in_use`): its inputs and
    its output folder are added, so retention leaves them alone until the caller lets go.
    """
    params = validate(op, values, roots)
    if claim is not None:  # before the probe below: it may take long enough for a sweep
        for name in op_spec(op).file_fields:
            if getattr(params, name, None) is not None:
                claim.add(Path(getattr(params, name)))
    _refuse_long_video(op, Path(params.target_media))  # type: ignore[attr-defined]
    out_dir = output_dir / uuid.uuid4().hex
    if claim is not None:
        claim.add(out_dir)
    out_dir.mkdir(parents=True)
    try:
        context = RunContext(out_dir=out_dir, progress=progress, max_output_bytes=max_output_bytes)
        outcome = run_op(engine, op, params, context)
        # Handed over as new: gradio copies the files after the claim has ended, and retention's
        # grace period then covers a folder a long run created long ago.
        os.utime(out_dir)
        return outcome
    except CancelledError as error:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise engine_failure(op, error) from None
    except BaseException:
        # A failed request returns no file, so nothing it wrote may stay behind.
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def run_op(engine: Engine, op: str, params: CatalogModel, context: RunContext) -> Outcome:
    """Run ``op`` on the engine into ``context.out_dir`` and check what it wrote.

    Every failure is a :class:`~ffpipe.server.errors.RequestError` except cancellation: a
    :class:`~ffpipe.engine.api.CancelledError` passes through for the caller, which knows whether
    it was a user's cancel or a shutdown. On failure, files already written stay for the caller
    to remove with its folder.
    """
    try:
        check_output_budget(op, params, context.max_output_bytes)
        output = engine.run(op, params, context)
        files = _checked_files(op, output, context.out_dir)
        packed = pack_outputs(files, context.out_dir)
        result = json.loads(json.dumps(output.result, default=str))
    except CancelledError:
        raise
    except EngineError as error:
        raise engine_failure(op, error) from None
    except RequestError:
        raise
    except OutputTooLarge as error:
        raise RequestError(413, "output too large", str(error)) from None
    except Exception:
        LOG.exception("%s failed unexpectedly", op)
        raise internal_error(op) from None
    archives = frozenset(key for key, path in files.items() if path.is_dir())
    return Outcome(files=packed, archives=archives, result=result, folder=context.out_dir)


def engine_failure(op: str, error: EngineError) -> RequestError:
    """The catalog error of an engine refusal: its kind, and its message (meant for the user,
    with any server path cut to the file's name)."""
    kind = next((text for cls, text in _ENGINE_ERRORS if isinstance(error, cls)), "failed")
    return RequestError(INVALID_STATUS, f"{op} {kind}", without_paths(str(error)))


def internal_error(op: str) -> RequestError:
    """The catalog error of a fault of the server itself; the details are in the server log."""
    return RequestError(
        500, f"{op} failed", "internal error of the server; its log has the details"
    )


def _checked_files(op: str, output: EngineOutput, out_dir: Path) -> dict[str, Path]:
    """The engine's files, if they are what every route may return: a primary ``output`` and
    only paths that exist inside the request's own folder (never an input or another file)."""
    problem = None
    folder = out_dir.resolve()
    if "output" not in output.files:
        problem = f"no primary output among {sorted(output.files)}"
    for key, path in output.files.items():
        resolved = Path(path).resolve()
        if not resolved.exists():
            problem = f"output {key!r} was reported but not written"
        elif folder not in resolved.parents:
            problem = f"output {key!r} lies outside the request's folder"
    if problem is not None:
        LOG.error("%s: the engine's outputs are unusable: %s", op, problem)
        raise internal_error(op)
    return {key: Path(path) for key, path in output.files.items()}
