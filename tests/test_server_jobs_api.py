"""The REST API under /api/jobs over real HTTP (uvicorn on loopback), and the Gradio functions."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from ffpipe.server.errors import RequestError
from ffpipe.server.jobs.service import JobService
from ffpipe.server.jobs.system import JobSystem
from ffpipe.server.protocols.gradio_jobs import submit_paths

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"

STATUS_KEYS = {"job_id", "status", "progress", "estimated_time", "result"}
ASTRONAUT_B64 = base64.b64encode(ASTRONAUT.read_bytes()).decode()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, running_system, frame_engine
) -> Iterator[tuple[JobSystem, str]]:
    data = tmp_path_factory.mktemp("jobs-api")
    with running_system(data, frame_engine(frames=4, frame_seconds=0.01), workers=2) as running:
        yield running


@pytest.fixture
def http(server: tuple[JobSystem, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[1], timeout=30, trust_env=False) as client:
        yield client


def _json_submission(**overrides: object) -> dict[str, object]:
    return {
        "op": "enhance",
        "params": {"face_enhancer_blend": 0.5},
        "files": {"target_media": {"name": "astronaut.jpg", "data": ASTRONAUT_B64}},
        **overrides,
    }


@pytest.fixture(scope="session")
def wait_final(wait_until):
    """``wait_final(http, job_id)``: the job's status document once it has finished."""

    def wait(http: httpx.Client, job_id: str) -> dict:
        return wait_until(
            lambda: (
                (doc := http.get(f"/api/jobs/{job_id}").json())["status"]
                in ("completed", "failed", "cancelled")
                and doc
            )
        )

    return wait


def test_json_submission_runs_and_its_result_is_collected(http: httpx.Client, wait_final) -> None:
    answer = http.post("/api/jobs", json=_json_submission(job_id="json-1", priority=7))
    assert answer.status_code == 202
    status = answer.json()
    assert set(status) == STATUS_KEYS
    assert status["job_id"] == "json-1" and status["status"] in ("queued", "processing")
    final = wait_final(http, "json-1")
    assert final["status"] == "completed" and final["progress"] == 1.0
    assert final["estimated_time"] == 0
    assert final["result"]["files"] == {"output": "/api/jobs/json-1/result/output"}
    assert final["result"]["result"]["frames"] == 4 and final["result"]["attempts"] == 1

    collected = http.get("/api/jobs/json-1/result").json()
    [item] = collected["data"]
    assert (item["name"], item["is_file"], item["orig_name"]) == ("output", True, "output.png")
    image = cv2.imdecode(np.frombuffer(base64.b64decode(item["data"]), np.uint8), 1)
    assert image.shape == (512, 512, 3)
    raw = http.get("/api/jobs/json-1/result/output")
    assert raw.status_code == 200 and raw.content == base64.b64decode(item["data"])


def test_multipart_submission_with_generated_id(http: httpx.Client, wait_final) -> None:
    with ASTRONAUT.open("rb") as handle:
        answer = http.post(
            "/api/jobs",
            data={"op": "detect", "params": json.dumps({"face_detector_score": 0.4})},
            files={"target_media": ("a.jpg", handle, "image/jpeg")},
        )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    assert len(job_id) == 36
    assert wait_final(http, job_id)["status"] == "completed"


