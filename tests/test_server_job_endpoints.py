"""Jobs on `ffpipe serve` itself: the gradio job endpoints, ``/api/jobs`` and the gradio backend's
job mode, against a real server subprocess on a free loopback port (nothing mocked)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from ffpipe.backends.base import StepRequest
from ffpipe.backends.gradio import GradioBackend

if TYPE_CHECKING:
    from bench.serving import ServerHandle

MEDIA = Path(__file__).resolve().parent.parent / "media"
PHOTO = MEDIA / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Client:
    return Client(server.url, verbose=False, download_files=False)


def _wait_final(client: Client, job_id: str, limit: float = 60.0) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = client.predict(job_id, api_name="/job_status")
        if status["status"] in {"completed", "failed", "cancelled"}:
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {limit} s")


def test_gradio_job_endpoints_submit_and_report(client: Client, server: ServerHandle) -> None:
    submitted = client.predict(
        op="detect",
        params_json="{}",
        target_media=handle_file(str(PHOTO)),
        priority=7,
        api_name="/submit_job",
    )
    assert submitted["status"] in {"queued", "processing", "completed"}
    final = _wait_final(client, submitted["job_id"])
    assert final["status"] == "completed" and final["progress"] == 1.0
    # The same job through REST, in the catalog's Job Status Response shape.
    rest = httpx.get(f"{server.url}api/jobs/{submitted['job_id']}", timeout=10).json()
    assert set(rest) >= {"job_id", "status", "progress", "estimated_time", "result"}
    assert rest["status"] == "completed"


@pytest.mark.parametrize("with_meta", [False, True])
def test_gradio_job_endpoints_refuse_paths_outside_the_server(
    server: ServerHandle, with_meta: bool
) -> None:
    # A raw HTTP client (not gradio_client, which would upload its own local file) names a
    # server-side path directly: the server must refuse to read it.
    file_data: dict = {"path": "/etc/passwd"}
    if with_meta:
        file_data["meta"] = {"_type": "gradio.FileData"}
    data = ["detect", "{}", file_data, None, None, 5, None]
    posted = httpx.post(f"{server.url}gradio_api/call/submit_job", json={"data": data}, timeout=60)
    # With gradio's FileData marker the server's route guard refuses the call before gradio
    # would move the file; without it, the endpoint's own check does, in the event stream.
    # Either way: a refusal saying why, no completion, no content, no copy.
    if with_meta:
        assert posted.status_code == 403, posted.text
        answer = posted.text
    else:
        assert posted.status_code == 200, posted.text
        event_id = posted.json()["event_id"]
        answer = httpx.get(f"{server.url}gradio_api/call/submit_job/{event_id}", timeout=60).text
        assert "event: error" in answer and "event: complete" not in answer
    assert "file not allowed" in answer
    assert "root:" not in answer
    assert not list(server.data_dir.rglob("passwd"))


def test_unknown_job_is_an_error_in_the_catalog_shape(client: Client) -> None:
    with pytest.raises(AppError) as raised:
        client.predict("no-such-job", api_name="/job_status")
    shape = json.loads(str(raised.value.args[0]))
    assert set(shape) == {"error", "detail"}


def test_gradio_backend_runs_a_step_as_a_job_and_reattaches(
    server: ServerHandle, tmp_path: Path
) -> None:
    backend = GradioBackend(server.url)
    assert backend.supports_jobs()
    seen: list[float] = []
    request = StepRequest(
        op="detect",
        params={"target_media": str(PHOTO)},
        workdir=tmp_path / "first",
        progress=lambda fraction, _stage: seen.append(fraction),
    )
    (tmp_path / "first").mkdir()
    job_id = "ffpipe-test-reattach-1"
    first = backend.run_job(request, job_id, {"priority": 9})
    faces = json.loads(first.files["output"].read_text())
    assert len(faces["faces"]) == 1 and seen
    # A second run with the same id reattaches to the finished job instead of submitting again.
    (tmp_path / "second").mkdir()
    again = backend.run_job(
        StepRequest(op="detect", params={"target_media": str(PHOTO)}, workdir=tmp_path / "second"),
        job_id,
        {},
    )
    assert again.files["output"].read_bytes() == first.files["output"].read_bytes()
    listed = httpx.get(f"{server.url}api/jobs", timeout=10).json()
    ids = [job["job_id"] for job in (listed["jobs"] if isinstance(listed, dict) else listed)]
    assert ids.count(job_id) == 1
    backend.close()
