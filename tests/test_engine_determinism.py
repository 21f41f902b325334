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


def _short_video(examples: Path) -> Path:
    source = examples / "video_portrait.yaml"
    text = source.read_text(encoding="utf-8")
    assert "trim_frame_end: 60" in text
    short = examples / "video_portrait_short.yaml"
    short.write_text(text.replace("trim_frame_end: 60", f"trim_frame_end: {VIDEO_FRAMES}"))
    return short


def test_the_image_examples_make_the_same_bytes_at_every_cpu_level(tmp_path):
    examples = lay_out(tmp_path, IMAGE_EXAMPLES)
    pipelines = [examples / f"{name}.yaml" for name in IMAGE_EXAMPLES]
    runs = {
        level: run_pipelines(tmp_path, pipelines, environment)
        for level, environment in cpu_configurations().items()
    }
    assert len(runs["all"]) >= len(IMAGE_EXAMPLES)
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
