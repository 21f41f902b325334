"""Credentials from --auth-file, required on every route of a real server."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from gradio_client import Client, handle_file

from ffpipe.server.http.auth import AuthFileError, basic_user, check_password, load_auth_file

if TYPE_CHECKING:
    from bench.serving import ServerHandle

MEDIA = Path(__file__).resolve().parent.parent / "media"
TARGET = MEDIA / "astronaut.jpg"
USER, PASSWORD = "ada", "s3cret:with:colons"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_auth_file_lines_are_read(tmp_path: Path) -> None:
    path = tmp_path / "auth"
    path.write_text("# users\nada:one:two\n\n  bob :pw\n")
    assert load_auth_file(path) == {"ada": "one:two", "bob": "pw"}


@pytest.mark.parametrize("text", ["", "# nobody\n", "just-a-name\n", ":nouser\n", "ada:\n"])
def test_unusable_auth_files_are_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "auth"
    path.write_text(text)
    with pytest.raises(AuthFileError):
        load_auth_file(path)


def test_passwords_and_basic_headers_are_checked() -> None:
    credentials = {USER: PASSWORD}
    assert check_password(credentials, USER, PASSWORD)
    assert not check_password(credentials, USER, "wrong")
    assert not check_password(credentials, "eve", PASSWORD)
    assert basic_user(_basic(USER, PASSWORD)["Authorization"], credentials) == USER
    assert basic_user(_basic(USER, "nope")["Authorization"], credentials) is None
    assert basic_user("Basic !!!not-base64", credentials) is None
    assert basic_user("Bearer abc", credentials) is None


@pytest.fixture(scope="module")
def server(auth_server: ServerHandle, auth_users: dict[str, str]) -> ServerHandle:
    assert auth_users[USER] == PASSWORD, "the shared server's auth file has this user"
    return auth_server


def test_the_right_credentials_run_the_catalog_example(server: ServerHandle) -> None:
    client = Client(server.url, auth=(USER, PASSWORD), verbose=False, download_files=False)
    _, document, _ = client.predict(
        target_media=handle_file(str(MEDIA / "astronaut.jpg")),
        face_enhancer_model="gfpgan_1.4",
        face_enhancer_blend=0.8,
        fn_index=1,
    )
    assert document["faces_processed"] == 1


@pytest.mark.parametrize("auth", [None, (USER, "wrong"), ("eve", PASSWORD)])
def test_missing_or_wrong_credentials_are_refused(server: ServerHandle, auth) -> None:
    with pytest.raises(Exception) as caught:
        Client(server.url, auth=auth, verbose=False)
    message = str(caught.value).lower()
    assert "credentials" in message or "401" in message or "login" in message
    assert server.alive()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "config"),
        ("GET", "gradio_api/info"),
        ("POST", "gradio_api/upload"),
        ("POST", "gradio_api/queue/join"),
        ("POST", "gradio_api/call/detect"),
        ("POST", "gradio_api/cancel"),
        ("POST", "api/predict"),
        ("GET", "api/capabilities"),
        ("GET", ""),
    ],
)
def test_every_route_needs_credentials(server: ServerHandle, method: str, path: str) -> None:
    response = httpx.request(method, f"{server.url}{path}", json={})
    assert response.status_code == 401
    assert response.json()["error"] == "authentication required"
    wrong = httpx.request(method, f"{server.url}{path}", json={}, headers=_basic(USER, "x"))
    assert wrong.status_code == 401


def test_basic_auth_opens_the_legacy_and_rest_routes(server: ServerHandle) -> None:
    response = httpx.get(f"{server.url}api/capabilities", headers=_basic(USER, PASSWORD))
    assert response.status_code == 200
    assert response.json()["limits"]["auth"] is True
    assert f"user={USER}" in server.log()


@pytest.mark.slow
def test_an_unreadable_auth_file_is_a_clear_cli_error(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "ffpipe", "serve", "--auth-file", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2
    assert "cannot read auth file" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_basic_auth_opens_gradio_routes_too(server: ServerHandle) -> None:
    headers = _basic(USER, PASSWORD)
    with TARGET.open("rb") as handle:
        upload = httpx.post(
            f"{server.url}gradio_api/upload",
            files=[("files", (TARGET.name, handle))],
            headers=headers,
            timeout=60,
        )
    assert upload.status_code == 200, upload.text
    file = {"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}
    answer = httpx.post(
        f"{server.url}gradio_api/run/detect", json={"data": [file]}, headers=headers, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"][1]["face_count"] == 1
    refused = httpx.post(f"{server.url}gradio_api/upload", headers=_basic(USER, "x"), timeout=60)
    assert refused.status_code == 401
