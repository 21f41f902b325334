"""Frame progress for the runner's display: throttled to steps of one percent."""

from __future__ import annotations

from ffpipe.engine.api import RunContext

STAGE = "frames"
_STEP = 0.01


class FrameProgress:
    """Reports ``done / expected`` frames; without an expected count only the start and end."""

    def __init__(self, context: RunContext, expected: int | None) -> None:
        self._context = context
        self._expected = expected
        self._reported = 0.0
        context.report(0.0, STAGE)

    def advance(self, done: int) -> None:
        """``done`` frames are finished; check for cancellation and report if it moved enough."""
        self._context.check_cancelled()
        if not self._expected:
            return
        fraction = min(done / self._expected, 1.0)
        if fraction - self._reported >= _STEP:
            self._context.report(fraction, STAGE)
            self._reported = fraction

    def finish(self) -> None:
        """Every frame is done."""
        if self._reported < 1.0:
            self._context.report(1.0, STAGE)
            self._reported = 1.0
