"""Carrying a source's audio over to the output: cut to the kept time range and re-encoded.

Audio is decoded from a second reader of the source, in step with the video being encoded, so
the output is interleaved and only about one audio frame is held at a time. The kept range starts
at the presentation time of the first kept video frame and lasts as long as the output video.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ffpipe.engine.api import MediaError
from ffpipe.engine.builtin.video.encoding import BITEXACT_CODEC_OPTIONS

_OPUS_RATE = 48_000


class AudioCarrier:
    """Re-encodes the first audio track of ``source`` into a new stream of ``output``."""

    def __init__(self, source: Path, output: av.container.OutputContainer, codec: str) -> None:
        self._name = source.name
        try:
            self._input = av.open(str(source), "r")
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"the audio of {source.name} cannot be read ({exc})") from None
        in_stream = self._input.streams.audio[0]
        channels = in_stream.codec_context.channels
        self._layout = "mono" if channels == 1 else "stereo"
        self._rate = _OPUS_RATE if codec == "libopus" else in_stream.codec_context.sample_rate
        self.stream = output.add_stream(codec, rate=self._rate)
        self.stream.layout = self._layout
        self.stream.options = dict(BITEXACT_CODEC_OPTIONS)
        self._output = output
        self._resampler = av.AudioResampler(format="fltp", layout=self._layout, rate=self._rate)
        self._chunks = self._resampled(in_stream)
        self._start: int | None = None
        self._written = 0
        self._pending: np.ndarray | None = None
        self._pending_at = 0

    def begin(self, start: Fraction) -> None:
        """Fix the kept range's start: the source time (seconds) of the first kept video frame."""
        self._start = round(start * self._rate)

    def feed_until(self, seconds: Fraction) -> None:
        """Encode the audio of the output's first ``seconds``, as far as the source has any."""
        if self._start is None:
            return
        target = round(seconds * self._rate)
        while self._written < target:
            if self._pending is None and not self._next_chunk():
                return
            assert self._pending is not None
            offset = self._written - self._pending_at
            if offset >= self._pending.shape[1]:
                self._pending = None
                continue
            if offset < 0:
                gap = min(-offset, target - self._written)
                self._encode(np.zeros((self._pending.shape[0], gap), np.float32))
                continue
            take = self._pending[:, offset : offset + target - self._written]
            self._encode(np.ascontiguousarray(take))

    def finish(self, seconds: Fraction) -> float:
        """Encode up to ``seconds`` of output, flush the encoder; returns the seconds written."""
        self.feed_until(seconds)
        self._output.mux(self.stream.encode(None))
        return self._written / self._rate

    def close(self) -> None:
        """Release the source reader."""
        self._chunks.close()
        self._input.close()

    def _next_chunk(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        position, samples = chunk
        assert self._start is not None
        self._pending, self._pending_at = samples, position - self._start
        return True

    def _resampled(self, in_stream: av.audio.stream.AudioStream):
        """(absolute sample position, samples as (channels, n) float32) for the whole track."""
        position: int | None = None
        try:
            for packet in self._input.demux(in_stream):
                for frame in packet.decode():
                    if position is None:
                        position = round((frame.time or 0.0) * self._rate)
                    for out in self._resampler.resample(frame):
                        samples = out.to_ndarray()
                        yield position, samples
                        position += samples.shape[1]
            for out in self._resampler.resample(None):
                samples = out.to_ndarray()
                yield position or 0, samples
                position = (position or 0) + samples.shape[1]
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"the audio track of {self._name} cannot be decoded ({exc}); "
                "set skip_audio to leave it out"
            ) from None

    def _encode(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=self._layout)
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._written
        self._output.mux(self.stream.encode(frame))
        self._written += samples.shape[1]
