"""Asynchronous steps: submitted as server jobs with a stable id, or run in-process locally.

JobBackend below is a test double (a real Backend with a trivial op and a pretend job queue that
records submissions); the run against a real ``ffpipe serve`` job queue is the lead's end-to-end
test. The local case runs on the real LocalBackend.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from _pipeline_support import write_pipeline
from _run_support import CountingBackend, copy_photos
from _video_support import make_video

from ffpipe.backends.base import StepRequest, StepResult
from ffpipe.backends.local import LocalBackend
from ffpipe.cache.workspace import Workspace
from ffpipe.cli import main
from ffpipe.pipeline import load_pipeline
from ffpipe.run import events as ev
from ffpipe.run.jobs import job_id_for, job_options, requires_job
from ffpipe.run.runner import RunOptions, RunSummary, run_pipeline

ASYNC = """
    version: 1
    name: jobs
    params:
      blend: {type: number, default: 0.8}
    inputs:
      target: astronaut.jpg
    steps:
      queued:
        uses: enhance
        async: true
        job: {priority: 8, callback_url: "http://127.0.0.1:9/hook"}
        with:
          target_media: "{{ inputs.target }}"
          face_enhancer_blend: "{{ params.blend }}"
      direct:
        uses: detect
        with:
          target_media: "{{ inputs.target }}"
"""


class JobBackend(CountingBackend):
    """Test double: a backend with a pretend job queue that records each submission and
    reports progress half-way, as a polled server job would."""

    def __init__(self) -> None:
        super().__init__()
        self.submissions: list[tuple[str, str, dict[str, Any]]] = []

    def supports_jobs(self) -> bool:
        return True

    def run_job(self, request: StepRequest, job_id: str, options: Mapping[str, Any]) -> StepResult:
        with self.lock:
            self.submissions.append((request.op, job_id, dict(options)))
        if request.progress is not None:
            request.progress(0.5, "processing")
        return self.run(request)


def run(
    folder: Path, backend: Any, events: list[ev.Event] | None = None, **options: Any
) -> RunSummary:
    params = options.pop("params", {})
    pipeline = load_pipeline(folder / "pipe.yaml", params)
    with Workspace(folder / "ws") as workspace:
        return run_pipeline(
            pipeline,
            workspace,
            backend,
            RunOptions(out_dir=folder / "out", **options),
            events.append if events is not None else None,
        )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, ASYNC)
    return tmp_path


def test_an_async_step_is_submitted_with_its_options_and_reports_progress(folder: Path) -> None:
    backend = JobBackend()
    events: list[ev.Event] = []
    summary = run(folder, backend, events)
    assert summary.status == "ok"
    [(op, job_id, options)] = backend.submissions
    assert op == "enhance"
    assert options == {"priority": 8, "callback_url": "http://127.0.0.1:9/hook"}
    assert job_id == job_id_for(summary.steps["queued"].key or "")
    assert str(uuid.UUID(job_id)) == job_id
    assert backend.calls["detect:astronaut.jpg"] == 1  # the other step ran directly
    progress = [e for e in events if isinstance(e, ev.StepProgress) and e.step == "queued"]
    assert (0.5, "processing") in [(e.fraction, e.stage) for e in progress]
    record = json.loads(summary.record.read_text())
    assert record["steps"]["queued"]["job_id"] == job_id
    assert record["steps"]["direct"]["job_id"] is None


def test_the_job_id_is_the_same_in_every_run_of_the_same_step(folder: Path) -> None:
    backend = JobBackend()
    run(folder, backend)
    run(folder, backend, force=("queued",))
    first, again = backend.submissions
    assert first[1] == again[1]
    restarted = JobBackend()
    run(folder, restarted, force_all=True)
    assert restarted.submissions[0][1] == first[1]
    run(folder, backend, params={"blend": 0.4})
    assert backend.submissions[-1][1] != first[1]


def test_a_video_longer_than_ten_seconds_runs_as_a_job_without_asking(tmp_path: Path) -> None:
    long_clip = make_video(
        tmp_path / "long.mp4", width=64, height=48, fps=2, seconds=11.0, tone_hz=None
    )
    short_clip = make_video(
        tmp_path / "short.mp4", width=64, height=48, fps=2, seconds=3.0, tone_hz=None
    )
    assert requires_job({"target_media": str(long_clip)})
    assert not requires_job({"target_media": str(short_clip)})
    assert not requires_job({"target_media": str(tmp_path / "photo.jpg")})
    write_pipeline(
        tmp_path,
        """
        version: 1
        name: long
        steps:
          resize:
            uses: video
            with:
              target_media: long.mp4
              output_video_resolution: 32x24
        """,
    )
    backend = JobBackend()
    summary = run(tmp_path, backend)
    assert summary.status == "ok"
    assert [op for op, _, _ in backend.submissions] == ["video"]


def test_job_options_leave_out_the_id_and_unset_values() -> None:
    assert job_options({"job_id": "mine", "priority": 3, "callback_url": None}) == {"priority": 3}


@pytest.mark.slow
def test_without_a_job_queue_an_async_step_runs_in_process(folder: Path) -> None:
    summary = run(folder, LocalBackend(jobs=1))
    assert summary.status == "ok"
    assert summary.steps["queued"].status == "ran"
    assert summary.steps["queued"].job_id is None


def test_plan_notes_that_async_runs_in_process_locally(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FFPIPE_WORKSPACE", str(folder / "ws"))
    monkeypatch.delenv("FFPIPE_SERVER", raising=False)
    assert main(["plan", str(folder / "pipe.yaml")]) == 0
    text = capsys.readouterr().out
    assert text.count("async: runs in-process on the local backend") == 1
