"""Archives a server sends are unpacked within limits: a zip bomb is refused before writing."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ffpipe.backends.archives import unpack
from ffpipe.backends.base import BackendError


def _zeros_zip(path: Path, members: int, size: int) -> Path:
    chunk = b"\0" * size
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for index in range(members):
            bundle.writestr(f"frames/frame_{index:06d}.bmp", chunk)
    return path


def test_an_archive_unpacking_past_the_limit_is_refused_before_writing(tmp_path: Path) -> None:
    bomb = _zeros_zip(tmp_path / "bomb.zip", members=10, size=5_000_000)  # 50 MB in ~50 kB
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(BackendError, match="over the limit"):
        unpack(bomb, tmp_path / "out", max_bytes=20_000_000)
    assert not any((tmp_path / "out").rglob("*.bmp"))


def test_an_archive_within_the_limit_unpacks(tmp_path: Path) -> None:
    small = _zeros_zip(tmp_path / "small.zip", members=3, size=1000)
    folder = unpack(small, tmp_path / "out", max_bytes=20_000_000)
    assert sorted(path.name for path in folder.rglob("*.bmp")) == [
        "frame_000000.bmp",
        "frame_000001.bmp",
        "frame_000002.bmp",
    ]
