"""A UI event (or an API endpoint) given a value its widget cannot take (a slider given null or
a number in a string, a checkbox a list, a dropdown a value outside its choices) is refused 422
in the catalog's words, naming the parameter, on every route: never a 500 or a bare
``{"error": null}`` event. A raw call sending only the first values gets the widgets' defaults.
All against the session's real ``ffpipe serve`` on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from _ui_events import MARK, TARGET, UiEvent, fn_index_of, send, ui_events, upload

from bench.serving import ServerHandle


@dataclass(frozen=True)
class Variant:
    """A value no widget of ``kind`` can take, given the widget's config."""

    kind: str
    value: Callable[[dict[str, Any]], Any]


VARIANTS = {
    "slider null": Variant("slider", lambda props: None),
    "slider a number in a string": Variant("slider", lambda props: str(props["value"])),
    "slider far above its maximum": Variant("slider", lambda props: props["maximum"] * 2 + 10),
    "number a word": Variant("number", lambda props: "seven"),
    "number in a list": Variant("number", lambda props: [props.get("value") or 1]),
    "checkbox a list": Variant("checkbox", lambda props: [True]),
    "checkbox null": Variant("checkbox", lambda props: None),
    "dropdown outside its choices": Variant("dropdown", lambda props: "no such choice"),
    "dropdown a list": Variant("dropdown", lambda props: [props["value"]]),
    "multiselect outside its choices": Variant("dropdown-multi", lambda props: ["no such"]),
    "textbox a number": Variant("textbox", lambda props: 5),
}


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


@pytest.fixture(scope="module")
def events(server: ServerHandle) -> list[UiEvent]:
    found = ui_events(server.url)
    assert len(found) >= 14, found  # a run and a job button per op tab
    return found


@pytest.fixture(scope="module")
def uploaded(server: ServerHandle) -> dict[str, Any]:
    return {"path": upload(server.url), "orig_name": TARGET.name, "meta": MARK}


def _assert_refused(answer: httpx.Response, parameter: str, where: str) -> None:
    assert answer.status_code == 422, where
    refusal = answer.json()
    assert set(refusal) == {"error", "detail"} and refusal["error"] == "invalid parameters", where
    # The parameter is named first ("name: ...", or "name.0: ..." for an item of a list).
    assert refusal["detail"].split(":")[0].split(".")[0] == parameter, where


@pytest.mark.slow
@pytest.mark.parametrize("route", ["queue", "call", "run"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_value_its_widget_cannot_take_is_refused_naming_the_parameter(
    server: ServerHandle, events: list[UiEvent], route: str, variant: str
) -> None:
    chosen = VARIANTS[variant]
    tracebacks = server.log().count("Traceback")
    tried = 0
    for event in events:
        widget = next((item for item in event.inputs if item.kind == chosen.kind), None)
        if widget is None:
            continue
        data = list(event.defaults)
        data[widget.position] = chosen.value(widget.props)
        answer = send(server.url, route, event.fn_index, event.api_name, data)
        where = f"{route} {event.trigger} {widget.parameter}: {answer.text[:300]}"
        _assert_refused(answer, widget.parameter, where)
        tried += 1
    assert tried >= 2, f"no two UI events have a {chosen.kind}"
    assert server.log().count("Traceback") == tracebacks


@pytest.mark.slow
def test_an_api_endpoint_refuses_the_same_values_in_the_same_words(
    server: ServerHandle, uploaded: dict[str, Any]
) -> None:
    info = httpx.get(f"{server.url}gradio_api/info", timeout=60).json()
    parameters = info["named_endpoints"]["/detect"]["parameters"]
    fn_index = fn_index_of(server.url, "detect")
    names = [parameter["parameter_name"] for parameter in parameters]
    for name, value in (("face_detector_score", None), ("face_detector_model", "no such")):
        data = [uploaded, *(parameter["parameter_default"] for parameter in parameters[1:])]
        data[names.index(name)] = value
        answer = send(server.url, "run", fn_index, "detect", data)
        _assert_refused(answer, name, f"run detect {name}: {answer.text[:300]}")


@pytest.mark.slow
def test_a_call_sending_only_the_first_values_gets_the_widgets_defaults(
    server: ServerHandle, events: list[UiEvent], uploaded: dict[str, Any]
) -> None:
    """The browser sends every value; a raw caller may send the file alone."""
    [run_detect] = [event for event in events if event.trigger == "run-detect"]
    answer = send(server.url, "run", run_detect.fn_index, run_detect.api_name, [uploaded])
    assert answer.status_code == 200, answer.text
    error_pane, *_, document = answer.json()["data"]
    assert error_pane == "" and document["face_count"] == 1, answer.text


@pytest.mark.slow
def test_a_cleared_number_box_is_let_through_as_unset(
    server: ServerHandle, events: list[UiEvent]
) -> None:
    """The page sends null for a number box the user cleared: the run takes the parameter's
    default. No file is sent, so the run refuses in its error pane before doing anything."""
    tried = 0
    for event in events:
        numbers = [item for item in event.inputs if item.kind == "number"]
        if not numbers or not event.trigger.startswith("run-"):
            continue
        data = list(event.defaults)
        for number in numbers:
            data[number.position] = None
        answer = send(server.url, "run", event.fn_index, event.api_name, data)
        assert answer.status_code == 200, answer.text
        error_pane = answer.json()["data"][0]
        assert "invalid parameters" in error_pane and "target\\_media" in error_pane, error_pane
        assert not any(number.parameter.replace("_", "\\_") in error_pane for number in numbers)
        tried += 1
    assert tried >= 1
