"""The lock file: written whole or not at all, read back or refused with a clear message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ffpipe.run.lockfile import LockFileError, read_lock, write_lock


def test_written_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "portrait.lock"
    write_lock(path, {"version": 1, "pipeline": "portrait", "params": {"age": 65}})
    assert read_lock(path) == {"version": 1, "pipeline": "portrait", "params": {"age": 65}}
    assert [p.name for p in tmp_path.iterdir()] == ["portrait.lock"]


def test_an_interrupted_write_keeps_the_old_lock_and_leaves_no_stray_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "portrait.lock"
    write_lock(path, {"version": 1, "pipeline": "portrait"})
    before = path.read_text()

    def ctrl_c(*_args: object) -> None:
        # Stands in for a Ctrl-C between writing the new lock and renaming it into place.
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        write_lock(path, {"version": 1, "pipeline": "changed"})
    assert [p.name for p in tmp_path.iterdir()] == ["portrait.lock"]
    assert path.read_text() == before


def test_no_lock_is_none_and_a_broken_one_an_error(tmp_path: Path) -> None:
    path = tmp_path / "portrait.lock"
    assert read_lock(path) is None
    path.write_text("- a list\n")
    with pytest.raises(LockFileError, match="not a mapping"):
        read_lock(path)
