"""What a media file is: whether it is a video, its basic properties, and whether it must be a job.

A bottom-layer module (it imports nothing else of ffpipe) and the one owner of these rules: the
engine decides image or video with :func:`is_video`, the runner decides fusion with it, and the
runner and the server decide with :func:`requires_job` whether a video must run as a job. PyAV is
imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import av


class UnreadableMedia(ValueError):
    """A file that cannot be read as the media it should be; the message names it."""


# Demuxers that present a still image as a one-frame "video".
_IMAGE_DEMUXERS = ("image2", "gif")
# The first bytes of still-image files (JPEG, PNG, GIF, BMP, TIFF): such a file is an image
# without asking PyAV, which keeps planning a pipeline of many images cheap. WebP is checked apart.
_IMAGE_SIGNATURES = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)

ASYNC_VIDEO_SECONDS = 10.0
"""The catalog: video processing is always asynchronous for files longer than this."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as read from its headers (frames counted if not recorded)."""

    frames: int
    fps: float
    width: int
    height: int
    codec: str
    audio: bool
    duration: float
    """Seconds of video."""


def open_video(path: Path) -> av.container.InputContainer:
    """Open ``path`` for decoding; raises UnreadableMedia if it is not a readable video."""
    import av

    try:
        container = av.open(str(path), "r")
    except FileNotFoundError:
        raise UnreadableMedia(f"{path.name}: no such file") from None
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise UnreadableMedia(f"{path.name} is not a readable video ({_reason(exc)})") from None
    if not container.streams.video or _is_still_image(container):
        container.close()
        raise UnreadableMedia(f"{path.name} is not a video: it holds no video stream")
    return container


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a video stream of moving pictures, judged by content, not by name.

    Still images (and GIFs, which FaceFusion treats as images too) are not videos; their first
    bytes tell, so PyAV is only imported for files that may be videos.
    """
    if _starts_like_an_image(path):
        return False
    import av

    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, ValueError, OSError):
        return False
    with container:
        return bool(container.streams.video) and not _is_still_image(container)


def requires_job(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a video longer than :data:`ASYNC_VIDEO_SECONDS`, which always runs as
    a job: the runner submits it as one and the server's synchronous routes refuse it.

    Images and unreadable files are not long videos here; the op itself reports what is wrong
    with them.
    """
    if not is_video(path):
        return False
    try:
        return probe(Path(path)).duration > ASYNC_VIDEO_SECONDS
    except UnreadableMedia:
        return False


def source_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The nominal frame rate of a video stream, exact where the container records one."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise UnreadableMedia("the video records no frame rate")
    return Fraction(rate)


def recorded_frames(stream: av.video.stream.VideoStream) -> int | None:
    """The frame count the container's headers promise, if they promise one.

    MP4 and MOV record it; Matroska and WebM record a duration (per track, or as a DURATION tag)
    from which it follows at the nominal rate.
    """
    if stream.frames:
        return stream.frames
    seconds: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif tag := stream.metadata.get("DURATION"):
        seconds = _parse_clock(tag)
    if seconds is None:
        return None
    return round(seconds * source_rate(stream))


def _parse_clock(text: str) -> float | None:
    """Seconds in an ``HH:MM:SS.fraction`` duration tag; None if it is not one."""
    parts = text.strip().split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


def probe(path: Path) -> VideoInfo:
    """Frames, rate, size, codec, audio and duration of the video at ``path``."""
    import av

    with open_video(path) as container:
        stream = container.streams.video[0]
        rate = source_rate(stream)
        frames = stream.frames or _count_packets(container, stream)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = float(frames / rate)
        return VideoInfo(
            frames=frames,
            fps=float(rate),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            codec=stream.codec_context.name,
            audio=bool(container.streams.audio),
            duration=duration,
        )


def _count_packets(container: av.container.InputContainer, stream: av.stream.Stream) -> int:
    import av

    try:
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as exc:
        raise UnreadableMedia(f"the video is damaged ({_reason(exc)})") from None


def _starts_like_an_image(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return head.startswith(_IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _is_still_image(container: av.container.InputContainer) -> bool:
    name = container.format.name
    return name in _IMAGE_DEMUXERS or name.endswith("_pipe")


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
