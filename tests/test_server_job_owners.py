"""Jobs belong to whoever submitted them; admins see all; wrong passwords are slowed down.

The REST cases run the job API behind the server's auth gate with uvicorn on loopback; the
gradio endpoints are checked on a real `ffpipe serve --auth-file` with gradio_client.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _server_jobs_support import ASTRONAUT, FrameEngine, job_settings, serve_app, wait_until
from fastapi import FastAPI
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from bench.serving import ServerHandle, start_server
from ffpipe.cli import main
from ffpipe.server.errors import RequestError
from ffpipe.server.http.auth import AuthGate, LoginThrottle, read_auth_file
from ffpipe.server.jobs.system import open_job_system
from ffpipe.server.protocols.rest_jobs import jobs_router

pytestmark = pytest.mark.slow  # starts servers

USERS = {"ada": "ada-pw", "bob": "bob-pw", "root": "root-pw"}
IMAGE = base64.b64encode(ASTRONAUT.read_bytes()).decode()


def _auth(user: str, password: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password or USERS[user]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def jobs_url(tmp_path: Path) -> Iterator[str]:
    system = open_job_system(
        job_settings(tmp_path, admins=frozenset({"root"})), FrameEngine(frames=2)
    )
    app = FastAPI()
    app.add_middleware(
        AuthGate, credentials=USERS, throttle=LoginThrottle(free_failures=2, base_seconds=0.3)
    )
    app.include_router(jobs_router(system.service, system.settings))
    system.start()
    try:
        with serve_app(app) as url:
            yield url
    finally:
        system.stop()


def _submit(http: httpx.Client, user: str, job_id: str) -> None:
    body = {
        "op": "enhance",
        "job_id": job_id,
        "files": {"target_media": {"name": "a.jpg", "data": IMAGE}},
    }
    assert http.post("/api/jobs", json=body, headers=_auth(user)).status_code == 202


def test_only_the_owner_and_admins_reach_a_job(jobs_url: str) -> None:
    with httpx.Client(base_url=jobs_url, timeout=30, trust_env=False) as http:
        _submit(http, "ada", "adas")
        _submit(http, "bob", "bobs")
        wait_until(
            lambda: http.get("/api/jobs/adas", headers=_auth("ada")).json()["status"] == "completed"
        )
        for method, path in (
            ("GET", "/api/jobs/adas"),
            ("GET", "/api/jobs/adas/result"),
            ("GET", "/api/jobs/adas/result/output"),
            ("POST", "/api/jobs/adas/cancel"),
        ):
            answer = http.request(method, path, headers=_auth("bob"))
            assert answer.status_code == 404, (method, path)
            assert answer.json() == {"error": "job not found", "detail": "no job with id 'adas'"}
        listed = http.get("/api/jobs", headers=_auth("bob")).json()["jobs"]
        assert {job["job_id"] for job in listed} == {"bobs"}
        assert http.get("/api/jobs/adas/result", headers=_auth("ada")).status_code == 200
        everything = http.get("/api/jobs", headers=_auth("root")).json()["jobs"]
        assert {(job["job_id"], job["owner"]) for job in everything} == {
            ("adas", "ada"),
            ("bobs", "bob"),
        }
        assert http.get("/api/jobs/bobs/result/output", headers=_auth("root")).status_code in (
            200,
            409,
        )


def test_a_job_id_is_each_users_own(jobs_url: str) -> None:
    with httpx.Client(base_url=jobs_url, timeout=30, trust_env=False) as http:
        _submit(http, "ada", "invoice-7")
        bob = {
            "op": "detect",
            "job_id": "invoice-7",
            "files": {"target_media": {"name": "b.jpg", "data": IMAGE}},
        }
        taken = http.post("/api/jobs", json=bob, headers=_auth("bob"))
        assert taken.status_code == 202, "another user's id neither blocks nor shows"
        again = http.post("/api/jobs", json=bob, headers=_auth("bob"))
        assert again.status_code == 409 and again.json()["error"] == "duplicate job_id"
        for user in ("ada", "bob"):
            wait_until(
                lambda user=user: (
                    http.get("/api/jobs/invoice-7", headers=_auth(user)).json()["status"]
                    == "completed"
                )
            )
        ops = {
            user: [job["op"] for job in http.get("/api/jobs", headers=_auth(user)).json()["jobs"]]
            for user in ("ada", "bob")
        }
        assert ops == {"ada": ["enhance"], "bob": ["detect"]}
        results = {
            user: http.get("/api/jobs/invoice-7/result", headers=_auth(user)).json()
            for user in ("ada", "bob")
        }
        assert results["ada"]["result"] != results["bob"]["result"], "each reads their own job"
        ambiguous = http.get("/api/jobs/invoice-7", headers=_auth("root"))
        assert ambiguous.status_code == 409
        assert ambiguous.json()["error"] == "ambiguous job_id"
        assert "ada, bob" in ambiguous.json()["detail"]
        for user in ("ada", "bob"):
            chosen = http.get(f"/api/jobs/invoice-7/result?owner={user}", headers=_auth("root"))
            assert chosen.json()["result"] == results[user]["result"]
        snooping = http.get("/api/jobs/invoice-7?owner=ada", headers=_auth("bob"))
        assert snooping.status_code == 404, "naming an owner shows a user no one else's job"


def test_an_admin_names_the_owner_from_the_command_line(
    jobs_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with httpx.Client(base_url=jobs_url, timeout=30, trust_env=False) as http:
        for user in ("ada", "bob"):
            _submit(http, user, "shared")
    admin = ["--server", jobs_url, "--auth", "root:root-pw"]
    assert main(["jobs", "status", "shared", *admin]) != 0
    assert "ambiguous job_id" in capsys.readouterr().err
    assert main(["jobs", "list", *admin]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "STATUS", "PROG", "PRI", "OP", "OWNER", "ETA"]
    assert sorted(row.split()[5] for row in rows) == ["ada", "bob"]
    assert main(["jobs", "list", "--server", jobs_url, "--auth", "ada:ada-pw"]) == 0
    assert "OWNER" not in capsys.readouterr().out, "one user's own jobs need no owner column"
    for user in ("ada", "bob"):
        code = main(["jobs", "wait", "shared", *admin, "--owner", user, "--interval", "0.05"])
        assert code == 0 and capsys.readouterr().out.startswith("shared  completed")
        assert main(["jobs", "get", "shared", *admin, "--owner", user, "-o", f"{tmp_path}/"]) == 0
        [downloaded] = tmp_path.glob("output.*")
        assert capsys.readouterr().out.strip() == str(downloaded)
        downloaded.unlink()
    assert main(["jobs", "cancel", "shared", *admin, "--owner", "ada"]) != 0
    assert "job already finished" in capsys.readouterr().err


def test_repeated_wrong_passwords_must_wait(jobs_url: str) -> None:
    with httpx.Client(base_url=jobs_url, timeout=30, trust_env=False) as http:
        guesses = [http.get("/api/jobs", headers=_auth("ada", f"guess {n}")) for n in range(3)]
        assert [answer.status_code for answer in guesses] == [401] * 3
        blocked = http.get("/api/jobs", headers=_auth("ada"))  # even the right one, for now
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert blocked.json()["error"] == "too many failed logins"
        assert http.get("/api/jobs", headers=_auth("bob")).status_code == 200, "others go on"
        time.sleep(0.35)
        assert http.get("/api/jobs", headers=_auth("ada")).status_code == 200
        again = http.get("/api/jobs", headers=_auth("ada", "guess 4"))
        assert again.status_code == 401, "the count starts again"


def test_the_backoff_doubles_up_to_its_bound() -> None:
    now = [0.0]
    throttle = LoginThrottle(
        free_failures=1, base_seconds=1.0, max_seconds=4.0, clock=lambda: now[0]
    )
    waits = []
    for guess in range(6):
        throttle.failed("ada", "10.0.0.1", f"guess {guess}")
        waits.append(throttle.wait_seconds("ada", "10.0.0.1"))
    assert waits == [0.0, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert throttle.wait_seconds("ada", "10.0.0.2") == 0.0
    now[0] = 5.0
    assert throttle.wait_seconds("ada", "10.0.0.1") == 0.0


def test_the_same_wrong_password_again_is_not_another_guess() -> None:
    throttle = LoginThrottle(free_failures=1, clock=lambda: 0.0)
    for _ in range(20):  # a client retrying with a stale password
        throttle.failed("ada", "10.0.0.1", "old password")
    assert throttle.wait_seconds("ada", "10.0.0.1") == 0.0
    throttle.failed("ada", "10.0.0.1", "another")
    assert throttle.wait_seconds("ada", "10.0.0.1") > 0


def test_admins_are_marked_in_the_auth_file(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("ada:pw\nadmin root:root:pw\n")
    users = read_auth_file(path)
    assert users.credentials == {"ada": "pw", "root": "root:pw"}
    assert users.admins == {"root"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    folder = tmp_path_factory.mktemp("owners")
    users = folder / "users"
    users.write_text("ada:ada-pw\nbob:bob-pw\nadmin root:root-pw\n")
    handle = start_server(folder, "--auth-file", str(users))
    yield handle
    assert handle.stop() == 0


def test_gradio_job_endpoints_keep_jobs_to_their_owner(server: ServerHandle) -> None:
    ada, bob, root = (
        Client(server.url, auth=(user, USERS[user]), verbose=False, download_files=False)
        for user in ("ada", "bob", "root")
    )
    submitted = ada.predict(
        op="detect", target_media=handle_file(str(ASTRONAUT)), api_name="/submit_job"
    )
    job_id = submitted["job_id"]
    with pytest.raises(AppError) as caught:
        bob.predict(job_id, api_name="/job_status")
    assert "job not found" in str(caught.value)
    with pytest.raises(AppError):
        bob.predict(job_id, api_name="/cancel_job")
    assert root.predict(job_id, api_name="/job_status")["job_id"] == job_id
    assert ada.predict(job_id, api_name="/job_status")["job_id"] == job_id
    chosen = {"op": "detect", "target_media": handle_file(str(ASTRONAUT)), "job_id": "mine"}
    ada.predict(**chosen, api_name="/submit_job")
    assert bob.predict(**chosen, api_name="/submit_job")["job_id"] == "mine"
    with pytest.raises(AppError, match="duplicate job_id"):
        bob.predict(**chosen, api_name="/submit_job")
    with pytest.raises(AppError, match="ambiguous job_id"):
        root.predict("mine", api_name="/job_status")
    assert root.predict("mine", "bob", api_name="/job_status")["job_id"] == "mine"
    with pytest.raises(AppError, match="job not found"):
        bob.predict("mine", "ada", api_name="/cancel_job")


def test_the_ui_jobs_tab_shows_each_user_their_own_jobs(tmp_path: Path) -> None:
    from ffpipe.server.jobs.service import Caller, Upload
    from ffpipe.server.protocols.ui import _job_rows

    system = open_job_system(
        job_settings(tmp_path, admins=frozenset({"root"})), FrameEngine(frames=2)
    )
    upload = {"target_media": Upload("a.jpg", ASTRONAUT)}
    for user in ("ada", "bob"):
        system.service.submit("enhance", {}, upload, {"job_id": f"{user}-job"}, Caller(user))
    shown = {user: {row[0] for row in _job_rows(system.service, Caller(user))} for user in USERS}
    assert shown["ada"] == {"ada-job"} and shown["bob"] == {"bob-job"}
    admin = {row[0] for row in _job_rows(system.service, Caller("root", admin=True))}
    assert admin == {"ada-job", "bob-job"}


def test_an_admin_reaches_each_of_one_ids_jobs_and_each_has_its_own_folder(
    tmp_path: Path,
) -> None:
    """A server that had no users, then users: an id may be held by a job without an owner, by
    ada and by the admin at once."""
    from ffpipe.server.jobs.service import Caller, Upload
    from ffpipe.server.protocols.ui import _job_rows

    system = open_job_system(
        job_settings(tmp_path, admins=frozenset({"root"})), FrameEngine(frames=2)
    )
    service, root = system.service, Caller("root", admin=True)
    upload = {"target_media": Upload("a.jpg", ASTRONAUT)}
    for user in (None, "ada"):
        service.submit("enhance", {}, upload, {"job_id": "z"}, Caller(user))
    system.start()
    try:
        wait_until(lambda: all(job["status"] == "completed" for job in service.list(caller=root)))
        with pytest.raises(RequestError) as ambiguous:
            service.record("z", root)
        assert ambiguous.value.status == 409 and "ada, no one (owner '')" in ambiguous.value.detail
        unowned, adas = service.record("z", root, owner=""), service.record("z", root, owner="ada")
        assert (unowned.owner, adas.owner) == (None, "ada")
        folders = {Path(record.outputs["output"]).parent for record in (unowned, adas)}
        assert len(folders) == 2, "one id, two jobs, two output folders"
        links = service.status("z", root, owner="ada").result["files"]
        assert links["output"].endswith("/api/jobs/z/result/output?owner=ada")
        assert service.status("z", Caller("ada")).result["files"]["output"].endswith("/output")
        shown = {row[5] for row in _job_rows(service, root)}
        assert shown == {
            "[output](/api/jobs/z/result/output?owner=)",
            "[output](/api/jobs/z/result/output?owner=ada)",
        }
        service.submit("detect", {}, upload, {"job_id": "z"}, root)
        assert service.record("z", root).owner == "root", "an admin's own job comes first"
    finally:
        system.stop()
