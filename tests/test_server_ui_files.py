"""A file input of a UI event (or of an API endpoint) sent as something other than an uploaded
gradio FileData is refused in the catalog's shape on every route, never a 500 or a bare
``{"error": null}``, against the session's real `ffpipe serve` on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _ui_events import MARK, TARGET, fn_index_of, send, ui_events, upload

from bench.serving import ServerHandle
from ffpipe.server.http.guards import file_refusal

OUTSIDE = "/etc/passwd"
HIDDEN = {"path": OUTSIDE, "meta": MARK}


@dataclass(frozen=True)
class Event:
    """One gradio event of the server: how to call it and where its file input sits."""

    fn_index: int
    api_name: str
    trigger: str
    """The elem_id of the button (or timer) that fires it; the API's name for an endpoint."""
    defaults: list[Any]
    file_position: int
    file_parameter: str


@dataclass(frozen=True)
class Variant:
    """A file value a hostile caller may send."""

    value: Callable[[str], Any]
    """The file value, given the path of a real upload."""
    api_too: bool
    """gradio itself trips over it whatever the input: API endpoints must refuse it too."""


VARIANTS = {
    "no meta": Variant(lambda path: {"path": path}, api_too=False),
    "no meta, outside": Variant(lambda path: {"path": OUTSIDE}, api_too=False),
    "wrong _type": Variant(lambda path: {"path": path, "meta": {"_type": "x"}}, api_too=False),
    "meta null": Variant(lambda path: {"path": path, "meta": None}, api_too=True),
    "meta a string": Variant(lambda path: {"path": path, "meta": "gradio.FileData"}, api_too=True),
    "marked, outside": Variant(lambda path: {"path": OUTSIDE, "meta": MARK}, api_too=True),
    "marked, path a number": Variant(lambda path: {"path": 5, "meta": MARK}, api_too=False),
    "marked, bad size": Variant(
        lambda path: {"path": path, "meta": MARK, "size": "big"}, api_too=True
    ),
    "in a list": Variant(lambda path: [{"path": path, "meta": MARK}], api_too=False),
    "nested in a list, outside": Variant(
        lambda path: [[{"path": OUTSIDE, "meta": MARK}]], api_too=True
    ),
    "plain path": Variant(lambda path: OUTSIDE, api_too=False),
    "a number": Variant(lambda path: 7, api_too=False),
    # gradio looks into an object that is no FileData, its meta too, for FileData further in.
    "marked, outside, under an unmarked file": Variant(
        lambda path: {"path": path, "meta": {"_type": "x"}, "sub": {"path": OUTSIDE, "meta": MARK}},
        api_too=True,
    ),
    "marked, outside, in an unmarked meta": Variant(
        lambda path: {"path": path, "meta": {"_type": "x", "in": [HIDDEN]}},
        api_too=True,
    ),
    "marked, a NUL in the path": Variant(
        lambda path: {"path": path + "\x00.jpg", "meta": MARK}, api_too=True
    ),
    "marked, a name too long": Variant(
        lambda path: {"path": str(Path(path).parent / ("a" * 5000)), "meta": MARK}, api_too=True
    ),
}
ROUTES = ["queue", "call", "run", "api", "call/v2"]
CASES = [
    (route, variant)
    for route in ROUTES
    for variant, chosen in VARIANTS.items()
    # The keyword route serves only listed endpoints (not the UI's events): the API's alone.
    if route != "call/v2" or chosen.api_too
]


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


@pytest.fixture(scope="module")
def events(server: ServerHandle) -> dict[str, list[Event]]:
    """Every UI event with a file input (one entry per file input), and the API's ``detect``."""
    found: dict[str, list[Event]] = {
        "ui": [
            Event(
                event.fn_index,
                event.api_name,
                event.trigger,
                event.defaults,
                item.position,
                item.parameter,
            )
            for event in ui_events(server.url)
            for item in event.inputs
            if item.kind == "file"
        ],
        "api": [
            Event(fn_index_of(server.url, "detect"), "detect", "detect", [None], 0, "target_media")
        ],
    }
    assert len(found["ui"]) >= 14, found  # a run and a job button per op tab
    return found


