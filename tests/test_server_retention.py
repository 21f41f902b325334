"""`ffpipe serve --retention`: uploads, request outputs and finished jobs do not pile up forever."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.serving import start_server
from ffpipe.server.jobs.settings import INPUTS_FOLDER, OUTPUTS_FOLDER
from ffpipe.server.jobs.store import JobStore
from ffpipe.server.retention import GRACE_SECONDS, Retention, RetentionError, Sweeper

pytestmark = pytest.mark.slow  # starts ffpipe serve

DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "age", "size"),
    [
        ("7d,20GB", 7 * DAY, 20 * 10**9),
        ("12h", 12 * 3600.0, None),
        ("500MB", None, 500 * 10**6),
        ("30m, 1.5GB", 1800.0, 1_500_000_000),
        ("off", None, None),
    ],
)
def test_retention_values_are_read(text: str, age: float | None, size: int | None) -> None:
    assert Retention.parse(text) == Retention(age, size)


@pytest.mark.parametrize("text", ["", "7", "7d,7d", "forever", "-1d", "10 parsecs"])
def test_unreadable_retention_values_are_errors(text: str) -> None:
    with pytest.raises(RetentionError):
        Retention.parse(text)


def _file(path: Path, size: int = 1000, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = time.time() - age
    os.utime(path, (when, when))
    os.utime(path.parent, (when, when))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


def _finished_job(store: JobStore, data: Path, job_id: str) -> Path:
    store.submit("detect", {}, {"target_media": "/gone.jpg"}, job_id=job_id)
    store.claim_next()
    output = _file(data / OUTPUTS_FOLDER / job_id / "faces.json")
    store.complete(job_id, {"output": str(output)}, {})
    return output.parent


def test_an_age_limit_removes_what_is_older(tmp_path: Path, store: JobStore) -> None:
    old_upload = _file(tmp_path / "uploads" / "abc" / "photo.jpg", age=3 * DAY).parent
    new_upload = _file(tmp_path / "uploads" / "def" / "photo.jpg", age=60.0).parent
    old_output = _file(tmp_path / "outputs" / "r1" / "out.png", age=3 * DAY).parent
    finished = _finished_job(store, tmp_path, "done")
    queued_input = _file(tmp_path / INPUTS_FOLDER / "s1" / "target_media" / "a.jpg", age=3 * DAY)
    store.submit("detect", {}, {"target_media": str(queued_input)}, job_id="waiting")
    sweeper = Sweeper(tmp_path, store, Retention(DAY, None), clock=lambda: time.time() + 2 * DAY)

    removed = sweeper.sweep()

    assert (removed.uploads, removed.outputs, removed.jobs) == (2, 1, 1)
    assert removed.describe().startswith("removed 2 upload(s), 1 output folder(s) and 1 finished")
    assert not old_upload.exists() and not old_output.exists() and not finished.exists()
    assert not new_upload.exists(), "two days on, the minute-old upload is old too"
    assert queued_input.exists(), "a queued job's input stays"
    assert [record.job_id for record in store.list()] == ["waiting"]


def test_a_size_limit_removes_oldest_first_but_never_the_newest(
    tmp_path: Path, store: JobStore
) -> None:
    oldest = _file(tmp_path / "outputs" / "a" / "x", size=4000, age=5 * 3600)
    middle = _file(tmp_path / "outputs" / "b" / "x", size=4000, age=4 * 3600)
    young = _file(tmp_path / "outputs" / "c" / "x", size=4000, age=GRACE_SECONDS / 2)
    removed = Sweeper(tmp_path, store, Retention(None, 5000)).sweep()
    assert (removed.outputs, removed.bytes) == (2, 8000)
    assert not oldest.exists() and not middle.exists()
    assert young.exists(), "within the grace period even a size limit keeps it"


def test_off_keeps_everything(tmp_path: Path, store: JobStore) -> None:
    upload = _file(tmp_path / "uploads" / "abc" / "photo.jpg", age=300 * DAY)
    assert not Sweeper(tmp_path, store, Retention.parse("off")).sweep()
    assert upload.exists()


def test_serve_sweeps_at_start_and_says_what_it_removed(tmp_path: Path) -> None:
    data = tmp_path / "server-data"
    stale = _file(data / "uploads" / "old" / "photo.jpg", age=30 * DAY)
    kept = _file(data / "outputs" / "recent" / "out.png", age=3600.0)
    handle = start_server(tmp_path, "--retention", "7d,1GB")
    try:
        assert not stale.exists() and kept.exists()
        assert "retention: removed 1 upload(s), 0 output folder(s)" in handle.log()
    finally:
        assert handle.stop() == 0
