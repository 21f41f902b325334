"""gradio's own routes on a real `ffpipe serve`: mistakes are catalog errors, never a bare 500."""

from __future__ import annotations

import asyncio
import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from _server_jobs_support import serve_app
from gradio_client import handle_file

from bench.serving import ServerHandle
from ffpipe.server.http.guards import (
    MAX_JSON_DEPTH,
    EndpointGuard,
    EndpointShape,
    ErrorShapeGuard,
    JsonDepthGuard,
    json_depth,
)
from ffpipe.server.in_use import InUse

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
        ("gradio_api/call/v2/teleport", {}, 404, "unknown endpoint"),
        ("gradio_api/call/v2/call", {}, 404, "unknown endpoint"),  # a UI event: not listed
        ("gradio_api/call/v2/detect", {}, 400, "malformed request"),
        ("gradio_api/call/v2/detect", {"target": None}, 400, "malformed request"),
        ("gradio_api/call/v2/detect", [], 400, "malformed request"),
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


def test_calls_by_parameter_name_still_run(server: ServerHandle) -> None:
    posted = _post(
        server,
        "gradio_api/call/v2/detect",
        {"target_media": _uploaded(server), "output_path": "named.json"},
    )
    assert posted.status_code == 200, posted.text
    stream = httpx.get(
        f"{server.url}gradio_api/call/v2/detect/{posted.json()['event_id']}", timeout=60
    ).text
    assert "event: complete" in stream
    assert "named.json" in stream


def test_gradio_client_calls_are_unchanged(server: ServerHandle) -> None:
    from gradio_client import Client

    client = Client(server.url, verbose=False, download_files=False)
    try:
        _, document, _ = client.predict(target_media=handle_file(TARGET), api_name="/detect")
    finally:
        client.close()
    assert json.loads(json.dumps(document))["face_count"] == 1


DEEP = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    "path",
    [
        "api/predict",
        "api/jobs",
        "gradio_api/call/detect",
        "gradio_api/run/detect",
        "gradio_api/queue/join",
    ],
)
# FastAPI and gradio read a body as JSON whatever type it claims: text/plain is checked too.
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_json_nested_too_deep_is_a_catalog_error(
    server: ServerHandle, path: str, content_type: str
) -> None:
    answer = httpx.post(
        f"{server.url}{path}",
        content=DEEP,
        headers={"content-type": content_type},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "malformed request"
    assert "nested" in answer.json()["detail"]
    assert server.alive()


def test_a_deep_params_field_of_a_form_is_a_catalog_error(server: ServerHandle) -> None:
    answer = httpx.post(
        f"{server.url}api/jobs",
        data={"op": "detect", "params": "[" * 100_000 + "]" * 100_000},
        timeout=60,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "malformed params"


LONG_NAME = "a" * 300 + ".jpg"


def test_file_names_over_255_bytes_are_shortened_not_fatal(server: ServerHandle) -> None:
    data = base64.b64encode(TARGET.read_bytes()).decode()
    job = httpx.post(
        f"{server.url}api/jobs",
        json={"op": "detect", "files": {"target_media": {"name": LONG_NAME, "data": data}}},
        timeout=60,
    )
    assert job.status_code == 202, job.text
    with TARGET.open("rb") as handle:
        form = httpx.post(
            f"{server.url}api/jobs",
            data={"op": "detect"},
            files={"target_media": (LONG_NAME, handle, "image/jpeg")},
            timeout=60,
        )
    assert form.status_code == 202, form.text
    legacy = httpx.post(
        f"{server.url}api/predict",
        json={"fn_index": 3, "data": [{"name": LONG_NAME, "data": data}]},
        timeout=120,
    )
    assert legacy.status_code == 200, legacy.text


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"data": ["[" * 500 + '\\"[' * 100, [[["ok"]]]]}).encode()
    assert json_depth(text) == 5
    assert json_depth(b"[" * 70 + b"]" * 70) == MAX_JSON_DEPTH + 1