def _malformed() -> dict[str, tuple[dict, str]]:
    image = {"target_media": {"name": "a.jpg", "data": ASTRONAUT_B64}}
    sub = _json_submission
    enhance_error = "invalid parameters"
    return {
        "not json": (
            {"content": b"{oops", "headers": {"content-type": "application/json"}},
            "malformed request body",
        ),
        "json array": ({"json": [1, 2]}, "malformed request body"),
        "unknown op": ({"json": sub(op="teleport")}, "unknown op"),
        "priority 11": ({"json": sub(priority=11)}, "invalid job options"),
        "bad job id": ({"json": sub(job_id="../x")}, "invalid job options"),
        "ftp callback": ({"json": sub(callback_url="ftp://h/x")}, "invalid job options"),
        "unclosed bracket callback": (
            {"json": sub(callback_url="http://[::1/")},
            "invalid job options",
        ),
        "control character callback": (
            {"json": sub(callback_url="http://127.0.0.1/a\x01b")},
            "invalid job options",
        ),
        "bad port callback": (
            {"json": sub(callback_url="http://127.0.0.1:99999/x")},
            "invalid job options",
        ),
        "form callback without host": (
            {"data": {"op": "detect", "callback_url": "http:///x"}},
            "invalid job options",
        ),
        "file as value": (
            {"json": sub(params={"target_media": "/etc/passwd"})},
            "files must be uploaded",
        ),
        "bad base64": ({"json": sub(files={"target_media": {"data": "%%%"}})}, "malformed files"),
        "file not object": ({"json": sub(files={"target_media": "x"})}, "malformed files"),
        "unexpected file": (
            {"json": sub(files={**image, "mask": image["target_media"]})},
            "unexpected files",
        ),
        "param out of range": ({"json": sub(params={"face_enhancer_blend": 5})}, enhance_error),
        "unknown param": ({"json": sub(params={"colour": "red"})}, enhance_error),
        "params not object": ({"json": sub(params=[1])}, "malformed params"),
        "missing file": ({"json": sub(files={})}, enhance_error),
        "unknown field": ({"json": sub(colour=1)}, "unknown fields"),
        "plain text": (
            {"content": b"hi", "headers": {"content-type": "text/plain"}},
            "unsupported content type",
        ),
        "form params not json": ({"data": {"op": "detect", "params": "{"}}, "malformed params"),
        "form with unknown field": ({"data": {"op": "detect", "colour": "red"}}, "unknown fields"),
        "broken multipart": (
            {
                "content": b"--xyz\r\nContent-Disposition: form-data\r\n\r\ndetect\r\n--xyz--\r\n",
                "headers": {"content-type": "multipart/form-data; boundary=xyz"},
            },
            "malformed form",
        ),
    }


MALFORMED = _malformed()


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_submissions_get_the_catalog_error_shape(http: httpx.Client, case: str) -> None:
    request_kwargs, error = MALFORMED[case]
    answer = http.post("/api/jobs", **request_kwargs)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert set(body) == {"error", "detail"} and body["detail"]
    assert body["error"] == error


def test_conflicts_and_missing_jobs(http: httpx.Client, wait_final) -> None:
    assert http.post("/api/jobs", json=_json_submission(job_id="dup")).status_code == 202
    again = http.post("/api/jobs", json=_json_submission(job_id="dup"))
    assert again.status_code == 409 and again.json()["error"] == "duplicate job_id"
    for answer in (
        http.get("/api/jobs/nope"),
        http.post("/api/jobs/nope/cancel"),
        http.get("/api/jobs/nope/result"),
    ):
        assert answer.status_code == 404 and answer.json()["error"] == "job not found"
    wait_final(http, "dup")
    finished = http.post("/api/jobs/dup/cancel")
    assert finished.status_code == 409 and finished.json()["error"] == "job already finished"
    assert http.get("/api/jobs/dup/result/nothing").status_code == 404
    for answer in (http.get("/api/jobs/dup/extra/path"), http.delete("/api/jobs/dup")):
        assert answer.status_code == 404 and answer.json()["error"] == "no such route"
    bad_filter = http.get("/api/jobs", params={"status": "sleeping"})
    assert bad_filter.status_code == 422 and set(bad_filter.json()) == {"error", "detail"}


