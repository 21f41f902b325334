"""A file input of a UI event (or of an API endpoint) sent as something other than an uploaded
gradio FileData is refused in the catalog's shape on every route, never a 500 or a bare
``{"error": null}``, against the session's real `ffpipe serve` on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.serving import ServerHandle
from ffpipe.server.http.guards import file_refusal

TARGET = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
MARK = {"_type": "gradio.FileData"}
OUTSIDE = "/etc/passwd"


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
}


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


@pytest.fixture(scope="module")
def events(server: ServerHandle) -> dict[str, list[Event]]:
    """Every UI event with a file input (one entry per file input), and the API's ``detect``."""
    config = httpx.get(f"{server.url}config", timeout=60).json()
    components = {component["id"]: component for component in config["components"]}
    found: dict[str, list[Event]] = {"ui": [], "api": []}
    for dependency in config["dependencies"]:
        fn_index = dependency["id"]
        inputs = [components[key] for key in dependency["inputs"]]
        defaults = [component.get("props", {}).get("value") for component in inputs]
        if dependency["api_name"] == "detect":
            found["api"].append(Event(fn_index, "detect", "detect", [None], 0, "target_media"))
        if dependency.get("api_visibility") != "private":
            continue
        [[trigger, _]] = dependency["targets"]
        trigger_id = components[trigger].get("props", {}).get("elem_id", "")
        for position, component in enumerate(inputs):
            if component["type"] == "file":
                name = component["props"]["label"]
                event = Event(
                    fn_index, dependency["api_name"], trigger_id, defaults, position, name
                )
                found["ui"].append(event)
    assert len(found["ui"]) >= 14 and found["api"], found  # a run and a job button per op tab
    return found


@pytest.fixture(scope="module")
def uploaded(server: ServerHandle) -> str:
    with TARGET.open("rb") as handle:
        answer = httpx.post(
            f"{server.url}gradio_api/upload", files=[("files", (TARGET.name, handle))], timeout=60
        )
    answer.raise_for_status()
    return str(answer.json()[0])


def _send(server: ServerHandle, route: str, event: Event, data: list[Any]) -> httpx.Response:
    if route == "queue":
        body = {"fn_index": event.fn_index, "data": data, "session_hash": uuid.uuid4().hex}
        return httpx.post(f"{server.url}gradio_api/queue/join", json=body, timeout=60)
    if route == "call/v2":  # parameters by name: gradio serves only endpoints it lists there
        keywords = {event.file_parameter: data[event.file_position]}
        return httpx.post(f"{server.url}gradio_api/call/v2/{event.api_name}", json=keywords)
    return httpx.post(f"{server.url}gradio_api/{route}/{event.api_name}", json={"data": data})


@pytest.mark.slow
@pytest.mark.parametrize("route", ["queue", "call", "run", "call/v2"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_file_input_that_is_no_uploaded_file_data_is_refused(
    server: ServerHandle,
    events: dict[str, list[Event]],
    uploaded: str,
    route: str,
    variant: str,
) -> None:
    chosen = VARIANTS[variant]
    targets = events["ui"] + (events["api"] if chosen.api_too else [])
    tracebacks = server.log().count("Traceback")
    for event in targets:
        data = list(event.defaults)
        data[event.file_position] = chosen.value(uploaded)
        answer = _send(server, route, event, data)
        where = f"{route} {event.api_name} (fn_index {event.fn_index}): {answer.text[:300]}"
        # The keyword route serves only listed endpoints: a UI event is unknown there.
        unknown = route == "call/v2" and event in events["ui"]
        assert answer.status_code in ((404,) if unknown else (400, 403)), where
        assert set(answer.json()) == {"error", "detail"}, where
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
