"""One request through the common path: validation in the catalog's shape, the real engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ffpipe import media
from ffpipe.engine.api import EngineOutput
from ffpipe.engine.builtin import BuiltinEngine
from ffpipe.server.errors import RequestError
from ffpipe.server.execute import MANIFEST_KEY, execute, internal_error, validate
from ffpipe.server.in_use import InUse

MEDIA = Path(__file__).resolve().parent.parent / "media"


@pytest.fixture(scope="module")
def engine(builtin_engine: BuiltinEngine) -> BuiltinEngine:
    return builtin_engine


@pytest.fixture
def uploaded(tmp_path: Path) -> tuple[list[Path], Path]:
    uploads = tmp_path / "uploads"
    (uploads / "a").mkdir(parents=True)
    target = uploads / "a" / "astronaut.jpg"
    target.write_bytes((MEDIA / "astronaut.jpg").read_bytes())
    return [uploads, tmp_path / "outputs"], target


def test_detect_runs_and_reports_its_files(engine: BuiltinEngine, uploaded, tmp_path: Path) -> None:
    roots, target = uploaded
    outcome = execute(
        engine,
        "detect",
        {"target_media": {"path": str(target)}},
        roots=roots,
        output_dir=tmp_path / "outputs",
    )
    assert outcome.ordered_keys()[0] == "output"
    faces = json.loads(outcome.files["output"].read_text())
    assert faces
    document = outcome.result_with_manifest()
    assert document[MANIFEST_KEY] == [{"key": "output", "archive": False}]
    assert MANIFEST_KEY not in outcome.result


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"face_detector_score": 1.5}, "face_detector_score"),
        ({"face_mask_types": "box"}, "face_mask_types"),
        ({"output_path": "../escape.jpg"}, "bare file name"),
        ({"face_enhancer_model": "gfpgan_9"}, "face_enhancer_model"),
        ({"no_such_parameter": 1}, "no_such_parameter"),
    ],
)
def test_bad_values_are_errors_in_the_catalog_shape(uploaded, values, fragment: str) -> None:
    roots, target = uploaded
    with pytest.raises(RequestError) as caught:
        validate("enhance", {"target_media": {"path": str(target)}, **values}, roots)
    shape = caught.value.shape()
    assert set(shape) == {"error", "detail"}
    assert shape["error"] == "invalid parameters"
    assert fragment in shape["detail"]
    assert caught.value.status == 422


def test_a_file_outside_the_folders_is_forbidden(uploaded) -> None:
    roots, _ = uploaded
    with pytest.raises(RequestError) as caught:
        validate("detect", {"target_media": {"path": "/etc/passwd"}}, roots)
    assert caught.value.status == 403
    assert caught.value.error == "file not allowed"


def test_engine_errors_keep_their_message(engine: BuiltinEngine, uploaded, tmp_path: Path) -> None:
    roots, _ = uploaded
    blank = roots[0] / "a" / "noise.jpg"
    blank.write_bytes(b"not an image at all")
    with pytest.raises(RequestError) as caught:
        execute(
            engine,
            "detect",
            {"target_media": {"path": str(blank)}},
            roots=roots,
            output_dir=tmp_path / "outputs",
        )
    assert caught.value.status == 422
    assert caught.value.error.startswith("detect")
    assert caught.value.detail


def test_an_unknown_op_lists_the_endpoints(engine: BuiltinEngine, uploaded, tmp_path) -> None:
    roots, _ = uploaded
    with pytest.raises(RequestError, match="swap, enhance, edit"):
        execute(engine, "teleport", {}, roots=roots, output_dir=tmp_path)


def test_a_video_over_ten_seconds_must_be_a_job(
    engine: BuiltinEngine, uploaded, tmp_path, make_video
) -> None:
    roots, _ = uploaded
    long_clip = make_video(
        roots[0] / "a" / "long.mp4", width=64, height=48, fps=4, seconds=11, tone_hz=None
    )
    with pytest.raises(RequestError) as caught:
        execute(
            engine,
            "video",
            {"target_media": {"path": str(long_clip)}},
            roots=roots,
            output_dir=tmp_path / "outputs",
        )
    assert caught.value.error == "use a job"
    assert "/api/jobs" in caught.value.detail


def test_a_failed_request_leaves_no_output_folder(
    engine: BuiltinEngine, uploaded, tmp_path: Path
) -> None:
    roots, _ = uploaded
    blank = roots[0] / "a" / "blank.png"
    blank.write_bytes((MEDIA / "astronaut.jpg").read_bytes()[:100])
    output_dir = tmp_path / "outputs"
    with pytest.raises(RequestError):
        execute(
            engine,
            "enhance",
            {"target_media": {"path": str(blank)}},
            roots=roots,
            output_dir=output_dir,
        )
    assert list(output_dir.iterdir()) == []


def test_an_outcome_names_the_folder_holding_its_files(
    engine: BuiltinEngine, uploaded, tmp_path: Path
) -> None:
    roots, target = uploaded
    outcome = execute(
        engine,
        "detect",
        {"target_media": {"path": str(target)}},
        roots=roots,
        output_dir=tmp_path / "outputs",
    )
    assert outcome.folder.parent == tmp_path / "outputs"
    assert all(outcome.folder in path.parents for path in outcome.files.values())


class _BrokenEngine(BuiltinEngine):
    """The builtin engine with a fault planted in ``run`` (what a bug in an engine looks like):
    ``raise`` raises an exception naming a server path; ``empty`` writes nothing; ``stray``
    returns a file outside the request's folder (the input itself)."""

    def __init__(self, fault: str) -> None:
        super().__init__()
        self.fault = fault

    def run(self, op, params, context):
        if self.fault == "raise":
            raise KeyError(f"/srv/ffpipe/secret/{op}.state")
        if self.fault == "empty":
            return EngineOutput(files={}, result={"substitutions": []})
        return EngineOutput(files={"output": Path(params.target_media)}, result={})