@pytest.fixture(scope="module")
def uploaded(server: ServerHandle) -> str:
    return upload(server.url)


def _send(server: ServerHandle, route: str, event: Event, data: list[Any]) -> httpx.Response:
    if route == "call/v2":  # parameters by name: gradio serves only endpoints it lists there
        keywords = {event.file_parameter: data[event.file_position]}
        return httpx.post(f"{server.url}gradio_api/call/v2/{event.api_name}", json=keywords)
    return send(server.url, route, event.fn_index, event.api_name, data)


@pytest.mark.slow
@pytest.mark.parametrize(("route", "variant"), CASES)
def test_a_file_input_that_is_no_uploaded_file_data_is_refused(
    server: ServerHandle,
    events: dict[str, list[Event]],
    uploaded: str,
    route: str,
    variant: str,
) -> None:
    chosen = VARIANTS[variant]
    ui = events["ui"] if route != "call/v2" else []
    targets = ui + (events["api"] if chosen.api_too else [])
    assert targets
    tracebacks = server.log().count("Traceback")
    for event in targets:
        data = list(event.defaults)
        data[event.file_position] = chosen.value(uploaded)
        answer = _send(server, route, event, data)
        where = f"{route} {event.api_name} (fn_index {event.fn_index}): {answer.text[:300]}"
        assert answer.status_code == 403, where
        assert answer.json()["error"] == "file not allowed", where
        assert "root:" not in answer.text, where
    assert server.log().count("Traceback") == tracebacks


def _queue_outcome(server: ServerHandle, event: Event, data: list[Any]) -> dict[str, Any]:
    """The ``process_completed`` message of one queued call."""
    session = uuid.uuid4().hex
    body = {"fn_index": event.fn_index, "data": data, "session_hash": session}
    joined = httpx.post(f"{server.url}gradio_api/queue/join", json=body, timeout=60)
    assert joined.status_code == 200, joined.text
    stream = f"{server.url}gradio_api/queue/data?session_hash={session}"
    with httpx.stream("GET", stream, timeout=120) as messages:
        for line in messages.iter_lines():
            message = json.loads(line[len("data:") :]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message
    raise AssertionError("the queue closed the stream without completing the call")


@pytest.mark.slow
def test_an_uploaded_file_data_still_runs_the_ui_event(
    server: ServerHandle, events: dict[str, list[Event]], uploaded: str
) -> None:
    """What the browser sends (an upload, marked as gradio's FileData) is let through."""
    [run_detect] = [event for event in events["ui"] if event.trigger == "run-detect"]
    data = list(run_detect.defaults)
    data[run_detect.file_position] = {"path": uploaded, "orig_name": TARGET.name, "meta": MARK}
    outcome = _queue_outcome(server, run_detect, data)
    assert outcome["success"], outcome
    error_pane, *_, document = outcome["output"]["data"]
    assert error_pane == "" and document["face_count"] == 1, outcome


def test_file_refusal_takes_uploads_only_where_gradio_would_treat_a_value_as_a_file(
    tmp_path: Path,
) -> None:
    upload = tmp_path / "uploads" / "photo.jpg"
    upload.parent.mkdir()
    upload.write_bytes(TARGET.read_bytes())
    roots = [upload.parent]
    marked = {"path": str(upload), "meta": MARK}
    # A value for any parameter: only what gradio takes for a file is looked at.
    assert file_refusal("x", {"path": OUTSIDE}, None, roots) is None
    assert file_refusal("x", [["text", {"nested": marked}]], None, roots) is None
    assert "meta" in str(file_refusal("x", {"path": str(upload), "meta": None}, None, roots))
    assert "not a file uploaded" in str(
        file_refusal("x", [{"path": OUTSIDE, "meta": MARK}], None, roots)
    )
    # A file box: nothing but uploads marked as FileData, one or a list as it takes them.
    assert file_refusal("box", None, False, roots) is None
    assert file_refusal("box", marked, False, roots) is None
    assert file_refusal("box", [marked, marked], True, roots) is None
    assert "takes a file" in str(file_refusal("box", {"path": str(upload)}, False, roots))
    assert "takes a file" in str(file_refusal("box", [marked], False, roots))
    assert "takes a list" in str(file_refusal("box", marked, True, roots))
    # gradio stops only at a FileData: it looks into any other object, its meta included.
    hidden = {"path": OUTSIDE, "meta": MARK}
    unmarked = {"path": str(upload), "meta": {"_type": "x"}}
    for value in ({**unmarked, "sub": hidden}, {**unmarked, "meta": {"_type": "x", "in": hidden}}):
        assert "not a file uploaded" in str(file_refusal("x", value, None, roots)), value
    assert file_refusal("x", {**marked, "sub": hidden}, None, roots) is None  # not looked into
    url = {"path": "http://127.0.0.1:9/a.jpg", "meta": MARK}
    assert "does not fetch URLs" in str(file_refusal("x", {**unmarked, "sub": url}, None, roots))
    assert "meta" in str(file_refusal("x", [{"meta": {"path": "y", "meta": 3}}], None, roots))
    nul = {"path": str(upload) + "\x00", "meta": MARK}
    assert "not a file uploaded" in str(file_refusal("x", nul, None, roots))
    too_long = {"path": str(upload.parent / ("a" * 5000)), "meta": MARK}
    assert "does not exist" in str(file_refusal("x", too_long, None, roots))


@pytest.mark.slow
def test_a_url_sent_as_a_file_is_refused_saying_how_to_send_it(
    server: ServerHandle, events: dict[str, list[Event]]
) -> None:
    """gradio_client's ``handle_file(URL)`` sends the URL for the server to fetch; it does not
    fetch it, and says what to send instead (the URL is loopback: nothing may leave here)."""
    [detect] = events["api"]
    url = "http://127.0.0.1:9/photo.jpg"
    sent = {"path": url, "meta": MARK, "orig_name": "photo.jpg", "url": url}
    answer = _send(server, "queue", detect, [sent])
    assert answer.status_code == 403, answer.text
    refusal = answer.json()
    assert refusal["error"] == "file not allowed", refusal
    assert "does not fetch URLs" in refusal["detail"], refusal
    assert "handle_file(local_path)" in refusal["detail"], refusal


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["", "/close"])
def test_streamed_inputs_are_no_route(server: ServerHandle, suffix: str) -> None:
    """A streamed input would replace a queued call's data after it was checked; this server
    takes none."""
    body = {"data": [{"path": OUTSIDE, "meta": MARK}], "fn_index": 0}
    event_id = uuid.uuid4().hex
    answer = httpx.post(f"{server.url}gradio_api/stream/{event_id}{suffix}", json=body, timeout=60)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "no such route", answer.text


