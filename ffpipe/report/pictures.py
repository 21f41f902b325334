"""Thumbnails for the report: a small JPEG of an image, a poster frame and a looping preview
(an animated WebP) of a video, made with Pillow and PyAV. Every picture is named after the
digest of what it shows, so a file seen by several steps is drawn once."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageOps

from ffpipe import media

THUMB_SIDE = 320
PREVIEW_SIDE = 240
PREVIEW_FRAMES = 12
PREVIEW_FRAME_MS = 150
MAX_THUMBNAIL_SOURCE_PIXELS = 50_000_000
"""Largest image decoded for a thumbnail (after JPEG's reduced decoding): about 150 MB of RGB."""


@dataclass(frozen=True)
class Picture:
    """What the page shows of one file, paths relative to the report folder."""

    kind: str
    """``image``, ``video``, ``folder`` or ``data`` (no picture, only the link)."""
    poster: str | None = None
    preview: str | None = None
    note: str = ""
    """Why there is no picture when one was expected (an image too large to shrink)."""


class Pictures:
    """Makes (once) the thumbnails of files into ``folder`` (the report's ``thumbs/``)."""

    def __init__(self, report_dir: Path, folder: str = "thumbs") -> None:
        self.report_dir = report_dir
        self.folder = folder
        (report_dir / folder).mkdir(parents=True, exist_ok=True)
        self._made: dict[str, Picture] = {}

    def of(self, path: Path) -> Picture:
        """The picture of ``path``: a file, or a folder (its first image stands for it)."""
        if path.is_dir():
            first = next((f for f in sorted(path.rglob("*")) if _is_image(f)), None)
            inner = self.of(first) if first is not None else Picture("folder")
            return Picture("folder", inner.poster, inner.preview)
        name = _tag(path)
        if name not in self._made:
            self._made[name] = self._make(path, name)
        return self._made[name]

    def _make(self, path: Path, name: str) -> Picture:
        kind = media.sniff_file(path)
        try:
            if kind is not None and kind.kind == "image":
                return self._image(path, name)
            if kind is not None and kind.kind == "video":
                return self._video(path, name)
        except (OSError, ValueError, av.FFmpegError):
            return Picture("data")
        return Picture("data")

    def with_boxes(
        self, image_path: Path, boxes: list[list[float]], size: tuple[int, int]
    ) -> Picture:
        """A thumbnail of ``image_path`` with ``boxes`` (left, top, right, bottom in an image of
        ``size``, as a detect step reports them) drawn on it and numbered."""
        name = f"{_tag(image_path)}-faces-{_boxes_tag(boxes)}"
        if name in self._made:
            return self._made[name]
        try:
            with Image.open(image_path) as image:
                picture = ImageOps.exif_transpose(image).convert("RGB")
        except (OSError, ValueError):
            return Picture("data")
        picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
        scale_x = picture.width / max(size[0], 1)
        scale_y = picture.height / max(size[1], 1)
        draw = ImageDraw.Draw(picture)
        for number, (left, top, right, bottom) in enumerate(boxes):
            corners = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
            draw.rectangle(corners, outline=(0, 230, 118), width=2)
            draw.text((corners[0] + 3, corners[1] + 2), str(number), fill=(0, 230, 118))
        file_name = f"{name}.jpg"
        picture.save(self.report_dir / self.folder / file_name, quality=80)
        self._made[name] = Picture("image", self._relative(file_name))
        return self._made[name]

    def _relative(self, file_name: str) -> str:
        return f"{self.folder}/{file_name}"

    def _image(self, path: Path, name: str) -> Picture:
        try:
            with warnings.catch_warnings():
                # The size is checked below, before anything is decoded.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    # JPEG decodes at 1/2 to 1/8 scale when asked: a huge photo still gets one.
                    image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
                    width, height = image.size
                    if width * height > MAX_THUMBNAIL_SOURCE_PIXELS:
                        return _too_large(f"{width}x{height}")
                    picture = ImageOps.exif_transpose(image).convert("RGB")
        except Image.DecompressionBombError:
            return _too_large("over Pillow's decoding limit")
        picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
        file_name = f"{name}.jpg"
        picture.save(self.report_dir / self.folder / file_name, quality=80)
        return Picture("image", self._relative(file_name))

    def _video(self, path: Path, name: str) -> Picture:
        frames = _sample_frames(path, PREVIEW_FRAMES)
        if not frames:
            return Picture("video")
        poster = frames[0].copy()
        poster.thumbnail((THUMB_SIDE, THUMB_SIDE))
        poster_name, preview_name = f"{name}.jpg", f"{name}.webp"
        poster.save(self.report_dir / self.folder / poster_name, quality=80)
        for frame in frames:
            frame.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        frames[0].save(
            self.report_dir / self.folder / preview_name,
            save_all=True,
            append_images=frames[1:],
            duration=PREVIEW_FRAME_MS,
            loop=0,
            quality=70,
        )
        return Picture("video", self._relative(poster_name), self._relative(preview_name))


PREVIEW_SPAN = 120
"""Frames looked at for the preview: its first few seconds, never a whole long video."""


def _sample_frames(path: Path, count: int) -> list[Image.Image]:
    """``count`` frames spread evenly over the video's start, already shrunk to thumbnails."""
    decoded: list[Image.Image] = []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            image = frame.to_image()
            image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            decoded.append(image)
            if len(decoded) >= PREVIEW_SPAN:
                break
    if len(decoded) <= count:
        return decoded
    step = len(decoded) / count
    return [decoded[int(index * step)] for index in range(count)]


def _too_large(size: str) -> Picture:
    return Picture("image", note=f"(no thumbnail: the image is too large to shrink, {size})")


def _is_image(path: Path) -> bool:
    kind = media.type_of_name(path.name)
    return path.is_file() and kind is not None and kind.kind == "image"


def _boxes_tag(boxes: list[list[float]]) -> str:
    return hashlib.sha256(repr(boxes).encode()).hexdigest()[:8]


def _tag(path: Path) -> str:
    """A short content digest of a file, the name of its thumbnails."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]
