"""The facefusion engine on FaceFusion 3.8.1's real, unmodified code, offline, in-process.

FaceFusion runs in its own Python with the stand-in models of bench/facefusion_models.py, so the
whole path is real: FaceFusion's parser, its face analysis, its processors, its ffmpeg calls. One
engine (one warm worker) serves the module. Skipped without FFPIPE_FACEFUSION and
FFPIPE_FACEFUSION_PYTHON (see tests/_facefusion_support.py).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _facefusion_support import FaceFusionInstall, prepare_facefusion, session_facefusion
from _video_support import make_video

from ffpipe.catalog import OPS
from ffpipe.engine.api import (
    CancelledError,
    EngineError,
    FaceNotFoundError,
    RunContext,
    UnsupportedError,
)
from ffpipe.engine.facefusion import FaceFusionEngine
from ffpipe.engine.facefusion import arguments as ff_args

pytestmark = pytest.mark.slow  # every test here runs FaceFusion in its own process

MEDIA = Path(__file__).resolve().parents[1] / "media"
TARGET = MEDIA / "astronaut.jpg"
SOURCE = MEDIA / "grace_hopper.jpg"
TWO_FACES = ((0.05, 0.25, 0.4, 0.7), (0.55, 0.25, 0.9, 0.7))


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


@pytest.fixture(scope="module")
def engine(facefusion: FaceFusionInstall) -> Iterator[FaceFusionEngine]:
    engine = FaceFusionEngine(facefusion.root, facefusion.python)
    engine.start()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceFusionEngine]:
    """Another copy whose fake detectors report two faces side by side in every image."""
    install = prepare_facefusion(tmp_path_factory.mktemp("two") / "facefusion", TWO_FACES)
    engine = FaceFusionEngine(install.root, install.python)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", fps=10, seconds=1.2)


def run(engine: FaceFusionEngine, op: str, out: Path, **values: Any) -> Any:
    values.setdefault("target_media", str(TARGET))
    stages: list[str] = []
    output = engine.run(
        op, values, RunContext(out_dir=out, progress=lambda _f, s: stages.append(s))
    )
    output.result["_stages"] = stages
    return output


def image(path: Path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert pixels is not None, path
    return pixels.astype(np.int16)


def face_region(facefusion: FaceFusionInstall, shape: tuple[int, ...]) -> tuple[slice, slice]:
    left, top, right, bottom = facefusion.faces[0]
    height, width = shape[:2]
    # The middle of the face box: inside every mask, whatever its blur.
    inset_x, inset_y = (right - left) * width / 4, (bottom - top) * height / 4
    rows = slice(int(top * height + inset_y), int(bottom * height - inset_y))
    columns = slice(int(left * width + inset_x), int(right * width - inset_x))
    return rows, columns


def changed(before: Path, after: Path, region: tuple[slice, slice]) -> tuple[float, float]:
    """Mean absolute change inside ``region`` and in the image's corners."""
    a, b = image(before), image(after)
    assert a.shape == b.shape
    inside = float(np.abs(a[region] - b[region]).mean())
    corners = [np.abs(a[s] - b[s]).mean() for s in ((slice(0, 30), slice(0, 30)),)]
    return inside, float(max(corners))


