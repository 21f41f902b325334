"""Estimated time left: from the job's own progress rate, else from past jobs of the same op."""

from __future__ import annotations

from dataclasses import replace

from ffpipe.server.jobs.estimate import estimate_seconds
from ffpipe.server.jobs.store import JobRecord

NOW = 1_000_000.0


def _record(status: str, progress: float = 0.0, started: float | None = None) -> JobRecord:
    return JobRecord(
        key="j",
        job_id="j",
        op="swap",
        params={},
        files={},
        priority=5,
        status=status,
        progress=progress,
        stage="",
        callback_url=None,
        outputs=None,
        result=None,
        error=None,
        attempts=1,
        notes=[],
        cancel_requested=False,
        created_at=NOW - 100,
        started_at=started,
        finished_at=None,
    )


def test_processing_job_extrapolates_its_measured_rate() -> None:
    record = _record("processing", progress=0.25, started=NOW - 10)
    assert estimate_seconds(record, [500.0], now=NOW) == 30


def test_early_progress_uses_past_durations_minus_elapsed() -> None:
    record = _record("processing", progress=0.01, started=NOW - 4)
    assert estimate_seconds(record, [10.0, 20.0, 30.0], now=NOW) == 16
    assert estimate_seconds(record, [], now=NOW) is None


def test_queued_job_waits_for_the_jobs_ahead_shared_among_workers() -> None:
    record = _record("queued")
    assert estimate_seconds(record, [10.0], queued_ahead=0, now=NOW) == 10
    assert estimate_seconds(record, [10.0], queued_ahead=4, workers=2, now=NOW) == 30
    assert estimate_seconds(record, [], queued_ahead=4, now=NOW) is None


def test_finished_job_has_nothing_left() -> None:
    assert estimate_seconds(replace(_record("completed"), progress=1.0), [10.0], now=NOW) == 0
