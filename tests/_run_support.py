"""Shared helpers of the runner tests: the sample photos, and test backends.

The backends here are test doubles, not mocks of something missing: they implement the real
Backend protocol with trivial ops so the tests can count calls, fail on purpose, wait for each
other, and stay fast. Tests that matter for users also run once through the real LocalBackend.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from ffpipe.backends.base import (
    Backend,
    BackendError,
    BackendIdentity,
    StepRequest,
    StepResult,
    TransientBackendError,
)

REPO = Path(__file__).resolve().parent.parent
ASTRONAUT = REPO / "media" / "astronaut.jpg"
GRACE = REPO / "media" / "grace_hopper.jpg"


def copy_photos(folder: Path) -> tuple[Path, Path]:
    """Copies of the two sample photos in ``folder`` (tests may change them)."""
    astronaut, grace = folder / "astronaut.jpg", folder / "grace.jpg"
    shutil.copyfile(ASTRONAUT, astronaut)
    shutil.copyfile(GRACE, grace)
    return astronaut, grace


class CountingBackend(Backend):
    """Test double: each op writes the input's bytes plus a digest of its params; calls counted.

    The output keeps the target's file name, as the real engine does, so chains of steps work.
    """

    def __init__(self, version: str = "1.0", jobs: int = 2) -> None:
        self.version = version
        self.jobs = jobs
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def identity(self) -> BackendIdentity:
        return BackendIdentity(kind="test", engine="counting", engine_version=self.version)

    def capabilities(self) -> dict[str, Any]:
        return {"engine": "counting", "version": self.version}

    def max_concurrency(self) -> int:
        return self.jobs

    def label(self, request: StepRequest) -> str:
        """Which call this is, for counting: the op and the target's file name."""
        return f"{request.op}:{Path(str(request.params.get('target_media'))).name}"

    def run(self, request: StepRequest) -> StepResult:
        with self.lock:
            self.calls[self.label(request)] += 1
        target = Path(request.params["target_media"])
        others = {k: v for k, v in sorted(request.params.items()) if k != "target_media"}
        stamp = hashlib.sha256(json.dumps(others, sort_keys=True).encode()).hexdigest()
        output = request.workdir / target.name
        output.write_bytes(target.read_bytes() + stamp.encode())
        if request.progress is not None:
            request.progress(1.0, "written")
        return StepResult(files={"output": output}, result={"op": request.op, "substitutions": []})

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class FlakyBackend(CountingBackend):
    """Test double: fails transiently ``failures`` times, then works; or fails for good on ops
    listed in ``broken`` (matched against :meth:`CountingBackend.label`)."""

    def __init__(self, failures: int = 0, broken: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.failures = failures
        self.broken = broken

    def run(self, request: StepRequest) -> StepResult:
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                self.calls["transient"] += 1
                raise TransientBackendError("connection reset by peer")
        if any(self.label(request).startswith(item) for item in self.broken):
            raise BackendError(f"no face found in {Path(request.params['target_media']).name}")
        return super().run(request)


class BarrierBackend(CountingBackend):
    """Test double: every call waits until ``parties`` calls are inside at once (or times out)."""

    def __init__(self, parties: int) -> None:
        super().__init__(jobs=parties)
        self.barrier = threading.Barrier(parties, timeout=20)

    def run(self, request: StepRequest) -> StepResult:
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            raise BackendError("the other step never ran alongside this one") from None
        return super().run(request)
