"""Every protocol of `ffpipe serve` gives the same error document for the same request.

The four ways in: gradio_client, a raw ``POST /gradio_api/call/enhance``, the legacy
``POST /api/predict`` and a job through ``POST /api/jobs``. Each request goes to one real server
process on loopback, and each failure must come back as the same ``{"error", "detail"}``.

What is injected, and why: an internal failure cannot be provoked from outside a correct server,
so the server is built (by ``ffpipe.server.app.start``, as ``ffpipe serve`` builds it) around the
builtin engine wrapped in ``PlantedFault``, which raises a ``RuntimeError`` naming a server path
whenever the target file is called ``explode*``. Every other request runs the real builtin engine.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from ffpipe.catalog import OPS
from ffpipe.server.execute import ENDPOINT_ORDER, internal_error, parameter_order

LAUNCHER = '''
"""`ffpipe serve` built around an engine with a planted fault (see tests/test_server_protocols)."""
import argparse
from pathlib import Path

from ffpipe.engine.builtin import BuiltinEngine
from ffpipe.server.app import start
from ffpipe.server.settings import ServerSettings


class PlantedFault(BuiltinEngine):
    def run(self, op, params, context):
        if Path(params.target_media).name.startswith("explode"):
            raise RuntimeError("cannot map /srv/ffpipe/weights/enhancer.onnx: device lost")
        return super().run(op, params, context)


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int)
parser.add_argument("--data-dir", type=Path)
args = parser.parse_args()
server = start(ServerSettings(data_dir=args.data_dir.resolve(), port=args.port), PlantedFault())
print(f"ffpipe serve (planted fault): listening on {server.url}", flush=True)
try:
    server.wait()
except KeyboardInterrupt:
    server.close()
'''

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
OP = "enhance"
SECRET_PATH = "/srv/ffpipe/weights"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, start_server) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("protocols")
    launcher = folder / "serve_with_fault.py"
    launcher.write_text(LAUNCHER)
    handle = start_server(folder, program=[str(launcher)])
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    good, explode = folder / "portrait.jpg", folder / "explode.jpg"
    good.write_bytes(ASTRONAUT.read_bytes())
    explode.write_bytes(ASTRONAUT.read_bytes())
    return {"good": good, "explode": explode}


def _positional(values: dict[str, Any], target: Any) -> list[Any]:
    """Every value of the op in endpoint order: the defaults, then ``values`` and the target."""
    model = OPS[OP].params
    data = []
    for name in parameter_order(OP):
        field = model.model_fields[name]
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        data.append(list(default) if isinstance(default, tuple) else default)
    for name, value in {"target_media": target, **values}.items():
        data[parameter_order(OP).index(name)] = value
    return data


def _shape(document: Any) -> dict[str, str]:
    assert isinstance(document, dict) and set(document) >= {"error", "detail"}, document
    return {"error": document["error"], "detail": document["detail"]}


def via_gradio_client(server: Any, target: Path, values: dict[str, Any]) -> dict[str, str]:
    client = Client(server.url, verbose=False, download_files=str(target.parent / "downloads"))
    with pytest.raises(AppError) as caught:
        client.predict(target_media=handle_file(str(target)), api_name=f"/{OP}", **values)
    return _shape(json.loads(str(caught.value)))


def via_raw_call(server: Any, target: Path, values: dict[str, Any]) -> dict[str, str]:
    with target.open("rb") as handle:
        uploaded = httpx.post(
            f"{server.url}gradio_api/upload", files=[("files", (target.name, handle))], timeout=60
        )
    assert uploaded.status_code == 200, uploaded.text
    file_data = {
        "path": uploaded.json()[0],
        "orig_name": target.name,
        "meta": {"_type": "gradio.FileData"},
    }
    call = f"{server.url}gradio_api/call/{OP}"
    posted = httpx.post(call, json={"data": _positional(values, file_data)}, timeout=60)
    assert posted.status_code == 200, posted.text
    stream = httpx.get(f"{call}/{posted.json()['event_id']}", timeout=120).text
    lines = stream.splitlines()
    assert "event: error" in lines, stream
    # gradio's error event wraps the endpoint's message: {"error": message, "title", ...}.
    envelope = json.loads(lines[lines.index("event: error") + 1].removeprefix("data: "))
    return _shape(json.loads(envelope["error"]))


def via_predict(server: Any, target: Path, values: dict[str, Any]) -> dict[str, str]:
    encoded = {"name": target.name, "data": base64.b64encode(target.read_bytes()).decode()}
    body = {"fn_index": ENDPOINT_ORDER.index(OP), "data": _positional(values, encoded)}
    answer = httpx.post(f"{server.url}api/predict", json=body, timeout=120)
    assert answer.status_code in (422, 500), answer.text
    return _shape(answer.json())


def via_jobs(server: Any, target: Path, values: dict[str, Any]) -> dict[str, str]:
    encoded = {"name": target.name, "data": base64.b64encode(target.read_bytes()).decode()}
    body = {"op": OP, "params": values, "files": {"target_media": encoded}}
    answer = httpx.post(f"{server.url}api/jobs", json=body, timeout=60)
    if answer.status_code != 202:
        assert answer.status_code == 422, answer.text
        return _shape(answer.json())
    job = answer.json()["job_id"]
    deadline = time.monotonic() + 120
    while (status := httpx.get(f"{server.url}api/jobs/{job}", timeout=30).json())["status"] in (
        "queued",
        "processing",
    ):
        assert time.monotonic() < deadline, f"job {job} never finished"
        time.sleep(0.1)
    assert status["status"] == "failed", status
    return _shape(status["result"])


PROTOCOLS: dict[str, Callable[[Any, Path, dict[str, Any]], dict[str, str]]] = {
    "gradio_client": via_gradio_client,
    "gradio_api/call": via_raw_call,
    "api/predict": via_predict,
    "api/jobs": via_jobs,
}


def _answers(server: Any, target: Path, values: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {name: ask(server, target, values) for name, ask in PROTOCOLS.items()}


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"face_enhancer_blend": 5.0}, "face_enhancer_blend"),
        ({"face_enhancer_model": "gfpgan_9"}, "face_enhancer_model"),
        ({"output_path": "../escape.jpg"}, "bare file name"),
    ],
)
def test_a_bad_request_gets_the_same_error_on_every_protocol(
    server: Any, photos: dict[str, Path], values: dict[str, Any], fragment: str
) -> None:
    answers = _answers(server, photos["good"], values)
    first = answers["api/predict"]
    assert first["error"] == "invalid parameters" and fragment in first["detail"], first
    assert all(answer == first for answer in answers.values()), answers


def test_an_internal_failure_gets_the_same_error_on_every_protocol(
    server: Any, photos: dict[str, Path]
) -> None:
    answers = _answers(server, photos["explode"], {})
    expected = internal_error(OP).shape()
    assert answers == dict.fromkeys(PROTOCOLS, expected)
    for answer in answers.values():
        text = json.dumps(answer)
        assert SECRET_PATH not in text and "RuntimeError" not in text
        assert str(server.data_dir) not in text
    log = server.log()
    assert log.count(f"{SECRET_PATH}/enhancer.onnx") >= len(PROTOCOLS), "logged on the server"
    assert server.alive()


def test_the_same_good_request_works_on_every_protocol_of_that_server(
    server: Any, photos: dict[str, Path]
) -> None:
    # The planted fault touches only files named explode*: the rest is the real builtin engine.
    client = Client(server.url, verbose=False, download_files=str(photos["good"].parent / "dl"))
    output, result, _extras = client.predict(
        target_media=handle_file(str(photos["good"])), api_name=f"/{OP}"
    )
    assert Path(output).is_file() and result["substitutions"]
