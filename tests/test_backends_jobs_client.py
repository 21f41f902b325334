"""JobsClient against a real job API on loopback: submit, wait, collect, cancel, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from ffpipe.backends.jobs_client import (
    JobFailedError,
    JobNotFoundError,
    JobsClient,
    JobsClientError,
    JobsUnavailableError,
    JobWaitTimeout,
)
from ffpipe.catalog import JobStatus
from ffpipe.errors import UserError

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, frame_engine, running_system) -> Iterator[str]:
    data = tmp_path_factory.mktemp("jobs-client")
    engine = frame_engine(frames=30, frame_seconds=0.01)
    with running_system(data, engine, progress_interval=0.0) as (_system, base):
        yield base


@pytest.fixture
def client(url: str) -> Iterator[JobsClient]:
    with JobsClient(url) as opened:
        yield opened


def test_submit_wait_and_collect(client: JobsClient, tmp_path: Path) -> None:
    submitted = client.submit(
        "enhance", {"face_enhancer_blend": 0.7}, {"target_media": GRACE}, job_id="c-1"
    )
    assert submitted.job_id == "c-1" and submitted.status in ("queued", "processing")
    seen: list[JobStatus] = []
    final = client.wait("c-1", poll_seconds=0.05, on_status=seen.append)
    assert final.status == "completed" and seen[-1] == final
    assert [status.progress for status in seen] == sorted(status.progress for status in seen)
    files = client.result("c-1", tmp_path / "out")
    assert list(files) == ["output"] and files["output"].suffix == ".png"
    assert cv2.imread(str(files["output"])).shape == (600, 512, 3)


def test_params_only_submission_is_checked_by_the_server(client: JobsClient) -> None:
    with pytest.raises(JobsClientError, match=r"422.*target_media") as caught:
        client.submit("detect", {"face_detector_score": 0.5})
    assert caught.value.status_code == 422
    assert isinstance(caught.value, UserError)


def test_list_and_cancel(client: JobsClient) -> None:
    client.submit("detect", {}, {"target_media": ASTRONAUT}, job_id="c-2", priority=1)
    client.submit("detect", {}, {"target_media": ASTRONAUT}, job_id="c-3", priority=1)
    cancelled = client.cancel("c-3")
    assert cancelled.status in ("cancelled", "processing")
    assert client.wait("c-3", poll_seconds=0.05).status == "cancelled"
    listed = {job["job_id"]: job for job in client.list(op="detect")}
    assert {"c-2", "c-3"} <= set(listed) and listed["c-2"]["priority"] == 1
    assert client.wait("c-2", poll_seconds=0.05).status == "completed"
    with pytest.raises(JobsClientError, match="cancelled, it has no result"):
        client.result("c-3", Path("unused"))


def test_duplicate_and_missing(client: JobsClient) -> None:
    client.submit("detect", {}, {"target_media": ASTRONAUT}, job_id="c-dup")
    with pytest.raises(JobsClientError, match="409: duplicate job_id"):
        client.submit("detect", {}, {"target_media": ASTRONAUT}, job_id="c-dup")
    with pytest.raises(JobNotFoundError):
        client.status("nobody")


def test_wait_timeout(client: JobsClient) -> None:
    client.submit("enhance", {}, {"target_media": ASTRONAUT}, job_id="c-slow", priority=10)
    with pytest.raises(JobWaitTimeout, match="c-slow"):
        client.wait("c-slow", timeout=0.01, poll_seconds=0.01)
    client.cancel("c-slow")


def test_unreachable_server_is_a_transient_error(free_port) -> None:
    with (
        JobsClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client,
        pytest.raises(JobsUnavailableError, match="cannot reach"),
    ):
        client.status("x")


def test_submit_or_reattach_submits_once(client: JobsClient) -> None:
    first, submitted = client.submit_or_reattach("c-re", "detect", {}, {"target_media": GRACE})
    assert submitted and first.job_id == "c-re"
    again, submitted_again = client.submit_or_reattach(
        "c-re", "detect", {}, {"target_media": GRACE}
    )
    assert not submitted_again and again.job_id == "c-re"
    assert client.wait("c-re", poll_seconds=0.05).result["attempts"] == 1
    assert [job["job_id"] for job in client.list(op="detect")].count("c-re") == 1


def test_run_is_one_async_step(client: JobsClient, tmp_path: Path) -> None:
    seen: list[tuple[float, str]] = []
    files, result = client.run(
        "enhance",
        {"target_media": str(ASTRONAUT), "face_enhancer_blend": 0.4},
        tmp_path,
        job_id="c-run",
        progress=lambda fraction, text: seen.append((fraction, text)),
        poll_seconds=0.05,
    )
    assert files["output"].exists() and result == {
        "op": "enhance",
        "frames": 30,
        "substitutions": [],
    }
    assert seen[-1] == (1.0, "job c-run completed")
    client.submit("enhance", {}, {"target_media": ASTRONAUT}, job_id="c-run-x", priority=10)
    client.cancel("c-run-x")
    with pytest.raises(JobFailedError, match="job c-run-x cancelled"):
        client.run("enhance", {"target_media": str(ASTRONAUT)}, tmp_path, job_id="c-run-x")


def test_an_output_name_with_a_folder_is_refused(tmp_path: Path) -> None:
    # A loopback stub stands in for a hostile server: ffpipe serve never sends such a name.
    import http.server
    import json
    import threading

    status = {
        "job_id": "j1",
        "status": "completed",
        "progress": 1.0,
        "estimated_time": 0,
        "result": {"files": {"../escaped": "unused"}, "result": {}},
    }

    class Hostile(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(status).encode() if self.path == "/api/jobs/j1" else b"payload"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    listener = http.server.HTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    dest = tmp_path / "deep" / "dest"
    try:
        with (
            JobsClient(f"http://127.0.0.1:{listener.server_port}") as client,
            pytest.raises(JobsClientError, match="not a plain name"),
        ):
            client.result("j1", dest)
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join()
    assert not (tmp_path / "deep" / "escaped").exists()
