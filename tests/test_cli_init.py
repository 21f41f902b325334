"""``ffpipe init``: a starter that validates, plans and runs, and leaves existing files alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from _remote_support import in_folder_main

from ffpipe.cli import main


@pytest.mark.slow
def test_starter_with_photos_validates_and_runs(
    tmp_path: Path, astronaut: Path, grace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "project"
    args = ["init", str(folder), "--source", str(grace), "--target", str(astronaut)]
    assert main(args) == 0
    ignored = [".ffpipe/", "out/", ".ffpipe-server/"]
    assert (folder / ".gitignore").read_text().splitlines()[-3:] == ignored
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"then: cd {folder} && ffpipe run portrait.yaml"
    assert "[cache]" in (folder / "ffpipe.toml").read_text()
    assert main(["validate", str(folder / "portrait.yaml")]) == 0
    assert in_folder_main(folder, "run", "portrait.yaml") == 0
    assert (folder / "out" / "portrait" / "portrait.jpg").stat().st_size > 0


def test_init_keeps_existing_files_and_adds_only_missing_ignore_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ffpipe.toml").write_text('[server]\nurl = "http://127.0.0.1:9"\n')
    (tmp_path / ".gitignore").write_text("out/\n*.pyc")
    assert main(["init", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "kept" in said and "media/source.jpg and media/target.jpg" in said
    assert (tmp_path / "ffpipe.toml").read_text() == '[server]\nurl = "http://127.0.0.1:9"\n'
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines.count("out/") == 1 and ".ffpipe/" in lines and "*.pyc" in lines
    assert ".ffpipe-server/" in lines
    assert main(["init", str(tmp_path)]) == 0  # twice: nothing more added
    assert (tmp_path / ".gitignore").read_text().splitlines() == lines
    # Until the photos are there, validation says exactly what is missing.
    assert main(["validate", str(tmp_path / "portrait.yaml")]) == 2
    assert "media/source.jpg' does not exist" in capsys.readouterr().err


def test_init_here_says_run_without_cd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert in_folder_main(tmp_path, "init") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "then: ffpipe run portrait.yaml"


def test_missing_photo_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path), "--source", str(tmp_path / "nope.jpg")]) == 2
    assert "no such file" in capsys.readouterr().err
