"""An input file its op cannot read is refused when the pipeline is loaded (``validate``), at its
``with:`` line, instead of failing when the step starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _pipeline_support import MEDIA, write_pipeline

from ffpipe.cli import main
from ffpipe.pipeline import PipelineErrors, load_pipeline

PIPELINE = """
    version: 1
    matrix:
      photo: [{photos}]
    steps:
      look:
        uses: {op}
        with:
          target_media: "{{{{ matrix.photo }}}}"
"""


def _errors(folder: Path, op: str, *photos: str) -> list[str]:
    text = PIPELINE.format(op=op, photos=", ".join(photos))
    try:
        load_pipeline(write_pipeline(folder, text))
    except PipelineErrors as failure:
        return [str(error) for error in failure.errors]
    return []


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copyfile(MEDIA / "astronaut.jpg", tmp_path / "astronaut.jpg")
    shutil.copyfile(MEDIA / "clip.mp4", tmp_path / "clip.mp4")
    # A text file and a truncated photo with an image's name: made from the samples in code.
    (tmp_path / "notes.jpg").write_text("not a picture\n")
    (tmp_path / "empty.png").write_bytes(b"")
    return tmp_path


def test_a_file_that_is_no_image_is_refused_at_its_line(folder: Path) -> None:
    [error] = _errors(folder, "edit", "astronaut.jpg", "notes.jpg")
    assert error.startswith(f"{folder / 'pipe.yaml'}:8:7: steps.look.with.target_media: ")
    assert "notes.jpg is neither an image nor a video" in error


def test_every_bad_file_of_a_matrix_is_named(folder: Path) -> None:
    errors = _errors(folder, "enhance", "notes.jpg", "empty.png", "astronaut.jpg")
    assert len(errors) == 2
    assert "notes.jpg" in errors[0] and "empty.png" in errors[1]


def test_kind_must_fit_the_op(folder: Path) -> None:
    [video_to_detect] = _errors(folder, "detect", "clip.mp4")
    assert "clip.mp4 is a video (MP4); detect works on images only" in video_to_detect
    [image_to_video] = _errors(folder, "video", "astronaut.jpg")
    assert "astronaut.jpg is an image (JPEG); video needs a video" in image_to_video
    assert _errors(folder, "edit", "astronaut.jpg", "clip.mp4") == []


def test_validate_exits_2_with_the_location(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_pipeline(folder, PIPELINE.format(op="swap", photos="notes.jpg"))
    monkeypatch.chdir(folder)
    assert main(["validate", "pipe.yaml"]) == 2
    assert "pipe.yaml:8:7: steps.look.with.target_media: notes.jpg is neither" in (
        capsys.readouterr().err
    )
