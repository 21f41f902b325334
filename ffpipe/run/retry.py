"""Retrying transient backend failures with exponential backoff and jitter."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import TypeVar

from ffpipe.backends.base import BackendError, TransientBackendError
from ffpipe.pipeline.instance import RetryPolicy

T = TypeVar("T")
RetryFn = Callable[[int, float, Exception], None]


class Cancelled(BackendError):
    """The run was stopped while a step waited to retry."""


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): exponential, capped, with jitter.

    Jitter draws from the upper half of the interval so that retries of parallel steps spread out
    without ever waiting less than half the nominal delay.
    """
    nominal = min(policy.max_backoff, policy.backoff * policy.factor ** (attempt - 1))
    return nominal * (rng or random).uniform(0.5, 1.0)


def call_with_retry(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    on_retry: RetryFn | None = None,
    cancel: threading.Event | None = None,
) -> T:
    """Call ``call``, retrying TransientBackendError; at most ``policy.attempts`` calls."""
    attempt = 1
    while True:
        try:
            return call()
        except TransientBackendError as error:
            if attempt >= policy.attempts:
                raise
            delay = backoff_delay(policy, attempt)
            if on_retry is not None:
                on_retry(attempt, delay, error)
            if cancel is not None and cancel.wait(delay):
                raise Cancelled("cancelled while waiting to retry") from error
            if cancel is None:
                threading.Event().wait(delay)
            attempt += 1
