"""The memory strategies' plumbing: order, bounds, failures and thread clean-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ffpipe.engine.builtin.video.flow import map_frames, ordered_parallel_map, prefetch

STRATEGIES = [("strict", 1), ("moderate", 1), ("tolerant", 4)]


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize(("strategy", "workers"), STRATEGIES)
def test_results_keep_input_order(strategy: str, workers: int) -> None:
    def jittery_square(value: int) -> int:
        time.sleep(0.001 * (value % 3))  # uneven work, so parallel results finish out of order
        return value * value

    assert list(map_frames(jittery_square, range(60), strategy, workers)) == [
        v * v for v in range(60)
    ]


@pytest.mark.parametrize(("strategy", "workers"), STRATEGIES)
def test_failure_in_fn_reaches_the_consumer_and_threads_end(strategy: str, workers: int) -> None:
    before = threading.active_count()

    def fail_at_7(value: int) -> int:
        if value == 7:
            raise Boom("frame 7")
        return value

    results = []
    with pytest.raises(Boom, match="frame 7"):
        for value in map_frames(fail_at_7, range(100), strategy, workers):
            results.append(value)
    assert results == list(range(7))
    assert threading.active_count() == before


@pytest.mark.parametrize(("strategy", "workers"), STRATEGIES)
def test_failure_in_the_source_reaches_the_consumer(strategy: str, workers: int) -> None:
    def source() -> Iterator[int]:
        yield 1
        raise Boom("decoder")

    with pytest.raises(Boom, match="decoder"):
        list(map_frames(lambda v: v, source(), strategy, workers))


@pytest.mark.parametrize(("strategy", "workers"), STRATEGIES)
def test_closing_early_stops_and_closes_the_source(strategy: str, workers: int) -> None:
    closed = threading.Event()
    before = threading.active_count()

    def endless() -> Iterator[int]:
        try:
            value = 0
            while True:
                yield value
                value += 1
        finally:
            closed.set()

    mapped = map_frames(lambda v: v, endless(), strategy, workers)
    assert [next(mapped) for _ in range(5)] == [0, 1, 2, 3, 4]
    mapped.close()
    assert closed.wait(5)
    assert threading.active_count() == before


def test_prefetch_stays_a_bounded_distance_ahead() -> None:
    produced = []

    def source() -> Iterator[int]:
        for value in range(1000):
            produced.append(value)
            yield value

    ahead = prefetch(source(), 3)
    assert next(ahead) == 0
    time.sleep(0.2)  # let the producer run as far as it may
    # One consumed, three queued, one waiting to be queued.
    assert len(produced) <= 1 + 3 + 1
    ahead.close()


def test_parallel_map_runs_workers_concurrently_but_bounded() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Barrier(3, timeout=5)

    def work(value: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if value < 3:
            gate.wait()  # proves three items are in flight at once
        with lock:
            running -= 1
        return value

    assert list(ordered_parallel_map(work, range(30), 3)) == list(range(30))
    assert peak == 3


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown video_memory_strategy 'lavish'"):
        map_frames(lambda v: v, [], "lavish")


@pytest.mark.parametrize(("strategy", "workers"), STRATEGIES)
def test_closing_after_a_failure_joins_the_threads_at_once(strategy: str, workers: int) -> None:
    # The engine closes the generator before closing the video it decodes from: after close()
    # nothing may still be reading from the source, even while the exception is alive.
    source_done = threading.Event()

    def source() -> Iterator[int]:
        try:
            value = 0
            while True:
                yield value
                value += 1
        finally:
            source_done.set()

    def fail_at_3(value: int) -> int:
        if value == 3:
            raise Boom("frame 3")
        return value

    mapped = map_frames(fail_at_3, source(), strategy, workers)
    with pytest.raises(Boom) as caught:
        for _ in mapped:
            pass
    mapped.close()
    assert source_done.is_set()
    assert caught.value is not None
