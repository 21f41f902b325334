"""Worker threads: run order, progress, cancellation at the next frame, failures, shutdown."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from ffpipe.engine.api import Engine, EngineOutput
from ffpipe.server.execute import internal_error
from ffpipe.server.jobs import failures
from ffpipe.server.jobs.store import JobStore
from ffpipe.server.jobs.worker import JobRunner

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


def _image(tmp_path: Path, source: Path, name: str) -> str:
    target = tmp_path / "in" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(source, target)
    return str(target)


def _submit(store: JobStore, tmp_path: Path, job_id: str, priority: int = 5, source=ASTRONAUT):
    path = _image(tmp_path, source, f"{job_id}{source.suffix}")
    return store.submit("enhance", {}, {"target_media": path}, job_id=job_id, priority=priority)


def test_jobs_run_by_priority_and_complete_with_outputs(
    store: JobStore, tmp_path: Path, frame_engine, wait_until
) -> None:
    engine = frame_engine(frames=3, frame_seconds=0.0)
    for job_id, priority in [("low", 2), ("mid", 5), ("high", 9), ("mid2", 5)]:
        _submit(store, tmp_path, job_id, priority)
    finished = []
    runner = JobRunner(store, engine, tmp_path, workers=1, on_finished=finished.append)
    runner.start()
    try:
        wait_until(lambda: len(finished) == 4)
    finally:
        runner.stop()
    assert engine.started == ["high.jpg", "mid.jpg", "mid2.jpg", "low.jpg"]
    record = store.get("high")
    assert record.status == "completed" and record.progress == 1.0 and record.attempts == 1
    output = Path(record.outputs["output"])
    assert output.is_relative_to(tmp_path) and cv2.imread(str(output)).shape == (512, 512, 3)
    assert record.result == {"op": "enhance", "frames": 3, "substitutions": []}


def test_progress_is_recorded_while_processing(
    store: JobStore, tmp_path: Path, frame_engine, wait_until
) -> None:
    _submit(store, tmp_path, "slow")
    runner = JobRunner(
        store, frame_engine(frames=40, frame_seconds=0.05), tmp_path, progress_interval=0.0
    )
    runner.start()
    try:
        seen = wait_until(lambda: store.get("slow").progress >= 0.1 and store.get("slow"))
        assert seen.status == "processing" and seen.stage.startswith("frame ")
        assert runner.running() == ["slow"]
    finally:
        runner.cancel("slow")
        runner.stop()


def test_cancel_processing_stops_at_the_next_frame(
    store: JobStore, tmp_path: Path, frame_engine, wait_until
) -> None:
    engine = frame_engine(frames=400, frame_seconds=0.02)
    _submit(store, tmp_path, "long")
    _submit(store, tmp_path, "queued-behind")
    runner = JobRunner(store, engine, tmp_path, progress_interval=0.0)
    runner.start()
    try:
        wait_until(lambda: store.get("long").progress > 0)
        assert runner.cancel("queued-behind").status == "cancelled"
        runner.cancel("long")
        stopped = wait_until(lambda: store.get("long").finished and store.get("long"))
    finally:
        runner.stop()
    assert stopped.status == "cancelled"
    assert stopped.progress < 0.5, "it stopped long before the end"
    assert not (tmp_path / "job-outputs" / "long" / "output.png").exists()
    assert engine.started == ["long.jpg"], "the cancelled queued job never ran"


def test_engine_errors_fail_the_job_with_their_message(
    store: JobStore, tmp_path: Path, frame_engine, wait_until
) -> None:
    broken = tmp_path / "in" / "broken.jpg"
    broken.parent.mkdir()
    broken.write_bytes(b"not an image")
    store.submit("enhance", {}, {"target_media": str(broken)}, job_id="bad")
    runner = JobRunner(store, frame_engine(frames=1, frame_seconds=0.0), tmp_path)
    runner.start()
    try:
        failed = wait_until(lambda: store.get("bad").finished and store.get("bad"))
    finally:
        runner.stop()
    assert failed.status == "failed"
    assert failures.decode(failed.error) == {
        "error": "enhance unreadable media",
        "detail": "broken.jpg is not a readable image",
    }


def test_invalid_stored_params_fail_cleanly(
    store: JobStore, tmp_path: Path, frame_engine, wait_until
) -> None:
    path = _image(tmp_path, GRACE, "g.jpg")
    store.submit("enhance", {"face_enhancer_blend": 7}, {"target_media": path}, job_id="odd")
    runner = JobRunner(store, frame_engine(frames=1, frame_seconds=0.0), tmp_path)
    runner.start()
    try:
        failed = wait_until(lambda: store.get("odd").finished and store.get("odd"))
    finally:
        runner.stop()
    document = failures.decode(failed.error)
    assert failed.status == "failed" and document is not None
    assert document["error"] == "invalid parameters"
    assert "face_enhancer_blend" in document["detail"]


def test_shutdown_leaves_the_job_for_the_next_start(
    tmp_path: Path, wait_until, frame_engine
) -> None:
    db = tmp_path / "jobs.sqlite3"
    store = JobStore(db)
    _submit(store, tmp_path, "interrupted")
    runner = JobRunner(store, frame_engine(frames=300, frame_seconds=0.02), tmp_path)
    runner.start()
    wait_until(lambda: store.get("interrupted").status == "processing")
    runner.stop()
    assert store.get("interrupted").status == "processing"
    store.close()

    reopened = JobStore(db)
    assert reopened.requeue_interrupted() == ["interrupted"]
    second = JobRunner(reopened, frame_engine(frames=2, frame_seconds=0.0), tmp_path)
    second.start()
    try:
        done = wait_until(
            lambda: reopened.get("interrupted").finished and reopened.get("interrupted")
        )
    finally:
        second.stop()
        reopened.close()
    assert done.status == "completed" and done.attempts == 2
    assert any("interrupted" in note for note in done.notes)


def test_detect_runs_on_the_builtin_engine(
    store: JobStore, tmp_path: Path, builtin_engine, wait_until
) -> None:
    engine = builtin_engine
    path = _image(tmp_path, ASTRONAUT, "a.jpg")
    store.submit("detect", {}, {"target_media": path}, job_id="det")
    runner = JobRunner(store, engine, tmp_path)
    runner.start()
    try:
        done = wait_until(lambda: store.get("det").finished and store.get("det"), timeout=120)
    finally:
        runner.stop()
    assert done.status == "completed", done.error
    assert len(done.result["faces"]) == 1


def test_staged_inputs_are_removed_once_a_job_ends(
    store: JobStore, tmp_path: Path, frame_engine, wait_until
) -> None:
    staged = []
    for job_id in ("kept-output", "cancelled-early"):
        path = tmp_path / "job-inputs" / job_id / "target_media" / "a.jpg"
        path.parent.mkdir(parents=True)
        shutil.copyfile(ASTRONAUT, path)
        store.submit("enhance", {}, {"target_media": str(path)}, job_id=job_id)
        staged.append(path)
    outside = _submit(store, tmp_path, "outside")
    runner = JobRunner(store, frame_engine(frames=1, frame_seconds=0.0), tmp_path)
    runner.cancel("cancelled-early")
    assert not staged[1].parent.parent.exists()
    runner.start()
    try:
        wait_until(lambda: store.get("outside").finished)
    finally:
        runner.stop()
    assert store.get("kept-output").status == "completed"
    assert not staged[0].parent.parent.exists()
    assert Path(outside.files["target_media"]).exists(), "files outside job-inputs are not ours"
    assert Path(store.get("kept-output").outputs["output"]).exists()


def test_a_failed_job_leaves_no_output_folder(
    store: JobStore, tmp_path: Path, builtin_engine, wait_until
) -> None:
    blank = tmp_path / "in" / "blank.png"
    blank.parent.mkdir()
    cv2.imwrite(str(blank), np.full((64, 64, 3), 128, np.uint8))
    store.submit("enhance", {}, {"target_media": str(blank)}, job_id="faceless")
    runner = JobRunner(store, builtin_engine, tmp_path)
    runner.start()
    try:
        failed = wait_until(lambda: store.get("faceless").finished and store.get("faceless"))
    finally:
        runner.stop()
    document = failures.decode(failed.error)
    assert failed.status == "failed" and document is not None
    assert "no face" in document["detail"]
    assert not (runner.outputs_dir / "faceless").exists()


class _FaultyEngine(Engine):
    """An engine with a planted fault, as an engine bug would show: ``raise`` raises an error
    naming a server path, ``empty`` reports no file at all."""

    name, version = "faulty", "1"

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def capabilities(self) -> dict:
        return {"engine": self.name, "version": self.version, "ops": ["enhance"]}

    def run(self, op, params, context):
        if self.fault == "raise":
            raise OSError(f"[Errno 5] I/O error: '/srv/ffpipe/models/{op}.bin'")
        return EngineOutput(files={}, result={"substitutions": []})


@pytest.mark.parametrize("fault", ["raise", "empty"])
def test_an_engine_fault_fails_the_job_as_a_sync_request_fails(
    store: JobStore, tmp_path: Path, fault: str, wait_until
) -> None:
    _submit(store, tmp_path, "faulty")
    runner = JobRunner(store, _FaultyEngine(fault), tmp_path)
    runner.start()
    try:
        failed = wait_until(lambda: store.get("faulty").finished and store.get("faulty"))
    finally:
        runner.stop()
    assert failed.status == "failed"
    assert failures.decode(failed.error) == internal_error("enhance").shape()
    assert "/srv" not in failed.error and "OSError" not in failed.error
    assert not (runner.outputs_dir / "faulty").exists()
