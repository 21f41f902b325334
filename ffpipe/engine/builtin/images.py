"""Reading and writing still images: the content decides the format, never the extension.

Everything is processed as 8-bit RGB. What the decoder found (grayscale, alpha, 16 bits per
channel) is kept beside the pixels so that :func:`compose` can write the result back in the same
layout: pixels an op did not change keep their exact original values (all 16 bits of them), an
alpha channel is carried over untouched, and changed pixels of a 16-bit image are written as the
8-bit result times 257 (so 255 becomes 65535).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ffpipe.engine.api import MediaError, UnsupportedError

MAX_PIXELS = 50_000_000
"""Largest image accepted (width x height), checked before decoding: 50 megapixels, above 8K UHD
(7680x4320 is 33 MP). Larger files are refused instead of exhausting memory."""

READABLE_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")
WRITERS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
_ALPHA_FORMATS = {"PNG", "TIFF", "WEBP"}
_DEEP_FORMATS = {"PNG", "TIFF"}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class DecodedImage:
    """An image as the engine works on it, plus what is needed to write it back faithfully."""

    rgb: np.ndarray
    """(H, W, 3) uint8, upright (EXIF orientation applied)."""
    original: np.ndarray
    """The decoded pixels in their own layout: (H, W) gray, (H, W, 3) BGR or (H, W, 4) BGRA,
    uint8 or uint16, upright."""
    format: str
    """Format found in the content, e.g. ``"JPEG"``."""

    @property
    def has_alpha(self) -> bool:
        return self.original.ndim == 3 and self.original.shape[2] == 4

    @property
    def is_gray(self) -> bool:
        return self.original.ndim == 2

    @property
    def bit_depth(self) -> int:
        return 16 if self.original.dtype == np.uint16 else 8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[1], self.rgb.shape[0]


def read_image(path: Path, *, max_pixels: int = MAX_PIXELS, role: str = "image") -> DecodedImage:
    """Decode ``path``; every problem is a :class:`MediaError` naming the file and ``role``."""
    from PIL import Image, UnidentifiedImageError

    label = f"{role} {path.name}"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MediaError(f"cannot read {label}: {error.strerror or error}") from None
    if not data:
        raise MediaError(f"{label} is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            found = probe.format or "unknown"
            width, height = probe.size
            if found not in READABLE_FORMATS:
                raise MediaError(
                    f"{label} is a {found} image; readable formats: {', '.join(READABLE_FORMATS)}"
                )
            _check_pixels(label, width, height, max_pixels)
            # Reading a PNG's EXIF may decode the whole file, so only after the size check.
            orientation = int(probe.getexif().get(_EXIF_ORIENTATION, 1))
            probe.load()
    except UnidentifiedImageError:
        raise MediaError(
            f"{label} is not an image (its content is no known image format)"
        ) from None
    except Image.DecompressionBombError as error:
        # Pillow refuses far larger images itself, before the size can be read.
        raise MediaError(
            f"{label} is far too large ({error}); the limit is {max_pixels / 1e6:g} megapixels"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise MediaError(f"{label} is truncated or corrupt: {error}") from None
    original = _decode_pixels(data, label)
    original = _apply_orientation(original, orientation)
    return DecodedImage(rgb=_to_rgb8(original), original=original, format=found)


def _check_pixels(label: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise MediaError(
            f"{label} is {width}x{height} ({width * height / 1e6:.1f} megapixels); the limit is "
            f"{max_pixels / 1e6:g} megapixels"
        )


def _decode_pixels(data: bytes, label: str) -> np.ndarray:
    import cv2

    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise MediaError(f"{label} could not be decoded")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.dtype not in (np.uint8, np.uint16):
        raise MediaError(f"{label} has {pixels.dtype} samples; 8- and 16-bit images are supported")
    if pixels.ndim == 3 and pixels.shape[2] not in (3, 4):
        raise MediaError(f"{label} has {pixels.shape[2]} channels; 1, 3 or 4 are supported")
    return np.ascontiguousarray(pixels)


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    # EXIF orientations 2-8 say how the stored pixels must be mirrored or turned to stand upright.
    upright = {
        2: lambda a: a[:, ::-1],
        3: lambda a: np.rot90(a, 2),
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1),
        8: lambda a: np.rot90(a, 1),
    }.get(orientation)
    return pixels if upright is None else np.ascontiguousarray(upright(pixels))


def _to_rgb8(pixels: np.ndarray) -> np.ndarray:
    import cv2

    eight = pixels if pixels.dtype == np.uint8 else _to_8bit(pixels)
    if eight.ndim == 2:
        return cv2.cvtColor(eight, cv2.COLOR_GRAY2RGB)
    if eight.shape[2] == 4:
        return cv2.cvtColor(eight, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(eight, cv2.COLOR_BGR2RGB)


def _to_8bit(pixels: np.ndarray) -> np.ndarray:
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def output_format(name: str) -> str:
    """The format written for an output file name, chosen by its extension."""
    suffix = Path(name).suffix.lower()
    if suffix not in WRITERS:
        raise UnsupportedError(
            f"cannot write {name!r}: image outputs end in {', '.join(sorted(WRITERS))}"
        )
    return WRITERS[suffix]


def compose(image: DecodedImage, processed_rgb: np.ndarray, fmt: str) -> np.ndarray:
    """Pixels to encode as ``fmt``: ``processed_rgb`` put back into the layout of ``image``.

    Only pixels that differ from ``image.rgb`` are replaced, so untouched pixels keep their
    original (possibly 16-bit) values; the alpha channel is kept where ``fmt`` can store it.
    """
    import cv2

    keep_alpha = image.has_alpha and fmt in _ALPHA_FORMATS
    deep = image.bit_depth == 16 and fmt in _DEEP_FORMATS
    base = image.original
    if not deep and base.dtype == np.uint16:
        base = _to_8bit(base)
    if image.is_gray:
        layout = cv2.cvtColor(processed_rgb, cv2.COLOR_RGB2GRAY)
    else:
        layout = cv2.cvtColor(processed_rgb, cv2.COLOR_RGB2BGR)
        if image.has_alpha:
            base = base if keep_alpha else base[:, :, :3]
    if deep:
        layout = layout.astype(np.uint16) * 257
    changed = np.any(processed_rgb != image.rgb, axis=2)
    result = np.array(base, copy=True)
    if result.ndim == 3 and result.shape[2] == 4:
        result[:, :, :3][changed] = layout[changed]
    else:
        result[changed] = layout[changed]
    return result


def resize_to(pixels: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """``pixels`` scaled to exactly (width, height): area averaging down, bicubic up."""
    import cv2

    width, height = resolution
    if (pixels.shape[1], pixels.shape[0]) == (width, height):
        return pixels
    shrinking = width * height < pixels.shape[0] * pixels.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(pixels, (width, height), interpolation=interpolation)


def encode(pixels: np.ndarray, fmt: str, quality: int) -> bytes:
    """Encode pixels in the layout made by :func:`compose`; ``quality`` applies to JPEG and WebP."""
    import cv2

    extension, options = {
        "JPEG": (".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality]),
        "WEBP": (".webp", [cv2.IMWRITE_WEBP_QUALITY, quality]),
        "PNG": (".png", [cv2.IMWRITE_PNG_COMPRESSION, 3]),
        "BMP": (".bmp", []),
        "TIFF": (".tif", []),
    }[fmt]
    ok, buffer = cv2.imencode(extension, pixels, options)
    if not ok:
        raise MediaError(f"could not encode the result as {fmt}")
    return buffer.tobytes()


def write_image(path: Path, pixels: np.ndarray, fmt: str, quality: int) -> None:
    """Encode and write atomically (temporary name, then rename)."""
    data = encode(pixels, fmt, quality)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
