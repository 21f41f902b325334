"""Trimming and nearest-frame resampling, on synthetic timestamps."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from ffpipe.engine.builtin.video.timeline import TimedFrame, expected_frames, resample, trim


def frames(count: int, rate: Fraction, start: int = 0) -> list[TimedFrame[int]]:
    return [TimedFrame(index, Fraction(index) / rate, index) for index in range(start, count)]


def expand(slots) -> list[int]:
    """The source index shown by each output frame."""
    shown = []
    for slot in slots:
        assert slot.first == len(shown)
        shown.extend([slot.index] * slot.repeat)
    return shown


def test_same_rate_is_the_identity() -> None:
    rate = Fraction(30)
    assert expand(resample(frames(90, rate), rate, 1 / rate)) == list(range(90))


def test_halving_drops_every_other_frame() -> None:
    assert expand(resample(frames(10, Fraction(30)), Fraction(15), Fraction(1, 30))) == [
        0,
        2,
        4,
        6,
        8,
    ]


def test_doubling_repeats_every_frame() -> None:
    shown = expand(resample(frames(5, Fraction(24)), Fraction(48), Fraction(1, 24)))
    assert shown == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_trim_keeps_the_half_open_range_and_restarts_time() -> None:
    kept = list(trim(frames(20, Fraction(10)), 5, 8))
    assert [frame.index for frame in kept] == [5, 6, 7]
    shown = expand(resample(kept, Fraction(10), Fraction(1, 10)))
    assert shown == [5, 6, 7]


def test_trim_without_end_runs_to_the_last_frame() -> None:
    assert [frame.index for frame in trim(frames(6, Fraction(10)), 4, None)] == [4, 5]


def test_rounded_container_timestamps_keep_every_frame() -> None:
    # WebM stores milliseconds: 30 fps becomes 0, 33, 67, 100 ... ms. No frame may be lost.
    rate = Fraction(30)
    rounded = [TimedFrame(i, Fraction(round(i * 1000 / 30), 1000), i) for i in range(60)]
    assert expand(resample(rounded, rate, 1 / rate)) == list(range(60))


def test_a_gap_in_a_variable_rate_source_repeats_the_frame_before_it() -> None:
    times = [0, 1, 2, 6, 7]  # in tenths of a second; 0.3-0.5 s are missing
    source = [TimedFrame(i, Fraction(t, 10), i) for i, t in enumerate(times)]
    shown = expand(resample(source, Fraction(10), Fraction(1, 10)))
    assert shown == [0, 1, 2, 2, 2, 2, 3, 4]


def test_nothing_in_nothing_out() -> None:
    assert list(resample([], Fraction(30), Fraction(1, 30))) == []


@settings(deadline=None, max_examples=60)
@given(
    count=st.integers(min_value=1, max_value=400),
    source=st.sampled_from([Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(60)]),
    target=st.sampled_from([Fraction(1), Fraction(12), Fraction(24), Fraction(2997, 100)]),
)
def test_output_lasts_as_long_as_the_input(count: int, source: Fraction, target: Fraction) -> None:
    shown = expand(resample(frames(count, source), target, 1 / source))
    assert len(shown) == expected_frames(count, source, target)
    assert len(shown) == math.ceil((count - Fraction(1, 10)) / source * target)
    assert shown == sorted(shown)
    for number, index in enumerate(shown):
        # Every output frame shows a nearest source frame (the earlier one on a tie).
        wanted = Fraction(number) / target
        nearest = min(count - 1, math.ceil(wanted * source - Fraction(1, 2)))
        assert index == nearest
