"""What `ffpipe serve` shows the world stays put: its gradio API listing and its error documents.

``tests/contract/serve.json`` holds both as a running server gave them: for every gradio endpoint
its parameters (name, type, default) and return types from ``/gradio_api/info``, and for a set of
refused requests the exact status, content type and body bytes, one per place in the server that
answers a refusal (legacy JSON, the gradio route guards, the JSON depth guard, gradio op and job
endpoints, the REST job routes, the auth gate and the job API's token). A refactoring of the
server that changes any of them fails here; a deliberate change rewrites the file with
``FFPIPE_WRITE_CONTRACT=1 pytest tests/test_server_contract.py`` and shows up in review as a diff.

Servers are real: the session's shared ``ffpipe serve`` and its auth server (subprocesses on
loopback), and the job API alone with a token, served in-thread by uvicorn.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

CONTRACT = Path(__file__).resolve().parent / "contract" / "serve.json"
REWRITE = os.environ.get("FFPIPE_WRITE_CONTRACT") == "1"
TOKEN = "contract-token"

pytestmark = pytest.mark.slow


def _endpoint_listing(info: dict[str, Any]) -> dict[str, Any]:
    """Per named endpoint what our code decides: parameter names, types, defaults, returns.

    gradio's own wording (descriptions of its types, example values) is left out: it belongs to
    the installed gradio, not to the server.
    """
    listing = {}
    for name, endpoint in sorted(info["named_endpoints"].items()):
        listing[name] = {
            "parameters": [
                {
                    "name": parameter.get("parameter_name"),
                    "has_default": parameter.get("parameter_has_default"),
                    "default": parameter.get("parameter_default"),
                    "type": parameter["python_type"]["type"],
                    "component": parameter.get("component"),
                }
                for parameter in endpoint["parameters"]
            ],
            "returns": [
                {"type": value["python_type"]["type"], "component": value.get("component")}
                for value in endpoint["returns"]
            ],
        }
    return listing


def _answer(response: httpx.Response) -> dict[str, Any]:
    kept_headers = ("content-type", "www-authenticate")
    return {
        "status": response.status_code,
        "headers": {key: response.headers[key] for key in kept_headers if key in response.headers},
        "body": response.text,
    }


def _nested(depth: int) -> bytes:
    return b'{"fn_index": 0, "data": ' + b"[" * depth + b"]" * depth + b"}"


def _uploaded(url: str, photo: Path) -> dict[str, Any]:
    with photo.open("rb") as handle:
        answer = httpx.post(
            f"{url}gradio_api/upload", files=[("files", (photo.name, handle))], timeout=60
        )
    assert answer.status_code == 200, answer.text
    return {"path": answer.json()[0], "orig_name": photo.name, "meta": {"_type": "gradio.FileData"}}


def _enhance_data(target: dict[str, Any], **values: Any) -> list[Any]:
    """``data`` of a gradio call of enhance: the defaults, ``values`` and the target in place."""
    from ffpipe.catalog import OPS
    from ffpipe.server.execute import parameter_order

    model = OPS["enhance"].params
    data = []
    for name in parameter_order("enhance"):
        field = model.model_fields[name]
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        data.append(list(default) if isinstance(default, tuple) else default)
    for name, value in {"target_media": target, **values}.items():
        data[parameter_order("enhance").index(name)] = value
    return data


def _serve_refusals(url: str, photo: Path) -> dict[str, dict[str, Any]]:
    """Refused requests to a plain `ffpipe serve`, one or more per place that answers them."""
    uploaded = _uploaded(url, photo)
    outside = {
        "path": "/etc/hostname",
        "orig_name": "hostname",
        "meta": {"_type": "gradio.FileData"},
    }
    calls: dict[str, tuple[str, str, dict[str, Any]]] = {
        "legacy: body not JSON": ("POST", "api/predict", {"content": b"{not json"}),
        "legacy: unknown fn_index": ("POST", "api/predict", {"json": {"fn_index": 99}}),
        "legacy: fn_index not a number": ("POST", "api/predict", {"json": {"fn_index": "x"}}),
        "legacy: invalid parameters": (
            "POST",
            "api/predict",
            {"json": {"fn_index": 1, "data": [None]}},
        ),
        "guard: unknown endpoint": ("POST", "gradio_api/call/nosuch", {"json": {"data": []}}),
        "guard: unknown fn_index": (
            "POST",
            "gradio_api/queue/join",
            {"json": {"fn_index": 999, "data": [], "session_hash": "x"}},
        ),
        "guard: data not a list": ("POST", "gradio_api/run/enhance", {"json": {"data": "x"}}),
        "guard: value missing": ("POST", "gradio_api/run/enhance", {"json": {"data": []}}),
        "guard: file outside the server": (
            "POST",
            "gradio_api/run/enhance",
            {"json": {"data": [outside]}},
        ),
        "depth guard: nested too deep": (
            "POST",
            "api/predict",
            {"content": _nested(100), "headers": {"content-type": "application/json"}},
        ),
        "gradio op: invalid parameter": (
            "POST",
            "gradio_api/run/enhance",
            {"json": {"data": _enhance_data(uploaded, face_enhancer_blend=500)}},
        ),
        "gradio job: unknown job": ("POST", "gradio_api/run/job_status", {"json": {"data": ["x"]}}),
        "gradio job: cancel unknown job": (
            "POST",
            "gradio_api/run/cancel_job",
            {"json": {"data": ["x"]}},
        ),
        "gradio job: params not JSON": (
            "POST",
            "gradio_api/run/submit_job",
            {"json": {"data": ["enhance", "{oops"]}},
        ),
        "gradio job: unknown op": (
            "POST",
            "gradio_api/run/submit_job",
            {"json": {"data": ["nosuch", "{}"]}},
        ),
        "rest: unknown job": ("GET", "api/jobs/nosuch", {}),
        "rest: unknown job result": ("GET", "api/jobs/nosuch/result", {}),
        "rest: cancel unknown job": ("POST", "api/jobs/nosuch/cancel", {}),
        "rest: no such route": ("GET", "api/jobs/a/b/c/d", {}),
        "rest: bad limit": ("GET", "api/jobs?limit=lots", {}),
        "rest: bad status filter": ("GET", "api/jobs?status=sleeping", {}),
        "rest: unsupported content type": (
            "POST",
            "api/jobs",
            {"content": b"x", "headers": {"content-type": "text/plain"}},
        ),
        "rest: unknown fields": ("POST", "api/jobs", {"json": {"op": "enhance", "when": 1}}),
        "rest: params not an object": (
            "POST",
            "api/jobs",
            {"json": {"op": "enhance", "params": 1}},
        ),
        "rest: files not base64": (
            "POST",
            "api/jobs",
            {"json": {"op": "enhance", "files": {"target_media": {"data": "!"}}}},
        ),
        "rest: unknown op": ("POST", "api/jobs", {"json": {"op": "nosuch"}}),
        "rest: invalid parameters": (
            "POST",
            "api/jobs",
            {"json": {"op": "enhance", "params": {"face_enhancer_blend": 5}}},
        ),
    }
    answers = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, (method, path, options) in calls.items():
            answers[name] = _answer(client.request(method, path, **options))
    return answers


@pytest.fixture(scope="module")
def observed(
    shared_server: Any,
    auth_server: Any,
    running_system: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
    astronaut: Path,
) -> dict[str, Any]:
    info = httpx.get(f"{shared_server.url}gradio_api/info", timeout=60)
    assert info.status_code == 200, info.text
    refusals = _serve_refusals(shared_server.url, astronaut)
    refusals["auth gate: no credentials"] = _answer(
        httpx.get(f"{auth_server.url}api/jobs", timeout=60)
    )
    from ffpipe.engine.builtin import BuiltinEngine

    data_dir = tmp_path_factory.mktemp("contract-jobs")
    with running_system(data_dir, BuiltinEngine(), token=TOKEN) as (_system, url):
        refusals["job token: none sent"] = _answer(httpx.get(f"{url}/api/jobs", timeout=60))
        refusals["job token: wrong one"] = _answer(
            httpx.get(f"{url}/api/jobs", headers={"authorization": "Bearer no"}, timeout=60)
        )
    return {"gradio_api": _endpoint_listing(info.json()), "refusals": refusals}


@pytest.fixture(scope="module")
def contract(observed: dict[str, Any]) -> dict[str, Any]:
    if REWRITE:
        CONTRACT.parent.mkdir(exist_ok=True)
        CONTRACT.write_text(json.dumps(observed, indent=1, sort_keys=True) + "\n")
    return json.loads(CONTRACT.read_text())


def test_the_gradio_api_listing_is_unchanged(
    observed: dict[str, Any], contract: dict[str, Any]
) -> None:
    assert observed["gradio_api"] == contract["gradio_api"]


def test_every_refusal_is_answered_as_before(
    observed: dict[str, Any], contract: dict[str, Any]
) -> None:
    assert sorted(observed["refusals"]) == sorted(contract["refusals"])
    for name, answer in observed["refusals"].items():
        assert answer == contract["refusals"][name], name


def test_every_refusal_is_in_the_catalog_shape(observed: dict[str, Any]) -> None:
    for name, answer in observed["refusals"].items():
        assert 400 <= answer["status"] < 600, name
        document = json.loads(answer["body"])
        assert set(document) == {"error", "detail"}, (name, document)
        assert document["error"], name
