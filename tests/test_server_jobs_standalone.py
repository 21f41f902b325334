"""kill -9 the job server with queued and processing jobs, start it again: every job completes.

The server is the real entry point (``python -m ffpipe.server.jobs_app``) in a subprocess on
loopback. The first test's engine is the test ``FrameEngine`` (the ``frame_engine`` fixture) so that
a job is reliably mid-way when the process is killed; the last runs the catalog's asynchronous
workflow end to end on the builtin engine with a 20 s video.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ffpipe.backends.jobs_client import JobsClient
from ffpipe.catalog import JobStatus
from ffpipe.engine.builtin.video import probe
from ffpipe.media import requires_job
from ffpipe.server.jobs.webhooks import SIGNATURE_HEADER, verify

pytestmark = pytest.mark.slow  # starts job servers as processes

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def job_server(wait_until, job_secret: bytes):
    """``with job_server(data, port, frames=..., ...) as process``: the standalone job server."""
    return functools.partial(_job_server, wait_until, job_secret)


@contextmanager
def _job_server(
    wait_until,
    secret: bytes,
    data: Path,
    port: int,
    frames: int = 0,
    frame_seconds: float = 0.0,
    engine: str = "_server_jobs_support:FrameEngine",
) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "FFPIPE_TEST_FRAMES": str(frames),
        "FFPIPE_TEST_FRAME_SECONDS": str(frame_seconds),
    }
    command = [
        sys.executable, "-m", "ffpipe.server.jobs_app",
        "--data", str(data), "--port", str(port),
        "--engine", engine,
        "--secret", secret.decode(), "--allow-callback", "127.0.0.1", "--retry-base", "0.2",
    ]  # fmt: skip
    log_path = data.parent / f"server-{len(list(data.parent.glob('server-*.log')))}.log"
    log = log_path.open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {log_path.read_text()}")
            try:
                return httpx.get(f"{url}/api/jobs", trust_env=False, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, interval=0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        log.close()


def test_jobs_survive_kill_9_and_all_complete(
    tmp_path: Path, free_port, hook_listener, job_secret: bytes, job_server, wait_until
) -> None:
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with hook_listener() as listener, JobsClient(url) as client:
        with job_server(data, port, frames=400, frame_seconds=0.02) as first:
            for index, image in enumerate([ASTRONAUT, GRACE, ASTRONAUT, GRACE]):
                client.submit(
                    "enhance",
                    {"face_enhancer_blend": 0.5},
                    {"target_media": image},
                    job_id=f"job-{index}",
                    priority=5,
                    callback_url=listener.url,
                )
            wait_until(lambda: client.status("job-0").progress > 0.05)
            states = {f"job-{i}": client.status(f"job-{i}").status for i in range(4)}
            assert states == {
                "job-0": "processing",
                "job-1": "queued",
                "job-2": "queued",
                "job-3": "queued",
            }
            first.kill()  # SIGKILL: no chance to clean up
            first.wait(10)

        with job_server(data, port, frames=3, frame_seconds=0.0):
            finals = {f"job-{i}": client.wait(f"job-{i}", poll_seconds=0.1) for i in range(4)}
            received = listener.wait_for(4)

    assert {job_id: status.status for job_id, status in finals.items()} == dict.fromkeys(
        finals, "completed"
    )
    rerun = finals["job-0"].result
    assert rerun["attempts"] == 2 and "interrupted" in rerun["notes"][0]
    assert all(finals[f"job-{i}"].result["attempts"] == 1 for i in (1, 2, 3))
    documents = {}
    for hook in received:
        assert verify(hook.body, job_secret, hook.headers[SIGNATURE_HEADER])
        document = json.loads(hook.body)
        documents[document["job_id"]] = document
    assert set(documents) == set(finals)
    assert all(document["status"] == "completed" for document in documents.values())


@pytest.mark.slow
def test_a_20_second_video_job_end_to_end_through_a_restart(
    tmp_path: Path, clip20, free_port, job_secret: bytes, hook_listener, job_server, wait_until
) -> None:
    video = clip20
    assert requires_job(video), "a 20 s video must run as a job"
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Upscaling 100 frames to 720p keeps the job running for seconds, long enough to be killed
    # mid-way; the fastest preset keeps the two encodes (killed and complete) short.
    params = {"output_video_resolution": "1280x720", "output_video_preset": "ultrafast"}
    shown: list[JobStatus] = []
    with hook_listener() as listener, JobsClient(url) as client:
        with job_server(data, port, engine="ffpipe.engine.builtin:BuiltinEngine") as first:
            client.submit(
                "video", params, {"target_media": video}, job_id="clip", callback_url=listener.url
            )
            wait_until(lambda: client.status("clip").progress >= 0.05, timeout=120, interval=0.05)
            first.kill()
            first.wait(10)
        with job_server(data, port, engine="ffpipe.engine.builtin:BuiltinEngine"):
            final = client.wait("clip", timeout=300, poll_seconds=0.1, on_status=shown.append)
            files = client.result("clip", tmp_path / "collected")
            [hook] = listener.wait_for(1)

    assert final.status == "completed", final.result
    running = [status for status in shown if status.status == "processing" and status.progress]
    assert running, "progress was shown while it ran"
    assert any(status.estimated_time is not None for status in running)
    assert final.result["attempts"] == 2 and "interrupted" in final.result["notes"][0]
    assert verify(hook.body, job_secret, hook.headers[SIGNATURE_HEADER])
    assert json.loads(hook.body)["status"] == "completed"
    info = probe(files["output"])
    assert (info.width, info.height) == (1280, 720)
    assert abs(info.duration - 20.0) < 0.5
