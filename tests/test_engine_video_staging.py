"""Results appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.engine.builtin.video.staging import staged


def test_file_appears_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "out.mp4"
    with staged(final) as temporary:
        temporary.write_bytes(b"video")
        assert not final.exists() and temporary.parent == tmp_path
    assert final.read_bytes() == b"video"
    assert [path.name for path in tmp_path.iterdir()] == ["out.mp4"]


def test_failure_removes_the_partial_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    final = tmp_path / "out.mp4"
    final.write_bytes(b"old")
    with pytest.raises(KeyError), staged(final) as temporary:
        temporary.write_bytes(b"half")
        raise KeyError("frame")
    assert final.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["out.mp4"]


def test_directories_replace_a_previous_result(tmp_path: Path) -> None:
    final = tmp_path / "frames"
    final.mkdir()
    (final / "stale.png").write_bytes(b"x")
    with staged(final, directory=True) as temporary:
        (temporary / "frame_000000.png").write_bytes(b"y")
    assert [path.name for path in final.iterdir()] == ["frame_000000.png"]
    with pytest.raises(RuntimeError), staged(final, directory=True) as temporary:
        (temporary / "frame_000000.png").write_bytes(b"z")
        raise RuntimeError
    assert [path.name for path in tmp_path.iterdir()] == ["frames"]
