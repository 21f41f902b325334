"""Face ops on video through the builtin engine: every frame decoded, swapped and re-encoded."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ffpipe.catalog.ops import EnhanceParams, ProcessParams, SwapParams
from ffpipe.engine.api import FaceNotFoundError, RunContext
from ffpipe.engine.builtin.engine import BuiltinEngine
from ffpipe.engine.builtin.faces import detect_faces, embedding_distance

pytestmark = pytest.mark.slow  # videos through the engine end to end

MEDIA = Path(__file__).resolve().parent.parent / "media"

SOURCE = MEDIA / "grace_hopper.jpg"
FRAMES = 10


@pytest.fixture(scope="module")
def astronaut_clip(tmp_path_factory: pytest.TempPathFactory, make_video) -> Path:
    """1 s at 10 fps, 480x270: the detector finds the astronaut in every frame at a score of 0.3."""
    return make_video(
        tmp_path_factory.mktemp("src") / "astronaut.mp4", width=480, height=270, fps=10, seconds=1
    )


def identity(image_rgb: np.ndarray) -> np.ndarray:
    faces = detect_faces(image_rgb, score=0.3, with_embeddings=True)
    assert len(faces) >= 1
    return max(faces, key=lambda face: face.box[2] - face.box[0]).embedding


@pytest.fixture(scope="module")
def swapped(astronaut_clip: Path, tmp_path_factory: pytest.TempPathFactory):
    params = SwapParams(
        source_face=str(SOURCE),
        target_media=str(astronaut_clip),
        output_video_quality=90,
        video_memory_strategy="moderate",
        face_detector_score=0.3,
    )
    out_dir = tmp_path_factory.mktemp("swapped")
    return BuiltinEngine().run("swap", params, RunContext(out_dir))


def test_swap_changes_the_identity_in_sampled_frames(
    astronaut_clip: Path, swapped, decoded_frames
) -> None:
    before, after = decoded_frames(astronaut_clip), decoded_frames(swapped.files["output"])
    assert len(after) == FRAMES
    source = identity(cv2.cvtColor(cv2.imread(str(SOURCE)), cv2.COLOR_BGR2RGB))
    for number in (0, FRAMES // 2, FRAMES - 1):
        original, result = identity(before[number]), identity(after[number])
        # Closer to the source than the original face was, and moved away from the original.
        assert embedding_distance(result, source) < embedding_distance(original, source)
        assert embedding_distance(result, original) > 0.1


def test_swap_keeps_the_rest_of_the_video(
    astronaut_clip: Path, swapped, audio_seconds, decoded_frames
) -> None:
    result = swapped.result
    assert (result["frames_out"], result["resolution"], result["audio"]) == (
        FRAMES,
        "480x270",
        True,
    )
    assert result["faces_processed"] == FRAMES
    assert audio_seconds(swapped.files["output"]) == pytest.approx(1.0, abs=0.05)
    before, after = decoded_frames(astronaut_clip)[3], decoded_frames(swapped.files["output"])[3]
    # Away from the face the frame is unchanged but for compression.
    corner = (slice(200, 270), slice(0, 80))
    assert np.abs(before[corner].astype(int) - after[corner]).mean() < 4


def test_fused_and_separate_passes_agree(
    astronaut_clip: Path, swapped, tmp_path: Path, decoded_frames
) -> None:
    # A `process` step with one processor runs the same frame function as the plain step.
    params = ProcessParams(
        processors=["swap"],
        source_face=str(SOURCE),
        target_media=str(astronaut_clip),
        output_video_quality=90,
        face_detector_score=0.3,
        video_memory_strategy="tolerant",
        execution_queue_count=2,
        keep_temp=True,
    )
    fused = BuiltinEngine().run("process", params, RunContext(tmp_path))
    assert fused.result["frames_out"] == FRAMES
    separate = np.stack(decoded_frames(swapped.files["output"])).astype(int)
    together = np.stack(decoded_frames(fused.files["output"])).astype(int)
    assert np.abs(separate - together).mean() < 1.0
    assert len(list(fused.files["frames"].iterdir())) == FRAMES


def test_a_video_without_a_face_is_a_clear_error(tmp_path: Path, make_video) -> None:
    blank = tmp_path / "sky.png"
    gradient = np.linspace(40, 220, 256, dtype=np.uint8)
    cv2.imwrite(str(blank), np.dstack([np.tile(gradient, (256, 1))] * 3))
    clip = make_video(tmp_path / "sky.mp4", image=str(blank), seconds=0.5, fps=10)
    params = SwapParams(source_face=str(SOURCE), target_media=str(clip))
    out_dir = tmp_path / "out"
    with pytest.raises(FaceNotFoundError, match=r"no frame of target_media sky\.mp4"):
        BuiltinEngine().run("swap", params, RunContext(out_dir))
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_fused_swap_enhance_matches_two_passes(
    astronaut_clip: Path, tmp_path: Path, decoded_frames
) -> None:
    common = {
        "target_media": str(astronaut_clip),
        "output_video_quality": 100,
        "face_detector_score": 0.3,
        "trim_frame_end": 4,
        "skip_audio": True,
    }
    engine = BuiltinEngine()
    fused = engine.run(
        "process",
        ProcessParams(processors=["swap", "enhance"], source_face=str(SOURCE), **common),
        RunContext(tmp_path / "fused"),
    )
    first = engine.run(
        "swap", SwapParams(source_face=str(SOURCE), **common), RunContext(tmp_path / "swap")
    )
    common["target_media"] = str(first.files["output"])
    common.pop("trim_frame_end")
    second = engine.run("enhance", EnhanceParams(**common), RunContext(tmp_path / "enhance"))
    together = np.stack(decoded_frames(fused.files["output"])).astype(int)
    apart = np.stack(decoded_frames(second.files["output"])).astype(int)
    swap_only = np.stack(decoded_frames(first.files["output"])).astype(int)
    assert together.shape == apart.shape == (4, 270, 480, 3)
    # Where enhancing changed the swapped frames, one pass and two passes agree (up to the extra
    # encode of the two-pass route), far more closely than the swap alone does.
    enhanced = np.abs(together - swap_only).max(axis=-1) > 10
    assert enhanced.sum() > 100
    fused_gap = np.abs(together - apart)[enhanced].mean()
    assert fused_gap < 4.0
    assert fused_gap * 3 < np.abs(swap_only - apart)[enhanced].mean()
