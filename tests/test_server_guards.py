"""gradio's own routes on a real `ffpipe serve`: mistakes are catalog errors, never a bare 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from gradio_client import handle_file

if TYPE_CHECKING:
    from _server_support import ServerHandle

MEDIA = Path(__file__).resolve().parent.parent / "media"
TARGET = MEDIA / "astronaut.jpg"


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


def _post(server: ServerHandle, path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


def _uploaded(server: ServerHandle) -> dict[str, Any]:
    with TARGET.open("rb") as handle:
        answer = httpx.post(
            f"{server.url}gradio_api/upload", files=[("files", (TARGET.name, handle))], timeout=60
        )
    answer.raise_for_status()
    return {"path": answer.json()[0], "meta": {"_type": "gradio.FileData"}}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("gradio_api/call/teleport", {"data": []}, 404, "unknown endpoint"),
        ("gradio_api/run/teleport", {"data": []}, 404, "unknown endpoint"),
        ("gradio_api/run/predict", {"fn_index": 55, "data": []}, 404, "unknown fn_index"),
        ("gradio_api/api/predict", {"fn_index": "0", "data": []}, 404, "unknown fn_index"),
        ("gradio_api/queue/join", {"fn_index": 99, "data": []}, 404, "unknown fn_index"),
        ("gradio_api/call/detect", {"data": "x"}, 400, "malformed request"),
        ("gradio_api/call/detect", {"data": []}, 400, "malformed request"),
        ("gradio_api/run/detect", {"data": [None] * 40}, 400, "malformed request"),
        ("gradio_api/call/detect", [1, 2], 400, "malformed request"),
    ],
)
def test_mistakes_on_gradio_routes_are_catalog_errors(
    server: ServerHandle, path: str, body: Any, status: int, error: str
) -> None:
    tracebacks = server.log().count("Traceback")
    response = _post(server, path, body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "detail"}
    assert server.log().count("Traceback") == tracebacks


def test_a_missing_required_value_is_named(server: ServerHandle) -> None:
    response = _post(server, "gradio_api/run/swap", {"data": [_uploaded(server)]})
    assert response.status_code == 400
    assert "target_media" in response.json()["detail"]


def test_raw_calls_may_send_only_the_first_values(server: ServerHandle) -> None:
    response = _post(server, "gradio_api/run/detect", {"data": [_uploaded(server)]})
    assert response.status_code == 200, response.text
    _, document, _ = response.json()["data"]
    assert document["face_count"] == 1

    posted = _post(server, "gradio_api/call/detect", {"data": [_uploaded(server), "found.json"]})
    assert posted.status_code == 200, posted.text
    stream = httpx.get(
        f"{server.url}gradio_api/call/detect/{posted.json()['event_id']}", timeout=60
    ).text
    assert "event: complete" in stream
    assert "found.json" in stream


def test_gradio_client_calls_are_unchanged(server: ServerHandle) -> None:
    from gradio_client import Client

    client = Client(server.url, verbose=False, download_files=False)
    try:
        _, document, _ = client.predict(target_media=handle_file(TARGET), api_name="/detect")
    finally:
        client.close()
    assert json.loads(json.dumps(document))["face_count"] == 1
