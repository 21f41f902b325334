"""Which source frames make up the output: trimming, then resampling to a constant frame rate.

Resampling is nearest-frame by presentation time: output frame ``k`` shows, at time ``k / rate``,
the source frame whose display time is nearest (the earlier one on a tie). A source frame may
therefore be dropped (lowering the rate) or repeated (raising it); at the source's own rate every
frame appears once. The output lasts as long as the kept source frames: it has one frame for every
``k / rate`` that falls before the end of the last kept frame, by more than a tenth of a source
frame (the slack absorbs container timestamps rounded to milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

T = TypeVar("T")
_END_SLACK = Fraction(1, 10)
"""Fraction of a source frame by which an output frame must start before the end."""


@dataclass(frozen=True)
class TimedFrame(Generic[T]):
    """A decoded source frame: its 0-based index, presentation time in seconds and payload."""

    index: int
    time: Fraction
    payload: T


@dataclass(frozen=True)
class Slot(Generic[T]):
    """A source frame that appears in the output, ``repeat`` times in a row from ``first``."""

    index: int
    time: Fraction
    payload: T
    first: int
    repeat: int


def trim(frames: Iterable[TimedFrame[T]], start: int, end: int | None) -> Iterator[TimedFrame[T]]:
    """The frames with ``start <= index < end`` (``end=None``: to the last frame)."""
    for frame in frames:
        if frame.index < start:
            continue
        if end is not None and frame.index >= end:
            return
        yield frame


def resample(
    frames: Iterable[TimedFrame[T]], rate: Fraction, interval: Fraction
) -> Iterator[Slot[T]]:
    """Map source frames onto output frames at ``rate``; dropped frames are left out.

    ``interval`` is the source's nominal frame duration: half of it decides which source frame is
    nearest, and all of it is the display time of the last frame. Times are taken relative to the
    first frame, so a trimmed start begins the output at 0. One frame is held back until the next
    one's time is known.
    """
    half = interval / 2
    produced = 0
    held: TimedFrame[T] | None = None
    origin: Fraction | None = None
    for frame in frames:
        if origin is None:
            origin = frame.time
        if held is not None:
            limit = _frames_through(frame.time - origin - half, rate)
            if limit > produced:
                yield Slot(held.index, held.time, held.payload, produced, limit - produced)
                produced = limit
        held = frame
    if held is not None and origin is not None:
        limit = _frames_before(held.time - origin + interval * (1 - _END_SLACK), rate)
        if limit > produced:
            yield Slot(held.index, held.time, held.payload, produced, limit - produced)


def expected_frames(kept_frames: int, source_rate: Fraction, rate: Fraction) -> int:
    """How many output frames ``kept_frames`` evenly spaced source frames become at ``rate``."""
    return _frames_before((Fraction(kept_frames) - _END_SLACK) / source_rate, rate)


def _frames_through(time: Fraction, rate: Fraction) -> int:
    """Count of output frames k >= 0 with ``k / rate <= time``."""
    if time < 0:
        return 0
    return math.floor(time * rate) + 1


def _frames_before(time: Fraction, rate: Fraction) -> int:
    """Count of output frames k >= 0 with ``k / rate < time``."""
    if time <= 0:
        return 0
    return math.ceil(time * rate)