@pytest.mark.parametrize("fault", ["raise", "empty", "stray"])
def test_an_engine_fault_is_an_internal_error_without_server_details(
    uploaded, tmp_path: Path, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    roots, target = uploaded
    with pytest.raises(RequestError) as caught:
        execute(
            _BrokenEngine(fault),
            "enhance",
            {"target_media": {"path": str(target)}},
            roots=roots,
            output_dir=tmp_path / "outputs",
        )
    assert caught.value.status == 500
    assert caught.value.shape() == internal_error("enhance").shape()
    assert "/srv" not in caught.value.detail and "KeyError" not in caught.value.detail
    assert str(tmp_path) not in caught.value.detail
    assert "enhance" in caplog.text, "the server log keeps what the caller is not told"
    assert list((tmp_path / "outputs").iterdir()) == []


def test_extract_frames_over_the_output_budget_is_refused_before_writing(
    engine: BuiltinEngine, tmp_path: Path
) -> None:
    from _video_support import make_video

    uploads = tmp_path / "uploads"
    (uploads / "a").mkdir(parents=True)
    clip = make_video(uploads / "a" / "clip.mp4", width=640, height=480, fps=24, seconds=2.0)
    outputs = tmp_path / "outputs"
    request = {"target_media": {"path": str(clip)}, "extract_frame_format": "bmp"}
    # 48 BMP frames of 640x480 and their zip: ~88 MB, over a 20 MB budget.
    with pytest.raises(RequestError) as refused:
        execute(
            engine,
            "extract_frames",
            request,
            roots=[uploads, outputs],
            output_dir=outputs,
            max_output_bytes=20_000_000,
        )
    assert refused.value.status == 413 and refused.value.error == "output too large"
    assert "limit of 20 MB" in refused.value.detail and "trim" in refused.value.detail
    assert not outputs.exists() or not any(outputs.rglob("*.bmp"))
    trimmed = {**request, "trim_frame_end": 4}
    outcome = execute(
        engine,
        "extract_frames",
        trimmed,
        roots=[uploads, outputs],
        output_dir=outputs,
        max_output_bytes=20_000_000,
    )
    assert outcome.result["frames"] == 4


def test_a_request_holds_its_inputs_while_its_video_is_probed(
    engine: BuiltinEngine, uploaded, tmp_path: Path, make_video, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probing a video (ffprobe) takes time a sweep may fall into. The probe is watched, not
    replaced: the spy notes whether the input is held, then runs the real one."""
    roots, _ = uploaded
    long_clip = make_video(
        roots[0] / "a" / "long.mp4", width=64, height=48, fps=4, seconds=11, tone_hz=None
    )
    in_use = InUse()
    held_while_probed: list[bool] = []
    real_requires_job = media.requires_job

    def watched(path: str | os.PathLike[str]) -> bool:
        held_while_probed.append(in_use.holds(Path(path)))
        return real_requires_job(path)

    monkeypatch.setattr(media, "requires_job", watched)
    with pytest.raises(RequestError, match="use a job"), in_use.claim() as claim:
        execute(
            engine,
            "video",
            {"target_media": {"path": str(long_clip)}},
            roots=roots,
            output_dir=tmp_path / "outputs",
            claim=claim,
        )
    assert held_while_probed == [True]
    assert not in_use.holds(long_clip)
