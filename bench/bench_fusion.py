"""Fused video passes: ``swap -> enhance`` on the sample clip as one pass against two.

Runs ``pipelines/examples/video_portrait.yaml`` (60 frames of ``media/clip.mp4``) on the local
backend, once fused (one decode, one encode) and once with fusion off, each from an empty cache.
No lock file is written beside the example.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bench.common import Section, table
from ffpipe.backends.local import LocalBackend
from ffpipe.cache.workspace import Workspace
from ffpipe.pipeline import load_pipeline
from ffpipe.run.runner import RunOptions, run_pipeline

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "fusion"
EXAMPLE = ROOT / "pipelines" / "examples" / "video_portrait.yaml"
FRAMES = 60


def _timed_run(fuse: bool) -> tuple[float, int]:
    """Seconds for one full run from an empty cache, and how many backend calls it made."""
    folder = WORK / ("fused" if fuse else "unfused")
    shutil.rmtree(folder, ignore_errors=True)
    pipeline = load_pipeline(EXAMPLE)
    options = RunOptions(out_dir=folder / "out", write_lock=False, fuse=fuse)
    with Workspace(folder / "ws") as workspace:
        start = time.perf_counter()
        summary = run_pipeline(pipeline, workspace, LocalBackend(), options)
        seconds = time.perf_counter() - start
    if summary.status != "ok":
        raise RuntimeError(f"the {'fused' if fuse else 'unfused'} run failed")
    calls = len({outcome.key for outcome in summary.steps.values()})
    return seconds, calls


def run() -> Section:
    """Time the example fused and unfused."""
    rows = []
    for fuse in (True, False):
        seconds, calls = _timed_run(fuse)
        rows.append(
            ["fused" if fuse else "--no-fuse", calls, f"{seconds:.2f}", f"{FRAMES / seconds:.1f}"]
        )
    shutil.rmtree(WORK, ignore_errors=True)
    body = table(["mode", "backend calls", "seconds", "frames/s"], rows)
    note = (
        f"\n\n`video_portrait.yaml` ({FRAMES} frames of 640x360, swap then enhance) on the local "
        "backend from an empty cache. Fused, the clip is decoded and encoded once; unfused, the "
        "swapped video is encoded, then decoded again by enhance."
    )
    return Section("Fused video passes", body + note)
