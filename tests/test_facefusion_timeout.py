"""A runner ``timeout:`` stops the FaceFusion call in its worker, not only the wait for it.

The step is a swap over a short video on FaceFusion 3.8.1 (stand-in models), which takes several
seconds here; its limit is 1 s. Stopping the call means the worker process is killed (FaceFusion
cannot be interrupted inside a call) and the next request starts a fresh one. Skipped without
FFPIPE_FACEFUSION(_PYTHON).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _facefusion_support import FaceFusionInstall, session_facefusion
from _pipeline_support import write_pipeline
from _run_support import copy_photos
from _video_support import make_video

from ffpipe.backends.local import LocalBackend
from ffpipe.cache.workspace import Workspace
from ffpipe.engine.api import RunContext
from ffpipe.engine.facefusion import FaceFusionEngine
from ffpipe.pipeline import load_pipeline
from ffpipe.run import events as ev
from ffpipe.run.runner import RunOptions, run_pipeline

PIPELINE = """
    version: 1
    name: limited
    inputs: {source: grace.jpg, clip: clip.mp4}
    steps:
      swap:
        uses: swap
        timeout: 1
        with: {source_face: "{{ inputs.source }}", target_media: "{{ inputs.clip }}"}
"""


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


def alive(pid: int) -> bool:
    # A killed worker that its parent has not reaped yet is a zombie: stopped, though listed.
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_a_timed_out_step_stops_facefusion_in_its_worker(
    facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    copy_photos(tmp_path)
    make_video(tmp_path / "clip.mp4", fps=10, seconds=8.0, tone_hz=None)
    write_pipeline(tmp_path, PIPELINE)
    engine = FaceFusionEngine(facefusion.root, facefusion.python)
    try:
        engine.start()
        pid = engine.worker.pid
        assert pid is not None
        stopped: list[bool] = []

        def watch(event: ev.Event) -> None:
            # Called on the runner's thread: the run (and its event log) stays open meanwhile,
            # so only the timeout can stop the worker. Left running, the swap (80 frames: longer
            # than the 1 s timeout even on a fast machine) would finish and its worker live on.
            if isinstance(event, ev.StepFailed):
                deadline = time.monotonic() + 60
                while alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                stopped.append(not alive(pid))

        summary = run_pipeline(
            load_pipeline(tmp_path / "pipe.yaml"),
            Workspace(tmp_path / ".ffpipe"),
            LocalBackend(engine=engine),
            RunOptions(out_dir=tmp_path / "out", write_lock=False),
            watch,
        )
        outcome = summary.steps["swap"]
        assert outcome.status == "failed" and "timed out after 1s" in str(outcome.error)
        assert stopped == [True]
        after = engine.run(
            "enhance",
            {"target_media": str(tmp_path / "astronaut.jpg")},
            RunContext(out_dir=tmp_path / "after"),
        )
        assert after.files["output"].is_file() and engine.worker.pid != pid
    finally:
        engine.close()
