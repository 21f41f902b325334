"""The video module's view of :mod:`ffpipe.media`: the same probes, failures as MediaError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe import media
from ffpipe.engine.api import MediaError
from ffpipe.media import VideoInfo, is_video

if TYPE_CHECKING:
    import av

__all__ = ["VideoInfo", "is_video", "open_video", "probe", "recorded_frames", "source_rate"]


@contextmanager
def _as_engine_errors() -> Iterator[None]:
    try:
        yield
    except media.UnreadableMedia as error:
        raise MediaError(str(error)) from None


def open_video(path: Path) -> av.container.InputContainer:
    """Open ``path`` for decoding; raises MediaError if it is not a readable video."""
    with _as_engine_errors():
        return media.open_video(path)


def probe(path: Path) -> VideoInfo:
    """Frames, rate, size, codec, audio and duration of the video at ``path``."""
    with _as_engine_errors():
        return media.probe(path)


def source_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The nominal frame rate of a video stream; MediaError when it records none."""
    with _as_engine_errors():
        return media.source_rate(stream)


def recorded_frames(stream: av.video.stream.VideoStream) -> int | None:
    """The frame count the container's headers promise, if they promise one."""
    with _as_engine_errors():
        return media.recorded_frames(stream)
