"""The ``local`` backend: the builtin engine, in this process.

The engine (and with it OpenCV, dlib and PyAV) is imported on the first step that actually runs,
so a fully cached run or a plan never loads them: cache keys need only the engine's name and
version, and plans its stand-ins, which come from :mod:`ffpipe.engine.builtin.capabilities`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ffpipe.backends.base import Backend, BackendError, BackendIdentity, StepRequest, StepResult
from ffpipe.backends.models import stand_ins
from ffpipe.catalog import OPS
from ffpipe.engine.builtin import capabilities as builtin

if TYPE_CHECKING:
    from ffpipe.engine.api import Engine


def _builtin_engine_class() -> type[Engine]:
    from ffpipe.engine.builtin import BuiltinEngine

    return BuiltinEngine


class LocalBackend(Backend):
    """Runs ops in-process, as many at once as there are CPU cores (or as the engine takes).

    The engine is the builtin one, created on first use, unless ``engine`` names another (e.g. a
    :class:`~ffpipe.engine.facefusion.FaceFusionEngine`, which also puts the digests of the model
    files each step uses into its cache key).
    """

    def __init__(
        self, *, strict_models: bool = False, jobs: int | None = None, engine: Engine | None = None
    ) -> None:
        self._strict_models = strict_models
        self._jobs = jobs
        self._engine: Engine | None = engine
        self._lock = threading.Lock()

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                engine_class: Any = _builtin_engine_class()
                self._engine = engine_class(strict_models=self._strict_models)
            return self._engine

    def identity(self) -> BackendIdentity:
        if self._engine is None:
            return BackendIdentity(
                "local",
                builtin.ENGINE_NAME,
                builtin.ENGINE_VERSION,
                platform=builtin.platform(),
            )
        return BackendIdentity(
            kind="local",
            engine=self._engine.name,
            engine_version=str(self._engine.version),
            step_models=getattr(self._engine, "step_models", None),
            platform=self._engine.platform(),
        )

    def capabilities(self) -> dict[str, Any]:
        return self._get_engine().capabilities()

    def model_capabilities(self) -> dict[str, Any]:
        """The builtin engine's stand-ins without starting it; else the engine's capabilities."""
        if self._engine is None:
            return {"models": builtin.models()}
        return self._engine.capabilities()

    def check(self, steps: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Refuse what the engine says it cannot run; with ``strict_models``, also any step
        whose model the engine would stand in for."""
        steps = list(steps)
        if self._engine is not None:
            engine_problems = self._engine.check(steps)
            if engine_problems:
                raise BackendError(
                    f"the {self._engine.name} engine cannot run this plan as written:\n  - "
                    + "\n  - ".join(engine_problems)
                )
        if not self._strict_models:
            return
        capabilities = self.model_capabilities()
        problems = [
            f"{op}: {stand_in.parameter}={stand_in.requested!r} would be replaced by "
            f"{stand_in.used} (--strict-models)"
            for op, params in steps
            if op in OPS
            for stand_in in stand_ins(capabilities, op, params)
        ]
        if problems:
            raise BackendError(
                "the builtin engine cannot run this plan as named:\n  - " + "\n  - ".join(problems)
            )

    def max_concurrency(self) -> int:
        limit = self._engine.max_parallel if self._engine is not None else None
        return self._jobs or limit or os.cpu_count() or 1

    def run(self, request: StepRequest) -> StepResult:
        from ffpipe.engine.api import EngineError, RunContext

        try:
            spec = OPS[request.op]
        except KeyError:
            raise BackendError(f"unknown op {request.op!r}; known ops: {', '.join(OPS)}") from None
        try:
            params = spec.params.model_validate(request.params)
        except ValidationError as error:
            raise BackendError(f"invalid parameters for {request.op}: {error}") from None
        context = RunContext(
            out_dir=request.workdir, progress=request.progress, cancel=request.stop
        )
        try:
            output = self._get_engine().run(request.op, params, context)
        except EngineError as error:
            raise BackendError(str(error)) from error
        return StepResult(files=dict(output.files), result=dict(output.result))

    def close(self) -> None:
        """Stop the engine's workers, if it has any."""
        if self._engine is not None:
            self._engine.close()