def test_detect_reports_facefusions_analysis(
    engine: FaceFusionEngine, facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    output = run(engine, "detect", tmp_path)
    document = json.loads(output.files["output"].read_text())
    assert document["face_count"] == 1 == len(document["faces"])
    face = document["faces"][0]
    height, width = image(TARGET).shape[:2]
    left, top, right, bottom = facefusion.faces[0]
    expected = [left * width, top * height, right * width, bottom * height]
    assert np.allclose(face["box"], expected, atol=0.05 * width)
    assert len(face["landmarks"]) == 68 and len(face["landmarks_5"]) == 5
    assert face["age"] == [30, 39] and face["gender"] == "female"
    assert 0.5 < face["score"] <= 1.0
    assert output.result["faces"][0]["box"] == face["box"]


def test_swap_changes_the_face_and_leaves_the_rest(
    engine: FaceFusionEngine, facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    output = run(engine, "swap", tmp_path, source_face=str(SOURCE))
    result = output.result
    inside, corners = changed(TARGET, output.files["output"], face_region(facefusion, (512, 512)))
    assert inside > 40 and corners < 6
    assert result["faces_detected"] == result["faces_processed"] == 1
    assert result["facefusion_processors"] == ["face_swapper"]
    assert result["substitutions"] == [] and result["emulated"] == []
    assert (result["width"], result["height"]) == (512, 512)


def test_enhance_edit_and_a_fused_process_run(
    engine: FaceFusionEngine, facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    region = face_region(facefusion, (512, 512))
    enhanced = run(engine, "enhance", tmp_path / "e", face_enhancer_iterations=2)
    assert changed(TARGET, enhanced.files["output"], region)[0] > 5
    assert enhanced.result["facefusion_processors"] == ["face_enhancer", "face_enhancer"]
    assert any("face_enhancer_iterations 2" in line for line in enhanced.result["warnings"])
    edited = run(engine, "edit", tmp_path / "d", face_editor_mouth_smile=1.0)
    assert changed(TARGET, edited.files["output"], region)[0] > 2
    fused = run(
        engine,
        "process",
        tmp_path / "p",
        source_face=str(SOURCE),
        processors=["swap", "enhance"],
        output_path="fused.png",
    )
    assert len(fused.result["facefusion"]["runs"]) == 1
    assert fused.result["facefusion_processors"] == ["face_swapper", "face_enhancer"]
    assert fused.files["output"].name == "fused.png"
    assert any("converted to .png" in line for line in fused.result["emulated"])


def _combination(name: str, clip: Path) -> tuple[str, dict[str, Any]]:
    combinations: dict[str, tuple[str, dict[str, Any]]] = {
        "high-quality face swap": (
            "process",
            {
                "processors": ["swap", "enhance"],
                "source_face": str(SOURCE),
                "face_swapper_model": "inswapper_128",
                "face_detector_model": "scrfd",
                "face_detector_size": "640x640",
                "face_mask_types": ["occlusion"],
                "face_mask_blur": 0.3,
                "face_enhancer_model": "gfpgan_1.4",
                "face_enhancer_blend": 0.8,
            },
        ),
        "age progression": (
            "process",
            {
                "processors": ["edit", "enhance"],
                "face_editor_age": 65,
                "face_editor_age_direction": "older",
                "face_editor_blend": 0.9,
                "face_enhancer_model": "codeformer",
                "face_enhancer_blend": 0.7,
            },
        ),
        "expression control": (
            "edit",
            {
                "face_editor_mouth_smile": 0.8,
                "face_editor_eye_open_ratio": 1.2,
                "face_editor_head_pitch": 5.0,
                "face_editor_blend": 0.85,
            },
        ),
        "video face swap": (
            "swap",
            {
                "source_face": str(SOURCE),
                "target_media": str(clip),
                "face_swapper_model": "inswapper_128",
                "trim_frame_start": 0,
                "trim_frame_end": 150,
                "output_video_fps": 30.0,
                "output_video_encoder": "libx264",
                "output_video_preset": "medium",
                "output_video_quality": 85,
            },
        ),
    }
    return combinations[name]


@pytest.mark.parametrize(
    "name", ["high-quality face swap", "age progression", "expression control", "video face swap"]
)
def test_the_catalogs_common_combinations_run(
    engine: FaceFusionEngine, clip: Path, name: str, tmp_path: Path
) -> None:
    op, values = _combination(name, clip)
    output = run(engine, op, tmp_path, **values)
    assert output.files["output"].is_file()
    result = output.result
    if name == "age progression":
        assert result["facefusion_processors"] == ["age_modifier", "face_enhancer"]
        assert any("direction +30" in line for line in result["emulated"])
        assert any("face_editor_blend 0.9" in line for line in result["emulated"])
        assert len(result["facefusion"]["runs"]) == 2
    if name == "expression control":
        assert any("face_editor_blend 0.85" in line for line in result["emulated"])
    if name == "video face swap":
        assert result["frames_out"] >= 30
        assert result["fps"] == pytest.approx(30.0)
        assert any(stage.startswith("frames ") for stage in result["_stages"])


def test_a_video_chain_runs_in_one_facefusion_pass_with_frame_progress(
    engine: FaceFusionEngine, clip: Path, tmp_path: Path
) -> None:
    output = run(
        engine,
        "process",
        tmp_path,
        target_media=str(clip),
        source_face=str(SOURCE),
        processors=["swap", "enhance", "edit"],
        face_editor_mouth_smile=0.5,
        trim_frame_start=2,
        trim_frame_end=9,
        skip_audio=True,
    )
    result = output.result
    assert len(result["facefusion"]["runs"]) == 1
    assert result["facefusion_processors"] == ["face_swapper", "face_enhancer", "face_editor"]
    assert result["frames_out"] == 7 and result["audio"] is False
    assert result["reference_frame"] == 2 and result["reference_frame_faces"] == 1
    frames = [stage for stage in result["_stages"] if stage.startswith("frames ")]
    assert frames[-1] == "frames 7/7" and len(frames) == 7
    # FaceFusion's content check of the video reports too (a long silence would look hung).
    assert any(stage.startswith("analysing ") for stage in result["_stages"])
    assert any(line.startswith("skip_audio") for line in result["emulated"])


def test_video_and_extract_frames_use_facefusions_own_video_code(
    engine: FaceFusionEngine, clip: Path, tmp_path: Path
) -> None:
    video = run(
        engine,
        "video",
        tmp_path / "v",
        target_media=str(clip),
        trim_frame_start=1,
        trim_frame_end=6,
        output_video_resolution="160x120",
    )
    assert video.result["frames_out"] == 5 and video.result["resolution"] == "160x120"
    frames = run(
        engine,
        "extract_frames",
        tmp_path / "f",
        target_media=str(clip),
        trim_frame_end=4,
        extract_frame_format="jpg",
    )
    names = sorted(path.name for path in frames.files["output"].iterdir())
    assert names == [f"frame_{index:06d}.jpg" for index in range(4)]
    assert frames.result["frames"] == 4


def test_the_arguments_parse_with_facefusions_own_parser(engine: FaceFusionEngine) -> None:
    target = ff_args.Target(is_video=False, width=512, height=512, faces=[])
    values = {
        "target_media": "/in/target.jpg",
        "source_face": "/in/source.jpg",
        "processors": ["swap", "enhance", "edit"],
        "face_swapper_model": "simswap_256",
        "face_swapper_pixel_boost": "512",
        "face_detector_model": "yunet",
        "face_mask_types": ["box", "region"],
        "face_mask_blur": 0.45,
        "face_enhancer_model": "gpen_bfr_512",
        "face_editor_eye_gaze": "right",
        "face_editor_head_roll": -10.0,
        "execution_thread_count": 4,
    }
    params = OPS["process"].params.model_validate(values)
    call = ff_args.build_call("process", params, target, source="/in/s.jpg", output="/o/x.jpg")
    parsed = engine.worker.request("parse", {"argv": call.argv})["args"]
    assert parsed["processors"] == ["face_swapper", "face_enhancer", "face_editor"]
    assert parsed["face_swapper_model"] == "simswap_256"
    assert parsed["face_swapper_pixel_boost"] == "512x512"
    assert parsed["face_detector_model"] == "yunet"
    assert parsed["face_mask_types"] == ["box", "region"]
    assert parsed["face_mask_blur"] == 0.45
    assert parsed["face_editor_eye_gaze_horizontal"] == 1.0
    assert parsed["face_editor_head_roll"] == pytest.approx(-0.65)
    assert parsed["execution_thread_count"] == 4
    assert parsed["video_memory_strategy"] == "tolerant"


def test_refused_parameters_are_named_before_anything_runs(
    engine: FaceFusionEngine, tmp_path: Path
) -> None:
    with pytest.raises(UnsupportedError, match="face_editor_hair_style=7"):
        run(engine, "edit", tmp_path, face_editor_hair_style=7)
    polygon = [[[0.1, 0.1], [0.6, 0.1], [0.3, 0.5]]]
    with pytest.raises(UnsupportedError, match="face_mask_regions"):
        run(engine, "enhance", tmp_path, face_mask_regions=polygon)
    assert not any(tmp_path.iterdir())


def test_face_indices_on_several_faces(two_faces: FaceFusionEngine, tmp_path: Path) -> None:
    one = run(two_faces, "enhance", tmp_path / "one", target_face_index=1)
    assert one.result["faces_detected"] == 2
    assert any(line.startswith("target_face_index 1") for line in one.result["emulated"])
    region_left = (slice(200, 300), slice(60, 160))
    region_right = (slice(200, 300), slice(340, 440))
    right = changed(TARGET, one.files["output"], region_right)[0]
    left = changed(TARGET, one.files["output"], region_left)[0]
    # The left face only sees JPEG re-encoding noise.
    assert right > 10 and right > 3 * left, (left, right)
    swapped = run(two_faces, "swap", tmp_path / "s", source_face=str(SOURCE), source_face_index=1)
    assert any(line.startswith("source_face_index 1") for line in swapped.result["emulated"])
    with pytest.raises(FaceNotFoundError, match="index 2 was requested"):
        run(two_faces, "swap", tmp_path / "x", source_face=str(SOURCE), source_face_index=2)


def test_a_killed_worker_is_a_clear_error_and_the_next_request_works(
    engine: FaceFusionEngine, clip: Path, tmp_path: Path
) -> None:
    killed = threading.Event()

    def progress(_fraction: float, stage: str) -> None:
        if stage.startswith("frames ") and not killed.is_set():
            killed.set()
            os.kill(engine.worker.pid or 0, signal.SIGKILL)

    values = {"target_media": str(clip), "source_face": str(SOURCE)}
    context = RunContext(out_dir=tmp_path / "a", progress=progress)
    starts = engine.worker.starts
    with pytest.raises(EngineError, match="worker died while running run"):
        engine.run("swap", values, context)
    # Started again once: on its own after the crash, or by the next request, whichever first.
    after = run(engine, "swap", tmp_path / "b", source_face=str(SOURCE))
    assert after.result["faces_processed"] == 1
    assert engine.worker.starts == starts + 1


def test_cancelling_kills_the_request_and_the_next_one_works(
    engine: FaceFusionEngine, clip: Path, tmp_path: Path
) -> None:
    cancel = threading.Event()

    def progress(_fraction: float, stage: str) -> None:
        if stage.startswith("frames "):
            cancel.set()

    values = {"target_media": str(clip), "source_face": str(SOURCE)}
    context = RunContext(out_dir=tmp_path / "a", progress=progress, cancel=cancel)
    with pytest.raises(CancelledError):
        engine.run("swap", values, context)
    assert run(engine, "enhance", tmp_path / "b").files["output"].is_file()


def test_capabilities_say_every_model_and_parameter(engine: FaceFusionEngine) -> None:
    capabilities = engine.capabilities()
    assert capabilities["engine"] == "facefusion" and capabilities["version"] == "3.8.1"
    assert capabilities["execution_providers"] == ["cpu"]
    assert "libx264" in capabilities["encoders"]
    swapper = capabilities["facefusion_models"]["face_swapper"]
    assert swapper["inswapper_128"]["status"] == "present"
    assert capabilities["facefusion_models"]["deep_swapper"]  # known, though not installed
    assert capabilities["models"]["face_editor_model"]["face_editor_v1"]["status"] == "refused"
    names = {name for spec in OPS.values() for name in spec.params.model_fields}
    assert set(capabilities["parameters"]) == names


def test_a_missing_model_is_refused_before_facefusion_runs(
    facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    strict = FaceFusionEngine(facefusion.root, facefusion.python, strict_models=True)
    hash_file = facefusion.models / "gpen_bfr_256.hash"
    kept = hash_file.read_text()
    hash_file.write_text("00000000")
    try:
        problems = strict.check([("enhance", {"face_enhancer_model": "gpen_bfr_256"})])
        assert problems and "gpen_bfr_256 (missing)" in problems[0]
        assert strict.check([("enhance", {"face_enhancer_model": "gfpgan_1.4"})]) == []
        with pytest.raises(UnsupportedError, match="gpen_bfr_256 \\(missing\\)"):
            run(strict, "enhance", tmp_path, face_enhancer_model="gpen_bfr_256")
    finally:
        hash_file.write_text(kept)
        strict.close()
    assert (facefusion.models / "gpen_bfr_256.onnx").is_file()


def test_a_hung_worker_is_stopped_with_a_clear_error_and_restarted(
    facefusion: FaceFusionInstall, clip: Path, tmp_path: Path
) -> None:
    impatient = FaceFusionEngine(facefusion.root, facefusion.python, stall_timeout=0.01)
    try:
        impatient.worker.stall_timeout = 0.01
        with pytest.raises(EngineError, match=r"no sign of life for 0\.01 s"):
            run(impatient, "swap", tmp_path / "a", target_media=str(clip), source_face=str(SOURCE))
        impatient.worker.stall_timeout = 600.0
        assert run(impatient, "enhance", tmp_path / "b").files["output"].is_file()
    finally:
        impatient.close()


def test_a_python_that_cannot_import_facefusion_is_one_message(
    facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    import sys

    from ffpipe.engine.facefusion import CheckoutError

    # ffpipe's own Python lacks FaceFusion's packages: FaceFusion cannot load there. (Its
    # folder gets FaceFusion's ffmpeg and ffprobe: without them the engine refuses at once.)
    for name in ("ffmpeg", "ffprobe"):
        (tmp_path / name).symlink_to(facefusion.python.parent / name)
    (tmp_path / "python").symlink_to(sys.executable)
    unable = FaceFusionEngine(facefusion.root, tmp_path / "python")
    with pytest.raises(CheckoutError, match="cannot run FaceFusion from") as failed:
        unable.start()
    # Outside its venv the interpreter lacks FaceFusion's packages: the first one is named.
    assert "No module named" in str(failed.value)
    unable.close()


def test_transparency_and_overwrites_are_not_lost_silently(
    engine: FaceFusionEngine, tmp_path: Path
) -> None:
    rgba = cv2.cvtColor(cv2.imread(str(TARGET)), cv2.COLOR_BGR2BGRA)
    rgba[:40, :40, 3] = 0
    target = tmp_path / "clear.png"
    cv2.imwrite(str(target), rgba)
    kept = run(engine, "enhance", tmp_path / "png", target_media=str(target))
    assert cv2.imread(str(kept.files["output"]), cv2.IMREAD_UNCHANGED).shape[2] == 4
    assert not any("transparency" in line for line in kept.result["warnings"])
    flat = run(engine, "enhance", tmp_path / "jpg", target_media=str(target), output_path="o.jpg")
    assert any("alpha channel was dropped" in line for line in flat.result["warnings"])
    with pytest.raises(EngineError, match="would overwrite the target"):
        run(engine, "enhance", tmp_path, target_media=str(target))
    assert cv2.imread(str(target), cv2.IMREAD_UNCHANGED)[0, 0, 3] == 0


def test_a_video_source_gives_facefusion_its_first_frame_with_the_face(
    engine: FaceFusionEngine, facefusion: FaceFusionInstall, clip: Path, tmp_path: Path
) -> None:
    output = run(engine, "swap", tmp_path, source_face=str(clip))
    assert any("clip.mp4 is a video" in line for line in output.result["emulated"])
    region = face_region(facefusion, (512, 512))
    assert changed(TARGET, output.files["output"], region)[0] > 40