def _chunked(document: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """The body in pieces: sent with chunked transfer encoding, so it arrives in several."""
    for start in range(0, len(document), size):
        yield document[start : start + size]


@pytest.mark.slow
def test_a_call_body_over_the_limit_is_refused_as_too_large(server: ServerHandle) -> None:
    document = {"data": [{"path": OUTSIDE, "meta": MARK}], "pad": "x" * 1_100_000}
    tracebacks = server.log().count("Traceback")
    for route in ("run/detect", "call/detect", "api/detect", "queue/join"):
        answer = httpx.post(
            f"{server.url}gradio_api/{route}",
            content=_chunked(json.dumps({**document, "fn_index": 0}).encode()),
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert answer.status_code == 413, f"{route}: {answer.text[:300]}"
        assert answer.json()["error"] == "request too large", f"{route}: {answer.text[:300]}"
    assert server.log().count("Traceback") == tracebacks


@pytest.mark.slow
def test_a_long_body_nested_too_deeply_after_its_first_megabyte_is_refused(
    server: ServerHandle,
) -> None:
    """Long bodies are legitimate on the legacy route (base64 files): their nesting is
    checked to the end, not only in the part read before passing them on."""
    nested = b"[" * 100_000 + b"]" * 100_000
    document = b'{"data": ["' + b"A" * 3_000_000 + b'", ' + nested + b"]}"
    tracebacks = server.log().count("Traceback")
    answer = httpx.post(
        f"{server.url}api/predict",
        content=_chunked(document),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text[:300]
    assert "nested more than" in answer.json()["detail"], answer.text[:300]
    assert server.log().count("Traceback") == tracebacks
