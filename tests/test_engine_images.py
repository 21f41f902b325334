"""Image decoding and writing: the content decides, bad files fail clearly, layouts survive."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from ffpipe.engine.api import MediaError, UnsupportedError
from ffpipe.engine.builtin.images import compose, encode, output_format, read_image, resize_to

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


def _png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose header is rewritten to claim a huge size."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def test_zero_byte_file_is_refused(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.jpg is empty \(0 bytes\)"):
        read_image(path, role="target_media")


def test_truncated_jpeg_is_refused(tmp_path):
    data = ASTRONAUT.read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"cut\.jpg is truncated or corrupt"):
        read_image(path)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels\n")
    with pytest.raises(MediaError, match=r"notes\.png is not an image"):
        read_image(path)


def test_mislabelled_file_is_read_by_its_content(tmp_path, photo):
    path = tmp_path / "really_a_png.jpg"
    cv2.imwrite(str(tmp_path / "x.png"), cv2.cvtColor(photo(ASTRONAUT), cv2.COLOR_RGB2BGR))
    path.write_bytes((tmp_path / "x.png").read_bytes())
    image = read_image(path)
    assert image.format == "PNG"
    assert np.array_equal(image.rgb, photo(ASTRONAUT))


def test_unsupported_image_format_is_named(tmp_path):
    path = tmp_path / "anim.gif"
    Image.new("RGB", (8, 8)).save(path, "GIF")
    with pytest.raises(MediaError, match="is a GIF image"):
        read_image(path)


def test_grayscale_is_read_as_rgb_and_written_back_gray(tmp_path, photo):
    gray = cv2.cvtColor(photo(ASTRONAUT), cv2.COLOR_RGB2GRAY)
    path = tmp_path / "gray.png"
    cv2.imwrite(str(path), gray)
    image = read_image(path)
    assert image.is_gray and image.rgb.shape == (512, 512, 3)
    assert np.array_equal(image.rgb[:, :, 0], gray)
    changed = image.rgb.copy()
    changed[10:20, 10:20] = (200, 10, 10)
    out = compose(image, changed, "PNG")
    assert out.ndim == 2
    assert np.array_equal(out[30:], gray[30:])
    assert not np.array_equal(out[10:20, 10:20], gray[10:20, 10:20])


def test_rgba_alpha_is_kept_untouched(tmp_path, photo):
    rgba = cv2.cvtColor(photo(ASTRONAUT), cv2.COLOR_RGB2BGRA)
    rgba[:, :, 3] = np.tile(np.arange(512, dtype=np.uint16) // 2, (512, 1)).astype(np.uint8)
    path = tmp_path / "alpha.png"
    cv2.imwrite(str(path), rgba)
    image = read_image(path)
    assert image.has_alpha
    changed = image.rgb.copy()
    changed[100:200, 100:200] = 0
    out = compose(image, changed, "PNG")
    assert np.array_equal(out[:, :, 3], rgba[:, :, 3])
    assert np.all(out[100:200, 100:200, :3] == 0)
    assert compose(image, changed, "JPEG").shape == (512, 512, 3)


def test_sixteen_bit_keeps_untouched_pixels_exact(tmp_path):
    rng = np.random.default_rng(7)
    deep = rng.integers(0, 65536, size=(40, 50, 3), dtype=np.uint16)
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), deep)
    image = read_image(path)
    assert image.bit_depth == 16
    assert np.array_equal(image.rgb[:, :, ::-1], ((deep.astype(np.uint32) + 128) // 257))
    changed = image.rgb.copy()
    changed[0:5, 0:5] = (255, 0, 128)
    out = compose(image, changed, "PNG")
    assert out.dtype == np.uint16
    assert np.array_equal(out[5:], deep[5:])
    assert tuple(out[0, 0]) == (128 * 257, 0, 65535)
    assert compose(image, changed, "JPEG").dtype == np.uint8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 256, size=(6, 10, 3), dtype=np.uint8)
    picture = Image.fromarray(pixels)
    exif = picture.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.png"
    picture.save(path, "PNG", exif=exif)
    expected = np.array(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(read_image(path).rgb, expected)


def test_images_above_the_pixel_limit_are_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_claiming(10000, 6000))
    with pytest.raises(MediaError, match=r"10000x6000 \(60\.0 megapixels\); the limit is 50"):
        read_image(path)
    path.write_bytes(_png_claiming(30000, 20000))
    with pytest.raises(MediaError, match=r"huge\.png is far too large .*the limit is 50"):
        read_image(path)
    with pytest.raises(MediaError, match=r"the limit is 0\.1 megapixels"):
        read_image(ASTRONAUT, max_pixels=100_000)


def test_output_format_follows_the_extension():
    assert output_format("a.JPG") == "JPEG"
    assert output_format("a.webp") == "WEBP"
    assert output_format("a.tiff") == "TIFF"
    with pytest.raises(UnsupportedError, match="image outputs end in"):
        output_format("a.gif")


def test_jpeg_quality_changes_the_size_and_encoding_is_deterministic(photo):
    pixels = cv2.cvtColor(photo(ASTRONAUT), cv2.COLOR_RGB2BGR)
    assert len(encode(pixels, "JPEG", 30)) < len(encode(pixels, "JPEG", 95))
    assert encode(pixels, "PNG", 90) == encode(pixels, "PNG", 90)


def test_resize_to_gives_the_exact_size(photo):
    assert resize_to(photo(ASTRONAUT), (300, 200)).shape == (200, 300, 3)
    assert resize_to(photo(ASTRONAUT), (512, 512)) is photo(ASTRONAUT)


def test_unreadable_path_is_a_media_error(tmp_path):
    with pytest.raises(MediaError, match="cannot read"):
        read_image(Path(tmp_path / "missing.jpg"))