def test_list_filters(http: httpx.Client, wait_final) -> None:
    http.post("/api/jobs", json=_json_submission(job_id="listed", op="detect", params={}))
    wait_final(http, "listed")
    jobs = http.get("/api/jobs", params={"op": "detect", "status": "completed"}).json()["jobs"]
    assert "listed" in [job["job_id"] for job in jobs]
    assert all(job["op"] == "detect" and job["status"] == "completed" for job in jobs)
    assert len(http.get("/api/jobs", params={"limit": 1}).json()["jobs"]) == 1


def test_cancel_queued_and_processing_over_rest(
    tmp_path: Path, frame_engine, running_system, wait_until, wait_final
) -> None:
    engine = frame_engine(frames=500, frame_seconds=0.02)
    with (
        running_system(tmp_path, engine, workers=1, progress_interval=0.0) as (_system, url),
        httpx.Client(base_url=url, timeout=30, trust_env=False) as http,
    ):
        http.post("/api/jobs", json=_json_submission(job_id="running"))
        http.post("/api/jobs", json=_json_submission(job_id="waiting"))
        wait_until(lambda: http.get("/api/jobs/running").json()["progress"] > 0)
        queued = http.post("/api/jobs/waiting/cancel").json()
        assert queued["status"] == "cancelled"
        http.post("/api/jobs/running/cancel")
        final = wait_final(http, "running")
        assert final["status"] == "cancelled" and final["progress"] < 0.5
        result = http.get("/api/jobs/running/result")
        assert result.status_code == 409 and result.json()["error"] == "job has no result"
    assert engine.started == ["astronaut.jpg"]


def test_cancel_is_authoritative_when_it_races_the_end_of_a_job(
    tmp_path: Path, running_system, frame_engine, wait_final
) -> None:
    """Cancels land at random points of short jobs: before, during and after they finish."""
    engine = frame_engine(frames=3, frame_seconds=0.01)
    rng = random.Random(13)
    with (
        running_system(tmp_path, engine, workers=1, progress_interval=0.0) as (_system, url),
        httpx.Client(base_url=url, timeout=30, trust_env=False) as http,
    ):
        answers = []
        for index in range(15):
            job_id = f"race-{index}"
            assert http.post("/api/jobs", json=_json_submission(job_id=job_id)).status_code == 202
            time.sleep(0.0 if index == 0 else rng.uniform(0.0, 0.2))
            answer = http.post(f"/api/jobs/{job_id}/cancel")
            final = wait_final(http, job_id)
            answers.append((answer.status_code, answer.json().get("status"), final["status"]))
    for code, answered, final in answers:
        if code == 200:
            assert (answered, final) == ("cancelled", "cancelled")
        else:
            assert (code, final) == (409, "completed")
    assert {code for code, _, _ in answers} == {200, 409}, "both outcomes were exercised"


def test_status_shows_progress_and_estimated_time(
    tmp_path: Path, running_system, wait_until, frame_engine
) -> None:
    with (
        running_system(
            tmp_path, frame_engine(frames=100, frame_seconds=0.03), progress_interval=0.0
        ) as (_system, url),
        httpx.Client(base_url=url, timeout=30, trust_env=False) as http,
    ):
        http.post("/api/jobs", json=_json_submission(job_id="eta"))
        status = wait_until(
            lambda: (doc := http.get("/api/jobs/eta").json())["progress"] >= 0.1 and doc
        )
        assert status["status"] == "processing"
        assert 0 < status["estimated_time"] < 60
        http.post("/api/jobs/eta/cancel")


def test_uploads_over_the_limit_are_refused(tmp_path: Path, running_system, frame_engine) -> None:
    with (
        running_system(tmp_path, frame_engine(), max_upload_bytes=50_000) as (_system, url),
        httpx.Client(base_url=url, timeout=30, trust_env=False) as http,
    ):
        answer = http.post("/api/jobs", json=_json_submission())
        assert answer.status_code == 413 and answer.json()["error"] == "upload too large"
        with ASTRONAUT.open("rb") as handle:
            multipart = http.post(
                "/api/jobs", data={"op": "enhance"}, files={"target_media": handle}
            )
        assert multipart.status_code == 413
        assert not list((tmp_path / "job-inputs").glob("*/*")), "nothing staged is left behind"


