"""``ffpipe run``/``plan --engine facefusion``: the local backend on FaceFusion 3.8.1, in-process.

The cache key of a step holds the .hash of every FaceFusion model file the step uses, so
replacing one model re-runs exactly the steps that used it. Skipped without FFPIPE_FACEFUSION and
FFPIPE_FACEFUSION_PYTHON (tests/_facefusion_support.py).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from _facefusion_support import FaceFusionInstall, session_facefusion
from _pipeline_support import write_pipeline
from _run_support import copy_photos

from ffpipe.cli import main

pytestmark = pytest.mark.slow  # every test here runs FaceFusion in its own process

PIPELINE = """
    version: 1
    name: two
    inputs: {source: grace.jpg, target: astronaut.jpg}
    steps:
      swap:
        uses: swap
        with: {source_face: "{{ inputs.source }}", target_media: "{{ inputs.target }}"}
      enhance:
        uses: enhance
        with: {target_media: "{{ inputs.target }}", face_enhancer_model: gfpgan_1.4}
      pick:
        uses: enhance
        with: {target_media: "{{ inputs.target }}", target_face_index: 0}
    outputs:
      swapped: "{{ steps.swap.output }}"
      enhanced: "{{ steps.enhance.output }}"
"""


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


@pytest.fixture
def replaced_enhancer(facefusion: FaceFusionInstall) -> Iterator[Path]:
    """gfpgan_1.4 of the session's copy, put back as it was after the test (see _replace)."""
    model = facefusion.models / "gfpgan_1.4.onnx"
    hash_file = model.with_suffix(".hash")
    original, original_hash = model.read_bytes(), hash_file.read_text()
    yield model
    model.write_bytes(original)
    hash_file.write_text(original_hash)


def _replace(model: Path) -> None:
    """Replace ``model`` by one computing the same with other bytes, and its .hash.

    An ONNX model is a protobuf message: appended bytes of field 6 (doc_string) make a valid
    model that differs only in its documentation.
    """
    note = b"replaced by a test"
    data = model.read_bytes() + b"\x32" + bytes([len(note)]) + note
    model.write_bytes(data)
    model.with_suffix(".hash").write_text(format(zlib.crc32(data), "08x"))


def _run(folder: Path, facefusion: FaceFusionInstall, capsys: pytest.CaptureFixture[str]) -> dict:
    code = main(
        [
            "run",
            str(folder / "pipe.yaml"),
            "--workspace",
            str(folder / ".ffpipe"),
            "--out",
            str(folder / "out"),
            "--no-lock",
            "--json",
            "--engine",
            "facefusion",
            "--facefusion",
            str(facefusion.root),
            "--facefusion-python",
            str(facefusion.python),
        ]
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert code == 0, events
    return {
        "ran": sorted(e["step"] for e in events if e["event"] == "step_done"),
        "cached": sorted(e["step"] for e in events if e["event"] == "step_cached"),
    }


def _plan(folder: Path, facefusion: FaceFusionInstall, capsys: pytest.CaptureFixture[str]) -> dict:
    code = main(
        [
            "plan",
            str(folder / "pipe.yaml"),
            "--workspace",
            str(folder / ".ffpipe"),
            "--json",
            "--engine",
            "facefusion",
            "--facefusion",
            str(facefusion.root),
            "--facefusion-python",
            str(facefusion.python),
        ]
    )
    stages = json.loads(capsys.readouterr().out)
    assert code == 0
    return {step["id"]: step for stage in stages for step in stage}


def test_replacing_a_model_reruns_exactly_the_steps_that_use_it(
    facefusion: FaceFusionInstall,
    replaced_enhancer: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, PIPELINE)
    assert _run(tmp_path, facefusion, capsys) == {"ran": ["enhance", "pick", "swap"], "cached": []}
    assert _run(tmp_path, facefusion, capsys) == {"ran": [], "cached": ["enhance", "pick", "swap"]}
    _replace(replaced_enhancer)
    plan = _plan(tmp_path, facefusion, capsys)
    assert plan["swap"]["status"] == "cached"
    assert "model gfpgan_1.4 replaced" in plan["enhance"]["status"]
    assert any(note.startswith("emulated: target_face_index") for note in plan["pick"]["notes"])
    # Both enhance steps use gfpgan_1.4 (the catalog default); the swap does not.
    assert _run(tmp_path, facefusion, capsys) == {"ran": ["enhance", "pick"], "cached": ["swap"]}
    assert (tmp_path / "out" / "two").is_dir()


FUSED = """
    version: 1
    name: fused
    inputs: {source: grace.jpg, clip: clip.mp4}
    steps:
      swap:
        uses: swap
        with: {source_face: "{{ inputs.source }}", target_media: "{{ inputs.clip }}"}
      enhance:
        uses: enhance
        with: {target_media: "{{ steps.swap.output }}"}
    outputs:
      video: "{{ steps.enhance.output }}"
"""


def test_fused_video_steps_run_as_one_facefusion_pass(
    facefusion: FaceFusionInstall, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from _video_support import make_video

    copy_photos(tmp_path)
    make_video(tmp_path / "clip.mp4", fps=10, seconds=0.8)
    write_pipeline(tmp_path, FUSED)
    events = _run(tmp_path, facefusion, capsys)
    assert events["ran"] == ["swap+enhance"]
    record = next((tmp_path / ".ffpipe" / "runs").glob("*/run.json"))
    steps = json.loads(record.read_text())["steps"]
    assert steps["swap"]["fused_into"] == "swap+enhance"
    assert steps["enhance"]["fused"] == ["swap", "enhance"]
    assert (tmp_path / "out" / "fused").is_dir()


def test_a_bad_install_is_one_message_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, PIPELINE)
    code = main(
        [
            "run",
            str(tmp_path / "pipe.yaml"),
            "--engine",
            "facefusion",
            "--facefusion",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "is not a FaceFusion checkout" in capsys.readouterr().err
