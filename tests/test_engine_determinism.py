"""The builtin engine makes the same bytes on any x86-64 processor, and run after run.

The examples run end to end (whatever detector the engine has) in subprocesses under three
CPU-feature levels played on this machine (``_determinism_support``: every feature, up to AVX2,
up to SSE4.2: numpy's own baseline), each with its own workspace; every step's output digests
must agree. The video part also runs pinned to one processor, where thread counts sized by the
processor count would change the bytes. Slow: several minutes on a 2-core machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _determinism_support import cpu_configurations, disagreements, lay_out, run_pipelines

pytestmark = pytest.mark.slow

IMAGE_EXAMPLES = (
    "portrait",
    "high_quality_swap",
    "age_progression",
    "expression_control",
    "batch_matrix",
)
# A short cut of the video example: swap and enhance fused, tracking, the encoder.
VIDEO_FRAMES = 12
# Paths the examples do not take: a tilted head (found by the rotated retry, landmarks through a
# warp), occlusion and region masks, hair and pose edits, a PNG output.
HARD_CASES = """
version: 1
name: hard_cases
inputs:
  source: ../../media/grace_hopper.jpg
  tilted: tilted.png
steps:
  swap:
    uses: swap
    with:
      source_face: "{{ inputs.source }}"
      target_media: "{{ inputs.tilted }}"
      face_mask_types: [box, occlusion, region]
      face_mask_regions: [[[0.1, 0.2], [0.9, 0.2], [0.8, 0.95], [0.2, 0.95]]]
      face_mask_blur: 0.6
      face_mask_padding: [10, 5, 0, 5]
  edit:
    uses: edit
    with:
      target_media: "{{ steps.swap.output }}"
      face_editor_hair_color: "#7a3b1e"
      face_editor_head_yaw: 12.0
      face_editor_eyebrow_direction: up
      face_editor_lip_size: 1.3
  restore:
    uses: enhance
    with:
      target_media: "{{ steps.edit.output }}"
      face_enhancer_model: codeformer
      face_enhancer_iterations: 2
outputs:
  hard.png: "{{ steps.restore.output }}"
"""


def _short_video(examples: Path) -> Path:
    source = examples / "video_portrait.yaml"
    text = source.read_text(encoding="utf-8")
    assert "trim_frame_end: 60" in text
    short = examples / "video_portrait_short.yaml"
    short.write_text(text.replace("trim_frame_end: 60", f"trim_frame_end: {VIDEO_FRAMES}"))
    return short


def _hard_cases(examples: Path) -> Path:
    import cv2

    photo = cv2.imread(str(examples.parent.parent / "media" / "astronaut.jpg"))
    height, width = photo.shape[:2]
    turn = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), -50.0, 1.0)
    tilted = cv2.warpAffine(photo, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
    cv2.imwrite(str(examples / "tilted.png"), tilted)
    pipeline = examples / "hard_cases.yaml"
    pipeline.write_text(HARD_CASES)
    return pipeline


def test_the_image_examples_make_the_same_bytes_at_every_cpu_level(tmp_path):
    examples = lay_out(tmp_path, IMAGE_EXAMPLES)
    pipelines = [examples / f"{name}.yaml" for name in IMAGE_EXAMPLES]
    pipelines.append(_hard_cases(examples))
    runs = {
        level: run_pipelines(tmp_path, pipelines, environment)
        for level, environment in cpu_configurations().items()
    }
    assert len(runs["all"]) >= len(IMAGE_EXAMPLES) + 3
    assert disagreements(runs) == []


def test_a_video_makes_the_same_bytes_at_every_cpu_level_and_thread_count(tmp_path):
    examples = lay_out(tmp_path, ["video_portrait"])
    pipelines = [_short_video(examples)]
    runs = {
        level: run_pipelines(tmp_path, pipelines, environment)
        for level, environment in cpu_configurations().items()
    }
    runs["one cpu"] = run_pipelines(tmp_path, pipelines, {}, one_cpu=True)
    assert runs["all"]
    assert disagreements(runs) == []