def test_token_is_required_when_configured(tmp_path: Path, running_system, frame_engine) -> None:
    with running_system(tmp_path, frame_engine(), token="s3cret") as (_system, url):
        with httpx.Client(base_url=url, trust_env=False) as anonymous:
            denied = anonymous.get("/api/jobs")
        assert denied.status_code == 401 and denied.json()["error"] == "unauthorized"
        with httpx.Client(
            base_url=url, trust_env=False, headers={"Authorization": "Bearer s3cret"}
        ) as allowed:
            assert allowed.get("/api/jobs").status_code == 200


def test_200_jobs_from_10_concurrent_clients_none_lost(
    tmp_path: Path, frame_engine, running_system, wait_until
) -> None:
    small = cv2.resize(cv2.imread(str(ASTRONAUT)), (48, 48))
    payload = base64.b64encode(cv2.imencode(".png", small)[1].tobytes()).decode()
    engine = frame_engine(frames=1, frame_seconds=0.0)
    with running_system(tmp_path, engine, workers=2) as (system, url):

        def client(index: int) -> list[str]:
            ids = []
            with httpx.Client(base_url=url, timeout=60, trust_env=False) as http:
                for number in range(20):
                    job_id = f"c{index}-{number}"
                    submission = _json_submission(
                        job_id=job_id,
                        priority=1 + (number % 10),
                        files={"target_media": {"name": "s.png", "data": payload}},
                    )
                    answer = http.post("/api/jobs", json=submission)
                    assert answer.status_code == 202, answer.text
                    ids.append(job_id)
            return ids

        with ThreadPoolExecutor(max_workers=10) as pool:
            submitted = [job_id for ids in pool.map(client, range(10)) for job_id in ids]
        assert len(set(submitted)) == 200
        wait_until(lambda: system.store.counts()["completed"] == 200, timeout=240, interval=0.2)
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
            listed = http.get("/api/jobs", params={"limit": 1000}).json()["jobs"]
    assert sorted(job["job_id"] for job in listed) == sorted(submitted)
    assert all(job["status"] == "completed" and job["attempts"] == 1 for job in listed)
    assert len(engine.started) == 200


def test_submitting_server_files(server: tuple[JobSystem, str], wait_until) -> None:
    system, _url = server
    service = JobService(system.store, system.runner, system.settings)
    status = submit_paths(service, "detect", "{}", str(ASTRONAUT), None, "gr-1", 3, None)
    assert set(status) == STATUS_KEYS and status["job_id"] == "gr-1"
    wait_until(lambda: service.status("gr-1").status == "completed")
    with pytest.raises(RequestError, match="unknown op"):
        submit_paths(service, "nothing", "{}", str(ASTRONAUT))


def test_process_chain_may_carry_its_job_options_in_params(http: httpx.Client, wait_final) -> None:
    submission = _json_submission(
        op="process",
        params={"processors": ["enhance", "edit"], "job_id": "chain-1", "priority": 9},
    )
    answer = http.post("/api/jobs", json=submission)
    assert answer.status_code == 202, answer.text
    assert answer.json()["job_id"] == "chain-1"
    listed = {job["job_id"]: job for job in http.get("/api/jobs").json()["jobs"]}
    assert (listed["chain-1"]["op"], listed["chain-1"]["priority"]) == ("process", 9)
    assert wait_final(http, "chain-1")["status"] == "completed"


@pytest.mark.parametrize("case", ["file as value", "plain text"])
def test_file_errors_say_how_to_send_a_file(http: httpx.Client, case: str) -> None:
    request_kwargs, _ = MALFORMED[case]
    detail = http.post("/api/jobs", **request_kwargs).json()["detail"]
    assert "=@photo.jpg" in detail and "base64" in detail and "docs/api.md" in detail
