"""Estimated seconds until a job finishes, from its measured rate and from past jobs."""

from __future__ import annotations

import math
import statistics
import time

from ffpipe.catalog.jobs import JobState
from ffpipe.server.jobs.store import JobRecord

# Below this much progress the measured rate is mostly start-up cost (model loading, decoding the
# first frame), so past jobs of the same op say more.
_MIN_MEASURED_PROGRESS = 0.05


def estimate_seconds(
    record: JobRecord,
    past_durations: list[float],
    queued_ahead: int = 0,
    workers: int = 1,
    now: float | None = None,
) -> int | None:
    """Whole seconds until ``record`` is done; None when nothing is known to estimate from.

    A processing job extrapolates its own progress rate (progress reported per frame, so this is
    its measured frame rate); before it has made enough progress, and for queued jobs, the median
    duration of past jobs of the same op is used, with the jobs queued ahead of a queued job shared
    among the workers.
    """
    if record.finished:
        return 0
    now = time.time() if now is None else now
    typical = statistics.median(past_durations) if past_durations else None
    if record.status == JobState.PROCESSING and record.started_at is not None:
        elapsed = max(now - record.started_at, 0.0)
        if record.progress >= _MIN_MEASURED_PROGRESS and elapsed > 0:
            remaining = elapsed / record.progress * (1.0 - record.progress)
            return math.ceil(remaining)
        if typical is None:
            return None
        return math.ceil(max(typical - elapsed, 0.0))
    if typical is None:
        return None
    rounds_ahead = queued_ahead // max(workers, 1)
    return math.ceil(typical * (rounds_ahead + 1))
