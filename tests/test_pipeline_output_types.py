"""An output's name agrees with what it will hold: refused at validation, located, or PNG bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _pipeline_support import MEDIA, write_pipeline

from ffpipe.cli import main
from ffpipe.media import PNG, sniff_file
from ffpipe.pipeline import PipelineErrors, load_pipeline


def _errors(folder: Path, text: str) -> list[str]:
    try:
        load_pipeline(write_pipeline(folder, text, photos=True))
    except PipelineErrors as failure:
        return [str(error) for error in failure.errors]
    return []


EDIT = """
    version: 1
    inputs: {{target: astronaut.jpg}}
    steps:
      older:
        uses: edit
        with: {{target_media: "{{{{ inputs.target }}}}", face_editor_age: 70{extra}}}
    outputs:
      {name}: "{{{{ steps.older.output }}}}"
"""


def test_a_png_name_for_a_step_writing_jpeg_is_refused_where_it_is_written(
    tmp_path: Path,
) -> None:
    [error] = _errors(tmp_path, EDIT.format(name="result.png", extra=""))
    assert error.startswith(f"{tmp_path / 'pipe.yaml'}:8:3: outputs.result.png: ")
    assert "named as PNG but will hold JPEG" in error
    assert "astronaut.jpg" in error
    assert "'result.jpg'" in error and "steps.older output_path: result.png" in error


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("result.jpg", ""),
        ("result", ""),  # the runner gives it the artifact's extension
        ("result.png", ", output_path: result.png"),
        ("notes.txt", ""),  # no known format: nothing to compare
    ],
)
def test_names_that_agree_pass(tmp_path: Path, name: str, extra: str) -> None:
    assert _errors(tmp_path, EDIT.format(name=name, extra=extra)) == []


def test_an_mp4_name_for_a_webm_output_path_is_refused(tmp_path: Path) -> None:
    shutil.copyfile(MEDIA / "clip.mp4", tmp_path / "clip.mp4")
    [error] = _errors(
        tmp_path,
        """
        version: 1
        steps:
          recode:
            uses: video
            with:
              target_media: clip.mp4
              output_video_encoder: libvpx-vp9
              output_path: x.webm
        outputs:
          x.mp4: "{{ steps.recode.output }}"
        """,
    )
    assert ":10:3: outputs.x.mp4: output 'x.mp4' is named as MP4 but will hold WebM" in error
    assert "steps.recode writes x.webm" in error


def test_the_format_is_followed_through_a_chain_of_steps(tmp_path: Path) -> None:
    chain = """
        version: 1
        inputs: {{source: grace_hopper.jpg, target: astronaut.jpg}}
        steps:
          swap:
            uses: swap
            with:
              source_face: "{{{{ inputs.source }}}}"
              target_media: "{{{{ inputs.target }}}}"
              output_path: swapped.png
          enhance:
            uses: enhance
            with: {{target_media: "{{{{ steps.swap.output }}}}"}}
        outputs:
          final.{suffix}: "{{{{ steps.enhance.output }}}}"
    """
    assert _errors(tmp_path, chain.format(suffix="png")) == []
    [error] = _errors(tmp_path, chain.format(suffix="webp"))
    assert "outputs.final.webp" in error and "will hold PNG" in error
    assert "steps.swap writes swapped.png" in error


def test_a_video_step_cannot_feed_an_image_name(tmp_path: Path) -> None:
    shutil.copyfile(MEDIA / "clip.mp4", tmp_path / "clip.mp4")
    [error] = _errors(
        tmp_path,
        """
        version: 1
        steps:
          recode: {uses: video, with: {target_media: clip.mp4}}
        outputs:
          still.jpg: "{{ steps.recode.output }}"
        """,
    )
    assert "named as JPEG but will hold a video" in error


def test_detect_writes_json_and_a_copied_input_keeps_its_format(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """
        version: 1
        inputs: {target: astronaut.jpg}
        steps:
          found: {uses: detect, with: {target_media: "{{ inputs.target }}"}}
        outputs:
          faces.json: "{{ steps.found.output }}"
          faces.png: "{{ steps.found.output }}"
          original.jpg: "{{ inputs.target }}"
          original.png: "{{ inputs.target }}"
        """,
    )
    assert len(errors) == 2
    assert "outputs.faces.png: output 'faces.png' is named as PNG but will hold JSON" in errors[0]
    assert (
        "outputs.original.png: output 'original.png' is named as PNG but will hold JPEG"
        in (errors[1])
    )


def test_a_png_named_output_holds_png_bytes(tmp_path: Path) -> None:
    pipeline = write_pipeline(
        tmp_path, EDIT.format(name="result.png", extra=", output_path: result.png"), photos=True
    )
    code = main(
        [
            "run",
            str(pipeline),
            "--workspace",
            str(tmp_path / "ws"),
            "--out",
            str(tmp_path / "out"),
            "--no-lock",
        ]
    )
    assert code == 0
    [result] = (tmp_path / "out").rglob("result.png")
    assert sniff_file(result) == PNG
