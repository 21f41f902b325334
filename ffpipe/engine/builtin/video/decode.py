"""Decoding a source video into the timed, trimmed and resampled frames an op works on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from ffpipe.engine.api import EngineError, MediaError
from ffpipe.engine.builtin.video.probe import recorded_frames, source_rate
from ffpipe.engine.builtin.video.timeline import Slot, TimedFrame, expected_frames, resample, trim


@dataclass
class FramePlan:
    """The decoded frames of one op: trim range, output rate, and counters filled as it runs."""

    container: av.container.InputContainer
    start: int
    end: int | None
    rate: Fraction | None = None
    """Output frame rate; unset keeps the source's."""
    frames_in: int = field(default=0, init=False)
    """Source frames inside the trim range decoded so far."""
    stream: av.video.stream.VideoStream = field(init=False)
    source_rate: Fraction = field(init=False)
    recorded: int | None = field(init=False)
    """Frame count promised by the container's headers, if any."""
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.source_rate = source_rate(self.stream)
        self.rate = self.rate or self.source_rate
        self.name = Path(self.container.name).name
        self.recorded = recorded_frames(self.stream)
        if self.recorded and self.start >= self.recorded:
            raise EngineError(
                f"trim_frame_start {self.start} is past the end of {self.name} "
                f"({self.recorded} frames)"
            )

    @property
    def expected_output(self) -> int | None:
        """Output frames to expect, from the frame count the container records (if it does)."""
        total = self.recorded
        if not total:
            return None
        kept = min(total, self.end or total) - self.start
        assert self.rate is not None
        return expected_frames(kept, self.source_rate, self.rate)

    def slots(self) -> Iterator[Slot[av.VideoFrame]]:
        """The source frames that appear in the output, with how often each repeats."""
        assert self.rate is not None
        kept = trim(self._decoded(), self.start, self.end)
        return resample(self._counted(kept), self.rate, 1 / self.source_rate)

    def _counted(self, frames: Iterator[TimedFrame[av.VideoFrame]]):
        for frame in frames:
            self.frames_in += 1
            yield frame

    def _decoded(self) -> Iterator[TimedFrame[av.VideoFrame]]:
        interval = 1 / self.source_rate
        index = 0
        try:
            for frame in self.container.decode(self.stream):
                if frame.pts is not None and frame.time_base is not None:
                    time = frame.pts * Fraction(frame.time_base)
                else:
                    time = index * interval
                yield TimedFrame(index, time, frame)
                index += 1
        except av.error.FFmpegError as exc:
            raise MediaError(f"{self.name} is damaged after frame {index} ({exc})") from None
        # One frame of slack: a duration-derived count can round up.
        if self.recorded and index < self.recorded - 1:
            raise MediaError(
                f"{self.name} is truncated or damaged: only {index} of its {self.recorded} "
                "frames could be decoded"
            )
        if index == 0:
            raise MediaError(f"{self.name} holds no decodable frames")
