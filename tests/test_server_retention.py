"""`ffpipe serve --retention`: uploads, request outputs and finished jobs do not pile up forever."""

from __future__ import annotations

import base64
import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from PIL import Image

from bench.serving import ServerHandle, start_server
from ffpipe.catalog import ENDPOINT_ORDER
from ffpipe.server import retention
from ffpipe.server.http.guards import EndpointGuard
from ffpipe.server.in_use import InUse
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
    sweeper = Sweeper(
        tmp_path, store, Retention(DAY, None), InUse(), clock=lambda: time.time() + 2 * DAY
    )

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
    removed = Sweeper(tmp_path, store, Retention(None, 5000), InUse()).sweep()
    assert (removed.outputs, removed.bytes) == (2, 8000)
    assert not oldest.exists() and not middle.exists()
    assert young.exists(), "within the grace period even a size limit keeps it"


def test_off_keeps_everything(tmp_path: Path, store: JobStore) -> None:
    upload = _file(tmp_path / "uploads" / "abc" / "photo.jpg", age=300 * DAY)
    assert not Sweeper(tmp_path, store, Retention.parse("off"), InUse()).sweep()
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


def test_a_size_limit_keeps_what_a_request_holds_and_counts_it(
    tmp_path: Path, store: JobStore
) -> None:
    held = _file(tmp_path / "uploads" / "held" / "video.mp4", size=4000, age=5 * 3600)
    older = _file(tmp_path / "outputs" / "a" / "x", size=3000, age=4 * 3600)
    newer = _file(tmp_path / "outputs" / "b" / "x", size=3000, age=3 * 3600)
    young = _file(tmp_path / "outputs" / "c" / "x", size=1000, age=GRACE_SECONDS / 2)
    in_use = InUse()
    with in_use.claim(held):
        removed = Sweeper(tmp_path, store, Retention(None, 5000), in_use=in_use).sweep()
    assert held.exists(), "the oldest entry, but a request still reads it"
    # 11000 bytes against 5000: without the held 4000 counted, removing `older` would do.
    assert not older.exists() and not newer.exists()
    assert young.exists()
    assert (removed.uploads, removed.outputs, removed.bytes) == (0, 2, 6000)


def test_a_released_claim_leaves_the_entry_to_the_sweep(tmp_path: Path, store: JobStore) -> None:
    upload = _file(tmp_path / "uploads" / "done" / "photo.jpg", size=4000, age=5 * 3600)
    in_use = InUse()
    sweeper = Sweeper(tmp_path, store, Retention(3600.0, None), in_use=in_use)
    with pytest.raises(RuntimeError), in_use.claim(upload):
        raise RuntimeError("the request failed")
    assert sweeper.sweep().uploads == 1
    assert not upload.exists()


@pytest.mark.parametrize(
    "claimed",
    [
        "uploads/legacy/r1/photo.jpg",  # a file deep inside the entry
        "uploads/legacy/r1",  # one request's folder inside the entry
        "uploads/legacy",  # the entry itself
        "uploads",  # a folder holding the entry
    ],
)
def test_an_entry_holding_or_held_by_a_claimed_path_stays(
    tmp_path: Path, store: JobStore, claimed: str
) -> None:
    _file(tmp_path / "uploads" / "legacy" / "r1" / "photo.jpg", age=DAY)
    entry = tmp_path / "uploads" / "legacy"
    os.utime(entry, (time.time() - DAY, time.time() - DAY))
    in_use = InUse()
    with in_use.claim(tmp_path / claimed):
        assert not Sweeper(tmp_path, store, Retention(3600.0, None), in_use=in_use).sweep()
    assert entry.exists()


def test_a_path_claimed_after_the_sweep_listed_it_stays(tmp_path: Path, store: JobStore) -> None:
    upload = _file(tmp_path / "uploads" / "late" / "photo.jpg", age=3 * DAY)
    in_use = InUse()

    class ClaimedMidSweep(Sweeper):
        """A request accepted between the sweep's listing and its removals."""

        def _entries(self):  # type: ignore[no-untyped-def]
            listed = super()._entries()
            late_claim.__enter__()
            return listed

    late_claim = in_use.claim(upload)
    try:
        removed = ClaimedMidSweep(tmp_path, store, Retention(DAY, None), in_use=in_use).sweep()
    finally:
        late_claim.__exit__(None, None, None)
    assert not removed and upload.exists()


@pytest.mark.parametrize("folder", ["uploads", "outputs", OUTPUTS_FOLDER, INPUTS_FOLDER])
def test_a_sweep_removes_what_an_interrupted_sweep_set_aside_and_never_counts_it(
    tmp_path: Path, store: JobStore, folder: str
) -> None:
    leftover = _file(tmp_path / folder / ".removing-0123" / "frame.png", age=3 * DAY).parent
    removed = Sweeper(tmp_path, store, Retention(DAY, None), InUse()).sweep()
    assert not leftover.exists()
    assert not removed, "what an earlier sweep set aside was counted then"


