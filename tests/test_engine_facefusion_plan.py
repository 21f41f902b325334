"""``plan_request``: every FaceFusion pass, note and model file of a request, decided before the
worker runs any of it (pure: no FaceFusion needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ffpipe.catalog import OPS
from ffpipe.engine.api import EngineError, FaceNotFoundError, UnsupportedError
from ffpipe.engine.facefusion import arguments as ff_args

FACE = {"box": [100.0, 80.0, 200.0, 200.0], "age": [30, 39], "embedding": [1.0, 0.0]}
IMAGE = ff_args.Target(is_video=False, width=640, height=480, faces=[FACE])
VIDEO = ff_args.Target(is_video=True, width=640, height=360, faces=[FACE], reference_frame=3)
OUT = Path("/out")
SCRATCH = Path("/scratch")


def params(op: str, target: str = "/in/target.jpg", **values: Any) -> Any:
    values.setdefault("target_media", target)
    if op == "swap":
        values.setdefault("source_face", "/in/source.jpg")
    return OPS[op].params.model_validate(values)


def test_an_edit_to_blend_runs_as_its_own_pass_between_the_others() -> None:
    asked = params("process", processors=["enhance", "edit", "enhance"], face_editor_blend=0.5)
    request = ff_args.plan_request("process", asked, IMAGE, out_dir=OUT, scratch=SCRATCH)
    assert [made.call.processors for made in request.passes] == [
        ["face_enhancer"],
        ["face_editor"],
        ["face_enhancer"],
    ]
    first, edit, last = request.passes
    assert first.reads == "/in/target.jpg" and first.blended is None
    # The edit reads what the first pass wrote; the next pass reads the edit blended with it.
    assert edit.reads == str(first.writes)
    assert edit.blended == SCRATCH / "blended.jpg"
    assert last.reads == str(edit.blended)
    assert request.output == OUT / "target.jpg"
    assert any(note.startswith("face_editor_blend 0.5") for note in request.notes)
    assert request.runs == [made.call.argv for made in request.passes]
    assert set(request.files) >= {name for made in request.passes for name in made.call.files}


def test_a_video_runs_in_one_pass_straight_into_the_output() -> None:
    asked = params("enhance", "/in/clip.mp4", output_path="clip_out.mp4")
    request = ff_args.plan_request("enhance", asked, VIDEO, out_dir=OUT)
    (only,) = request.passes
    assert only.writes == OUT / "clip_out.mp4"
    assert only.call.argv[only.call.argv.index("-o") + 1] == "/out/clip_out.mp4"


def test_a_video_output_in_another_container_is_refused() -> None:
    asked = params("video", "/in/clip.mp4", output_path="clip.webm")
    with pytest.raises(UnsupportedError, match="FaceFusion writes a video in its target's"):
        ff_args.plan_request("video", asked, VIDEO, out_dir=OUT)


def test_an_output_over_the_target_is_refused(tmp_path: Path) -> None:
    asked = params("enhance", str(tmp_path / "target.jpg"))
    with pytest.raises(EngineError, match="would overwrite the target"):
        ff_args.plan_request("enhance", asked, IMAGE, out_dir=tmp_path, scratch=SCRATCH)


def test_an_image_converted_to_another_format_is_said() -> None:
    asked = params("enhance", output_path="result.png")
    request = ff_args.plan_request("enhance", asked, IMAGE, out_dir=OUT, scratch=SCRATCH)
    assert request.notes[-1] == "output_path result.png: FaceFusion wrote .jpg; converted to .png"


def test_detect_and_extract_frames_are_named_by_the_catalog() -> None:
    detect = ff_args.plan_request("detect", params("detect"), IMAGE, out_dir=OUT)
    assert detect.output == OUT / "faces.json"
    assert detect.analysis[0] == "headless-run" and detect.runs == []
    with pytest.raises(UnsupportedError, match=r"must end in \.json"):
        ff_args.plan_request("detect", params("detect", output_path="f.png"), IMAGE, out_dir=OUT)
    frames = ff_args.plan_request(
        "extract_frames", params("extract_frames", "/in/clip.mp4"), VIDEO, out_dir=OUT
    )
    assert frames.output == OUT / "clip_frames"
    assert frames.runs == [frames.extraction] and frames.files == []
    assert frames.notes[-1].startswith("extract_frames: FaceFusion's own frame extraction")


def test_the_reference_face_must_be_among_the_faces_found() -> None:
    ff_args.check_faces(params("enhance"), [FACE], "target_media target.jpg")
    with pytest.raises(FaceNotFoundError, match="finds no face in target_media"):
        ff_args.check_faces(params("enhance"), [], "target_media target.jpg")
    with pytest.raises(FaceNotFoundError, match=r"index 1 was requested \(target_face_index\)"):
        ff_args.check_faces(params("enhance", target_face_index=1), [FACE], "target_media x")
