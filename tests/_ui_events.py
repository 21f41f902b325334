"""The UI's gradio events as a raw caller sees them: read from the server's ``/config``, called
with a real upload on any of gradio's call routes (for the tests of what the guard refuses)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TARGET = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
MARK = {"_type": "gradio.FileData"}
"""The ``meta`` by which gradio tells an uploaded file from any other object."""


@dataclass(frozen=True)
class Input:
    """One input of a UI event: where it sits in ``data`` and its component's config."""

    position: int
    parameter: str
    kind: str
    """The component type, ``dropdown-multi`` for a multiselect."""
    props: dict[str, Any]


@dataclass(frozen=True)
class UiEvent:
    """One UI event: how to call it, the button that fires it and its inputs."""

    fn_index: int
    api_name: str
    trigger: str
    """The elem_id of the button that fires it."""
    defaults: list[Any]
    inputs: list[Input]


def _config(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}config", timeout=60).json()


def ui_events(url: str) -> list[UiEvent]:
    """Every UI event with inputs of the server at ``url`` (a run and a job button per op tab)."""
    config = _config(url)
    components = {component["id"]: component for component in config["components"]}
    found = []
    for dependency in config["dependencies"]:
        if dependency.get("api_visibility") != "private" or not dependency["inputs"]:
            continue
        [[trigger, _]] = dependency["targets"]
        configs = [components[key] for key in dependency["inputs"]]
        inputs = [
            Input(
                position,
                component["props"]["label"],
                component["type"] + ("-multi" if component["props"].get("multiselect") else ""),
                component["props"],
            )
            for position, component in enumerate(configs)
        ]
        found.append(
            UiEvent(
                dependency["id"],
                dependency["api_name"],
                components[trigger]["props"].get("elem_id", ""),
                [component["props"].get("value") for component in configs],
                inputs,
            )
        )
    return found


def fn_index_of(url: str, api_name: str) -> int:
    """The fn_index of the API endpoint ``api_name``."""
    [fn_index] = [
        item["id"] for item in _config(url)["dependencies"] if item["api_name"] == api_name
    ]
    return fn_index


def upload(url: str, path: Path = TARGET) -> str:
    """``path`` uploaded as the browser uploads it; the server path gradio gave it."""
    with path.open("rb") as handle:
        answer = httpx.post(
            f"{url}gradio_api/upload", files=[("files", (path.name, handle))], timeout=60
        )
    answer.raise_for_status()
    return str(answer.json()[0])


def send(url: str, route: str, fn_index: int, api_name: str, data: list[Any]) -> httpx.Response:
    """One raw call of an event: ``queue`` (joins the queue), else ``call``, ``run`` or ``api``."""
    if route == "queue":
        body = {"fn_index": fn_index, "data": data, "session_hash": uuid.uuid4().hex}
        return httpx.post(f"{url}gradio_api/queue/join", json=body, timeout=60)
    return httpx.post(f"{url}gradio_api/{route}/{api_name}", json={"data": data}, timeout=60)
