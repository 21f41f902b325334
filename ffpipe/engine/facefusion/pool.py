"""One warm FaceFusion worker per device, behind the one engine interface.

FaceFusion keeps one process-wide state, so one worker runs one request at a time; a pool of
:class:`~ffpipe.engine.facefusion.engine.FaceFusionEngine`, one per device, runs as many at once
as it has devices. Each worker sees only its own GPU (``CUDA_VISIBLE_DEVICES``), so FaceFusion
runs it as device 0 there. A request naming ``execution_device_id`` waits for that device's
worker; any other goes to the first idle one. A worker that crashes is started again, on the same
device, by its next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ffpipe.catalog import OPS, CatalogModel
from ffpipe.engine.api import Engine, EngineOutput, RunContext, UnsupportedError
from ffpipe.engine.facefusion.engine import FaceFusionEngine

_WAIT = 0.2
"""Seconds between looks at a cancel flag while waiting for a busy worker."""


class FaceFusionPool(Engine):
    """Engines made by ``make(device)`` for each of ``devices``, spread over by request."""

    name = "facefusion"

    def __init__(self, make: Callable[[str], FaceFusionEngine], devices: Sequence[str]) -> None:
        if not devices:
            raise ValueError("a FaceFusion pool needs at least one device")
        if len(set(devices)) != len(devices):
            raise UnsupportedError(f"--devices {','.join(devices)} names a device twice")
        self.engines: dict[str, FaceFusionEngine] = {}
        try:
            for device in devices:
                self.engines[device] = make(device)
        except BaseException:
            self.close()
            raise
        first = next(iter(self.engines.values()))
        self.version = first.version
        self.checkout = first.checkout
        self.max_parallel = len(self.engines)
        self._busy: set[str] = set()
        self._changed = threading.Condition()

    @property
    def devices(self) -> list[str]:
        return list(self.engines)

    def start(self) -> None:
        """Start every worker now, side by side."""
        with ThreadPoolExecutor(max_workers=len(self.engines)) as starting:
            for started in [starting.submit(engine.start) for engine in self.engines.values()]:
                started.result()

    def capabilities(self) -> dict[str, Any]:
        """The first worker's capabilities, with the pool's devices and workers."""
        capabilities = next(iter(self.engines.values())).capabilities()
        capabilities["workers"] = [
            {"device": device, "pid": engine.worker.pid, "starts": engine.worker.starts}
            for device, engine in self.engines.items()
        ]
        capabilities["execution_devices"] = self.devices
        return capabilities

    def step_models(self, op: str, params: Mapping[str, Any]) -> dict[str, str]:
        """The model files of a step (the same install behind every worker)."""
        return next(iter(self.engines.values())).step_models(op, params)

    def check(self, steps: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
        steps = list(steps)
        problems = next(iter(self.engines.values())).check(steps)
        for op, known in steps:
            device = known.get("execution_device_id")
            if device is not None and str(device) not in self.engines:
                problems.append(self._unknown_device(op, str(device)))
        return problems

    def run(self, op: str, params: CatalogModel, context: RunContext) -> EngineOutput:
        """Run on the named device's worker, else on the first idle one."""
        spec = OPS.get(op)
        wanted = None
        if spec is not None:
            if not isinstance(params, spec.params):
                params = spec.params.model_validate(params)
            wanted = getattr(params, "execution_device_id", None)
        if wanted is not None and str(wanted) not in self.engines:
            raise UnsupportedError(self._unknown_device(op, str(wanted)))
        device = self._acquire(None if wanted is None else str(wanted), context)
        try:
            return self.engines[device].run(op, params, context)
        finally:
            with self._changed:
                self._busy.discard(device)
                self._changed.notify_all()

    def _acquire(self, wanted: str | None, context: RunContext) -> str:
        with self._changed:
            while True:
                context.check_cancelled()
                candidates = [wanted] if wanted is not None else list(self.engines)
                idle = [device for device in candidates if device not in self._busy]
                if idle:
                    self._busy.add(idle[0])
                    return idle[0]
                self._changed.wait(_WAIT)

    def _unknown_device(self, op: str, device: str) -> str:
        return (
            f"{op}: execution_device_id={device!r}: the FaceFusion workers run on devices "
            f"{', '.join(self.engines)} (--devices)"
        )

    def close(self) -> None:
        """Stop every worker."""
        for engine in self.engines.values():
            engine.close()


def parse_devices(text: str) -> list[str]:
    """``"0,1"`` -> ``["0", "1"]``; raises ValueError on an empty entry."""
    devices = [part.strip() for part in text.split(",")]
    if not devices or any(not part for part in devices):
        raise ValueError(f"--devices {text!r}: give device ids separated by commas, e.g. 0,1")
    return devices
