"""How frames move from the decoder through the frame function to the encoder.

The three ``video_memory_strategy`` values trade memory for overlap. With ``W x H`` frames, one
decoded RGB frame takes ``3 * W * H`` bytes (2.8 MB at 1280x720, 6.2 MB at 1920x1080):

- ``strict``: one thread; decode, process and encode one frame at a time. At most about three
  frames are alive (the frame being processed, the one the decoder holds back until it knows the
  next frame's time, and the encoder's copy), whatever the length of the video.
- ``moderate``: a decoder thread, a worker thread and the encoder (the calling thread), joined by
  queues of ``QUEUE_DEPTH`` frames each: at most about ``2 * QUEUE_DEPTH + 4`` frames (20 with
  the default depth of 8; ~56 MB at 720p), for decoding and encoding overlapping the work.
- ``tolerant``: a decoder thread feeding ``execution_queue_count`` parallel workers; results are
  put back in order before encoding. At most about ``QUEUE_DEPTH + 2 * workers + 3`` frames.

A frame function that follows faces (see
:class:`~ffpipe.engine.builtin.video.process.FollowingFrameFn`)
does its in-order part where frames are decoded (the decoder thread, or the one thread of
``strict``), so the frames waiting in the first queue are RGB arrays rather than decoded frames
(twice the size of yuv420p), and it holds a few frames of its own (8 for face following).

In every strategy memory is bounded by these counts, not by the video's length. On top, the
encoder keeps its look-ahead (x264 ``veryfast``: ~10 frames, in yuv420p at half the RGB size) and
FFmpeg's frame-threaded decoder about one frame per decoding thread. The face models are loaded
once per process and shared by all workers, so more workers cost frames, not models.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from ffpipe.engine.builtin import exact

T = TypeVar("T")
R = TypeVar("R")

QUEUE_DEPTH = 8
_POLL_SECONDS = 0.05
_END = object()


class _Failure:
    """An exception raised in a background thread, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def map_frames(
    fn: Callable[[T], R], items: Iterable[T], strategy: str, workers: int = 1
) -> Generator[R, None, None]:
    """``fn`` applied to every item, in order, with the threading of ``strategy``.

    Exceptions raised by ``fn`` or by ``items`` reach the consumer unchanged. Closing the returned
    generator stops and joins every thread it started: do so (``contextlib.closing``) before
    releasing anything ``items`` reads from, or a failure leaves threads running until the
    exception is garbage collected.
    """
    if strategy == "strict":
        return _mapped(fn, iter(items))
    if strategy == "moderate":
        return prefetch(_mapped(fn, prefetch(items, QUEUE_DEPTH)), QUEUE_DEPTH)
    if strategy == "tolerant":
        return ordered_parallel_map(fn, prefetch(items, QUEUE_DEPTH), max(1, workers))
    raise ValueError(f"unknown video_memory_strategy {strategy!r}")


def _mapped(fn: Callable[[T], R], items: Iterator[T]) -> Generator[R, None, None]:
    """``fn`` over ``items``, closing ``items`` however it ends (a failure must not leave the
    thread behind ``items`` running while the exception's traceback keeps it referenced)."""
    try:
        for item in items:
            yield fn(item)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def prefetch(items: Iterable[T], depth: int) -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    The thread starts with the first ``next()`` and is stopped and joined when the consumer
    finishes, fails or closes the iterator.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        # OpenCV's IPP switch is per thread; frames must not depend on which thread ran them.
        exact.opencv()
        source = iter(items)
        try:
            for item in source:
                if not offer(item):
                    return
            offer(_END)
        except BaseException as error:
            offer(_Failure(error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="ffpipe-video-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def ordered_parallel_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int
) -> Generator[R, None, None]:
    """``fn`` over ``items`` on ``workers`` threads, results in input order, bounded in flight."""
    with ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="ffpipe-frame", initializer=exact.opencv
    ) as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            close = getattr(items, "close", None)
            if close is not None:
                close()