def _through_depth_guard(chunks: list[bytes]) -> tuple[int, bytes]:
    """The status the guard answers for a body sent in ``chunks``, and what the app read (the
    app is a stand-in that reads the whole body and answers 200, as a route would)."""
    pending = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    read: list[bytes] = []
    statuses: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("the client left")
            read.append(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {"type": "http", "method": "POST", "path": "/api/predict", "headers": []}
    with ThreadPoolExecutor(1) as pool:  # a loop of its own: an earlier test may leave one here
        pool.submit(asyncio.run, JsonDepthGuard(app)(scope, receive, send)).result()
    [status] = statuses
    return status, b"".join(read)


def test_a_long_body_is_scanned_to_its_end_across_chunks() -> None:
    """Past the first megabyte a body passes on chunk by chunk, each scanned: a string's
    escaped quote split across two chunks is still inside the string."""
    pad = b'"' + b"A" * 1_100_000
    tricky = [b'{"data": [', pad + b"\\", b'"[[[' + b"[" * 100, b'", [[1]]]}']
    status, read = _through_depth_guard(tricky)
    assert status == 200 and read == b"".join(tricky)
    deep = [b'{"data": [', pad + b'"', b"[" * 40, b"[" * 40 + b"]" * 80 + b"]}"]
    status, read = _through_depth_guard(deep)
    assert status == 400 and len(read) < len(b"".join(deep))


@pytest.mark.parametrize("path", ["gradio_api/run/detect", "gradio_api/api/detect"])
def test_a_file_outside_the_servers_folders_is_refused_by_name(
    server: ServerHandle, path: str
) -> None:
    outside = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    answer = _post(server, path, {"data": [outside]})
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "file not allowed"


def _gradio_like_app(status: int, body: dict[str, Any]) -> Any:
    """Stands in for gradio's own answers (a full queue cannot be made on demand here)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/gradio_api/queue/join")
    def join() -> JSONResponse:
        return JSONResponse(body, status_code=status)

    app.add_middleware(ErrorShapeGuard)
    return app


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, {"detail": "Queue is full."}, (503, "queue full")),
        (500, {"error": None}, (500, "internal error")),
        (422, {"detail": "bad"}, (422, "request refused")),
        (404, {"error": "unknown endpoint", "detail": "x"}, (404, "unknown endpoint")),
    ],
)
def test_gradio_errors_get_the_catalog_shape(
    status: int, body: dict[str, Any], expected: tuple[int, str]
) -> None:
    with serve_app(_gradio_like_app(status, body)) as url:
        answer = httpx.post(f"{url}/gradio_api/queue/join", json={}, timeout=10)
    assert (answer.status_code, answer.json()["error"]) == expected
    assert set(answer.json()) == {"error", "detail"}


@pytest.mark.parametrize("name", [".htaccess", "..\\..\\x.jpg", ""])
def test_awkward_upload_names_are_stored_safely_or_refused_in_the_catalog_shape(
    server: ServerHandle, name: str
) -> None:
    answer = httpx.post(
        f"{server.url}gradio_api/upload",
        files=[("files", (name, TARGET.read_bytes()))],
        timeout=60,
    )
    if answer.status_code != 200:
        assert answer.status_code == 400, answer.text
        assert set(answer.json()) == {"error", "detail"}
        return
    [stored] = answer.json()
    assert ".." not in Path(stored).parts and "\\" not in Path(stored).name
    used = _post(
        server, "gradio_api/run/detect", {"data": [{"path": stored, "meta": {"_type": "x"}}]}
    )
    assert used.status_code == 200, used.text


def test_a_queued_call_holds_its_files_until_gradio_has_taken_it(tmp_path: Path) -> None:
    """Between the call and gradio's queue (which retention watches) no sweep may take the
    upload: the guard holds it while gradio handles the call. gradio is stood in for by an
    app that notes what is held when it is called."""
    upload = tmp_path / "uploads" / "abc" / "photo.jpg"
    in_use = InUse()
    held_during_call: list[bool] = []

    async def gradio(scope: Any, receive: Any, send: Any) -> None:
        held_during_call.append(in_use.holds(upload))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    shape = EndpointShape(0, "enhance", ("target_media",), (None,))
    uploads = [tmp_path / "uploads"]
    guard = EndpointGuard(gradio, [shape], roots=uploads, uploads=uploads, in_use=in_use)
    body = json.dumps({"fn_index": 0, "data": [{"path": str(upload), "meta": {}}]}).encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        return None

    scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join", "headers": []}
    # In a thread of its own: an earlier test of the session may leave a loop running here.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, guard(scope, receive, send)).result()
    assert held_during_call == [True]
    assert not in_use.holds(upload), "gradio's queue holds it from then on"
