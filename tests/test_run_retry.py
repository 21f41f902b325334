"""Retries of transient failures: backoff grows, is capped, has jitter; other errors pass."""

from __future__ import annotations

import random
import threading

import pytest

from ffpipe.backends.base import BackendError, TransientBackendError
from ffpipe.pipeline.instance import RetryPolicy
from ffpipe.run.retry import Cancelled, backoff_delay, call_with_retry


def failing(times: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return calls, call


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(attempts=10, backoff=1.0, factor=2.0, max_backoff=5.0)
    rng = random.Random(7)
    delays = [backoff_delay(policy, attempt, rng) for attempt in range(1, 6)]
    nominal = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert all(n / 2 <= d <= n for d, n in zip(delays, nominal, strict=True))
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_transient_errors_are_retried_until_success() -> None:
    calls, call = failing(2, TransientBackendError("503 busy"))
    seen: list[int] = []
    policy = RetryPolicy(attempts=3, backoff=0.001)
    result = call_with_retry(call, policy, on_retry=lambda n, d, e: seen.append(n))  # type: ignore[arg-type]
    assert result == "done" and len(calls) == 3 and seen == [1, 2]


def test_gives_up_after_the_attempts() -> None:
    calls, call = failing(5, TransientBackendError("503 busy"))
    with pytest.raises(TransientBackendError):
        call_with_retry(call, RetryPolicy(attempts=2, backoff=0.001))  # type: ignore[arg-type]
    assert len(calls) == 2


def test_other_errors_are_not_retried() -> None:
    calls, call = failing(1, BackendError("no face"))
    with pytest.raises(BackendError, match="no face"):
        call_with_retry(call, RetryPolicy(attempts=5, backoff=0.001))  # type: ignore[arg-type]
    assert len(calls) == 1


def test_cancel_stops_the_wait() -> None:
    cancel = threading.Event()
    cancel.set()
    _, call = failing(5, TransientBackendError("reset"))
    with pytest.raises(Cancelled):
        call_with_retry(call, RetryPolicy(attempts=5, backoff=60.0), cancel=cancel)  # type: ignore[arg-type]
