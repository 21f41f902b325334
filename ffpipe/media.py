"""What a media file is, judged by its content: its format, whether it is a video, and its basic
properties.

A bottom-layer module (it imports nothing else of ffpipe): the engine decodes with it, the runner
and the server use it to decide fusion and whether a video must run as a job, the server names
uploads by their content with it, and pipeline validation checks that an output's name agrees with
what it will hold. It is the one owner of these rules: :func:`is_video` (image or video) and
:func:`requires_job` (a video that must run as a job). PyAV is imported on first use, so importing
this module stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import av


class UnreadableMedia(ValueError):
    """A file that cannot be read as the media it should be; the message names it."""


# Demuxers that present a still image as a one-frame "video".
_IMAGE_DEMUXERS = ("image2", "gif")

ASYNC_VIDEO_SECONDS = 10.0
"""The catalog: video processing is always asynchronous for files longer than this."""

SNIFF_BYTES = 256
"""How much of a file's start :func:`sniff` needs (MPEG-TS shows in its second 188-byte packet)."""


@dataclass(frozen=True)
class MediaType:
    """A file format: its name, what kind of media it holds and the extensions that name it."""

    name: str
    """E.g. ``"PNG"``, ``"MP4"``, ``"WebM"``."""
    kind: Literal["image", "video", "data"]
    suffixes: tuple[str, ...]
    """Lower-case extensions with the dot, the usual one first."""

    @property
    def suffix(self) -> str:
        """The usual extension, e.g. ``".jpg"``."""
        return self.suffixes[0]


JPEG = MediaType("JPEG", "image", (".jpg", ".jpeg"))
PNG = MediaType("PNG", "image", (".png",))
BMP = MediaType("BMP", "image", (".bmp",))
TIFF = MediaType("TIFF", "image", (".tif", ".tiff"))
WEBP = MediaType("WebP", "image", (".webp",))
GIF = MediaType("GIF", "image", (".gif",))
HEIF = MediaType("HEIF", "image", (".heic", ".heif"))
AVIF = MediaType("AVIF", "image", (".avif",))
MP4 = MediaType("MP4", "video", (".mp4", ".m4v"))
MOV = MediaType("MOV", "video", (".mov", ".qt"))
MKV = MediaType("Matroska", "video", (".mkv",))
WEBM = MediaType("WebM", "video", (".webm",))
AVI = MediaType("AVI", "video", (".avi",))
FLV = MediaType("FLV", "video", (".flv",))
MPEG_TS = MediaType("MPEG-TS", "video", (".ts", ".m2ts", ".mts"))
MPEG_PS = MediaType("MPEG-PS", "video", (".mpg", ".mpeg", ".vob"))
ASF = MediaType("ASF", "video", (".wmv", ".asf"))
THREE_GP = MediaType("3GP", "video", (".3gp", ".3g2"))
JSON = MediaType("JSON", "data", (".json",))
ZIP = MediaType("ZIP", "data", (".zip",))

MEDIA_TYPES: tuple[MediaType, ...] = (
    JPEG, PNG, BMP, TIFF, WEBP, GIF, HEIF, AVIF,
    MP4, MOV, MKV, WEBM, AVI, FLV, MPEG_TS, MPEG_PS, ASF, THREE_GP,
    JSON, ZIP,
)  # fmt: skip
_BY_SUFFIX = {suffix: media for media in MEDIA_TYPES for suffix in media.suffixes}
# ISO base media brands (bytes 8-12 of an 'ftyp' box) that are not MP4 video.
_ISO_BRANDS = {
    b"qt  ": MOV,
    b"heic": HEIF,
    b"heix": HEIF,
    b"heim": HEIF,
    b"heis": HEIF,
    b"mif1": HEIF,
    b"msf1": HEIF,
    b"avif": AVIF,
    b"avis": AVIF,
    b"3gp4": THREE_GP,
    b"3gp5": THREE_GP,
    b"3gp6": THREE_GP,
    b"3g2a": THREE_GP,
}
# Top-level QuickTime atoms that may open a .mov written without an 'ftyp' box.
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
# Sizes of the BMP info headers (BITMAPCOREHEADER ... BITMAPV5HEADER).
_BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)


def sniff(head: bytes) -> MediaType | None:
    """The format of a file whose first bytes (:data:`SNIFF_BYTES` suffice) are ``head``.

    Images: JPEG, PNG, BMP, TIFF, WebP, GIF, HEIF, AVIF. Videos: MP4, MOV, Matroska, WebM, AVI,
    FLV, MPEG-TS, MPEG-PS, ASF/WMV, 3GP. None when the bytes are none of these.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return TIFF
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": WEBP, b"AVI ": AVI}.get(head[8:12])
    if head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return BMP
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _matroska(head)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _ISO_BRANDS.get(head[8:12], MP4)
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS:
        return MOV
    if head.startswith(b"FLV\x01"):
        return FLV
    if head.startswith(b"\x00\x00\x01\xba"):
        return MPEG_PS
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return ASF
    if head[:1] == b"G" and len(head) > 188 and head[188:189] == b"G":
        return MPEG_TS
    return None


def _matroska(head: bytes) -> MediaType:
    # The EBML header's DocType element (ID 0x4282) says "webm" or "matroska".
    at = head.find(b"\x42\x82")
    return WEBM if at >= 0 and b"webm" in head[at : at + 12] else MKV


def sniff_file(path: Path) -> MediaType | None:
    """The format of the file at ``path`` by its first bytes; None if unknown or unreadable."""
    try:
        with open(path, "rb") as stream:
            return sniff(stream.read(SNIFF_BYTES))
    except OSError:
        return None


def type_of_name(name: str) -> MediaType | None:
    """The format a file name's extension stands for; None for unknown or no extension."""
    return _BY_SUFFIX.get(PurePosixPath(name).suffix.lower())


def name_for(name: str, media: MediaType | None) -> str:
    """``name`` with an extension that agrees with ``media``: kept if it already does.

    A known extension of another format is replaced (``photo.jpg`` holding PNG is
    ``photo.png``); any other is kept and the extension added (``blob`` is ``blob.png``).
    """
    if media is None or PurePosixPath(name).suffix.lower() in media.suffixes:
        return name
    if type_of_name(name) is not None:
        return str(PurePosixPath(name).with_suffix(media.suffix))
    return name + media.suffix


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
    media = sniff_file(Path(path))
    return media is not None and media.kind == "image"


def _is_still_image(container: av.container.InputContainer) -> bool:
    name = container.format.name
    return name in _IMAGE_DEMUXERS or name.endswith("_pipe")


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