def test_a_leftover_that_cannot_be_deleted_is_logged_and_tried_again(
    tmp_path: Path,
    store: JobStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A file that resists deletion (stood in for: the tests run as root, whom permissions
    do not stop) is said in the log, not passed over in silence."""
    leftover = _file(tmp_path / "outputs" / ".removing-0123" / "frame.png")
    real_unlink = os.unlink

    def resisting(path: str, *args: object, **kwargs: object) -> None:
        if os.fspath(path) == leftover.name:
            raise PermissionError(errno.EPERM, "Operation not permitted", path)
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", resisting)
    with caplog.at_level(logging.WARNING, logger="ffpipe.server"):
        Sweeper(tmp_path, store, Retention(DAY, None), InUse()).sweep()
    assert leftover.exists()
    assert ".removing-0123" in caplog.text


def test_an_entry_that_cannot_be_set_aside_is_left_and_logged_never_deleted_under_the_lock(
    tmp_path: Path,
    store: JobStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``uploads`` on another disk than its set-aside place: the rename fails with EXDEV
    (stood in for, as no second file system exists here). Deleting the entry in place would
    hold the in-use lock, which requests take on the server's event loop, for as long as that
    takes; every delete is watched to see that a request could claim meanwhile."""
    upload = _file(tmp_path / "uploads" / "abc" / "video.mp4", age=3 * DAY)
    in_use = InUse()
    real_delete = retention._delete
    claims_blocked: list[bool] = []

    def cross_device(source: object, destination: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def watched_delete(path: Path) -> None:
        other_request = threading.Thread(target=in_use.holds, args=(tmp_path / "x",))
        other_request.start()
        other_request.join(5.0)
        claims_blocked.append(other_request.is_alive())
        real_delete(path)

    monkeypatch.setattr(os, "rename", cross_device)
    monkeypatch.setattr(retention, "_delete", watched_delete)
    with caplog.at_level(logging.WARNING, logger="ffpipe.server"):
        removed = Sweeper(tmp_path, store, Retention(DAY, None), in_use).sweep()
    assert True not in claims_blocked
    assert upload.exists(), "left for a later sweep, not deleted while requests wait"
    assert not removed
    assert str(upload.parent) in caplog.text


@pytest.mark.parametrize("retained", [Retention(3600.0, None), Retention(None, 500)])
def test_an_old_folder_whose_file_was_just_touched_is_new(
    tmp_path: Path, store: JobStore, retained: Retention
) -> None:
    """gradio hands out an output it already holds (the same bytes as an earlier answer) by
    touching the file in its old folder: the folder's own time stays old."""
    answer = _file(tmp_path / "uploads" / "0f3a" / "out.png", age=5 * 3600)
    os.utime(answer)
    assert not Sweeper(tmp_path, store, retained, InUse()).sweep()
    assert answer.exists()


def test_a_sweeper_and_a_guard_need_the_registry_of_what_requests_hold(
    tmp_path: Path, store: JobStore
) -> None:
    with pytest.raises(TypeError):
        Sweeper(tmp_path, store, Retention(DAY, None))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        EndpointGuard(_refuse, [], roots=[tmp_path])  # type: ignore[call-arg]
    with pytest.raises(TypeError):  # without it, any FileData path would pass
        EndpointGuard(_refuse, [], roots=[tmp_path], in_use=InUse())  # type: ignore[call-arg]


async def _refuse(scope: object, receive: object, send: object) -> None:
    raise AssertionError("never called")


SWEEP_MID_RUN = '''
"""`ffpipe serve` that sweeps while a request runs (see tests/test_server_retention.py)."""
import argparse
import time
from pathlib import Path

from ffpipe.engine.builtin import BuiltinEngine
from ffpipe.server.app import start
from ffpipe.server.settings import ServerSettings


class SweepMidRun(BuiltinEngine):
    """A target named ``hold-NAME*`` says it runs (``running-NAME``), waits for the test's
    ``go-NAME``, then the server's own sweeper sweeps (``swept-NAME`` says what went) before
    the builtin engine reads the target."""

    signals = None
    sweeper = None

    def run(self, op, params, context):
        name = Path(params.target_media).stem
        if name.startswith("hold-"):
            name = name.removeprefix("hold-")
            (self.signals / f"running-{name}").touch()
            deadline = time.monotonic() + 120
            while not (self.signals / f"go-{name}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            (self.signals / f"swept-{name}").write_text(self.sweeper.sweep().describe())
        return super().run(op, params, context)


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int)
parser.add_argument("--data-dir", type=Path)
args = parser.parse_args()
engine = SweepMidRun()
engine.signals = args.data_dir.resolve().parent
settings = ServerSettings(data_dir=args.data_dir.resolve(), port=args.port, retention="1MB")
server = start(settings, engine)
engine.sweeper = server.sweeper
print(f"ffpipe serve (sweeps mid-run): listening on {server.url}", flush=True)
try:
    server.wait()
except KeyboardInterrupt:
    server.close()
'''
MEDIA = Path(__file__).resolve().parent.parent / "media"
ASTRONAUT, GRACE_HOPPER = MEDIA / "astronaut.jpg", MEDIA / "grace_hopper.jpg"
HOURS_AGO = 3 * 3600.0


@pytest.fixture(scope="module")
def sweeping_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """What is injected, and why: a sweep runs every few minutes, so one cannot be made to fall
    inside a request from outside; the launcher's engine runs the server's own sweeper when the
    test says so, while a request runs, then runs the builtin engine for real."""
    folder = tmp_path_factory.mktemp("sweeping")
    launcher = folder / "serve_sweeping.py"
    launcher.write_text(SWEEP_MID_RUN)
    handle = start_server(folder, program=[str(launcher)])
    yield handle
    assert handle.stop() == 0


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


def _backdate(*paths: Path) -> None:
    """Make ``paths`` and everything in them old (a sweep dates a folder by its newest file)."""
    when = time.time() - HOURS_AGO
    for path in paths:
        for folder, _subfolders, names in os.walk(path, topdown=False):
            for name in names:
                os.utime(os.path.join(folder, name), (when, when))
            os.utime(folder, (when, when))


def _removable(server: ServerHandle, name: str) -> Path:
    """An old output folder no request holds, younger than the backdated uploads: a size limit
    removes it only after them, unless it keeps them."""
    return _file(server.data_dir / "outputs" / name / "out.png", 2_000_000, HOURS_AGO / 2)


def test_a_sweep_under_size_pressure_spares_gradio_requests_waiting_and_running(
    sweeping_server: ServerHandle, tmp_path: Path
) -> None:
    signals, uploads = sweeping_server.data_dir.parent, sweeping_server.data_dir / "uploads"
    held, queued = tmp_path / "hold-gradio.jpg", tmp_path / "queued.jpg"
    shutil.copyfile(ASTRONAUT, held)
    shutil.copyfile(GRACE_HOPPER, queued)
    client = Client(sweeping_server.url, verbose=False, download_files=str(tmp_path / "got"))
    running = client.submit(target_media=handle_file(str(held)), api_name="/enhance")
    _wait_for((signals / "running-gradio").exists, "the first request to run")
    waiting = client.submit(target_media=handle_file(str(queued)), api_name="/enhance")
    _wait_for(lambda: waiting.status().code == Status.IN_QUEUE, "the second request to queue")
    requests_uploads = {photo.parent for photo in uploads.glob("*/*.jpg")}
    assert len(requests_uploads) == 2
    _backdate(*requests_uploads)
    removable = _removable(sweeping_server, "old-gradio")

    (signals / "go-gradio").touch()

    for job in (running, waiting):
        primary, result, _extras = job.result(timeout=120)
        assert Path(primary).is_file() and result["ffpipe_files"][0]["key"] == "output"
    assert not removable.exists(), "the size limit still removes what no request holds"
    assert "1 output folder(s)" in (signals / "swept-gradio").read_text()
    assert all(upload.is_dir() for upload in requests_uploads)

    # Once answered, neither gradio's queue nor the requests hold their uploads any longer: a
    # later sweep (inside a later request, of other bytes, so another upload) takes them.
    later = tmp_path / "hold-later.jpg"
    Image.open(ASTRONAUT).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(later)
    after = client.submit(target_media=handle_file(str(later)), api_name="/enhance")
    _wait_for((signals / "running-later").exists, "a later request to run")
    _removable(sweeping_server, "old-gradio-later")
    (signals / "go-later").touch()
    after.result(timeout=120)
    assert not any(upload.exists() for upload in requests_uploads), (
        "answered requests still count as in use: " + (signals / "swept-later").read_text()
    )


def test_a_sweep_under_size_pressure_spares_a_running_legacy_request(
    sweeping_server: ServerHandle,
) -> None:
    signals, legacy = sweeping_server.data_dir.parent, sweeping_server.data_dir / "uploads/legacy"
    encoded = base64.b64encode(ASTRONAUT.read_bytes()).decode()
    file = {"name": "hold-legacy.jpg", "data": encoded}
    body = {"fn_index": ENDPOINT_ORDER.index("enhance"), "data": [file]}
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            httpx.post, f"{sweeping_server.url}api/predict", json=body, timeout=120
        )
        _wait_for((signals / "running-legacy").exists, "the legacy request to run")
        _backdate(legacy)
        removable = _removable(sweeping_server, "old-legacy")

        (signals / "go-legacy").touch()

        assert answer.result().status_code == 200, answer.result().text
    assert not removable.exists()
    assert "1 output folder(s)" in (signals / "swept-legacy").read_text()
