"""A catalog-valid huge output (16384x16384) gets a report entry with a note, never a crash."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

from ffpipe.report.pictures import Pictures

SIDE = 16384  # the catalog's largest side


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _huge_grey_png(path: Path, side: int) -> None:
    """A ``side`` x ``side`` grey PNG written row by row (never held in memory as pixels)."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * side
    with path.open("wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header))
        for _ in range(side):
            compressed = packer.compress(row)
            if compressed:
                file.write(_chunk(b"IDAT", compressed))
        file.write(_chunk(b"IDAT", packer.flush()) + _chunk(b"IEND", b""))


def test_a_huge_image_gets_a_note_instead_of_a_thumbnail(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    _huge_grey_png(huge, SIDE)
    with huge.open("rb") as raw:  # the PNG header says the catalog's largest size
        assert struct.unpack(">II", raw.read(24)[16:24]) == (SIDE, SIDE)
    picture = Pictures(tmp_path / "report").of(huge)
    assert picture.poster is None
    assert "too large" in picture.note


def test_ordinary_images_still_get_thumbnails(tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    _huge_grey_png(small, 600)
    picture = Pictures(tmp_path / "report").of(small)
    assert picture.poster is not None and picture.note == ""
    with Image.open(tmp_path / "report" / picture.poster) as thumb:
        assert max(thumb.size) == 320
