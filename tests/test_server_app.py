"""`ffpipe serve` over real HTTP on a free loopback port: the catalog example, errors, limits.

Each module-scoped server is a real subprocess started with the builtin engine; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from ffpipe.server.execute import parameter_order

if TYPE_CHECKING:
    from bench.serving import ServerHandle

MEDIA = Path(__file__).resolve().parent.parent / "media"
SOURCE = MEDIA / "grace_hopper.jpg"
TARGET = MEDIA / "astronaut.jpg"
MAX_FILE_SIZE = 2_000_000


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Client:
    return Client(server.url, verbose=False, download_files=str(server.data_dir.parent / "dl"))


def _image(path: str | Path) -> np.ndarray:
    import cv2

    pixels = cv2.imread(str(path))
    assert pixels is not None, f"{path} is not an image"
    return pixels


def _embedding(path: str | Path) -> np.ndarray:
    import cv2

    from ffpipe.engine.builtin import detect_faces

    faces = detect_faces(cv2.cvtColor(_image(path), cv2.COLOR_BGR2RGB))
    assert faces, f"no face in {path}"
    return faces[0].embedding


def _error_shape(error: BaseException) -> dict[str, str]:
    shape = json.loads(str(error))
    assert set(shape) == {"error", "detail"}
    return shape


def test_catalog_example_face_swap_returns_a_swapped_image(client: Client) -> None:
    # The catalog's example as written, except that files go through handle_file: with
    # gradio_client 2.x a plain path is sent as a string and never uploaded (see the next test).
    result = client.predict(
        source_face=handle_file(str(SOURCE)),
        target_media=handle_file(str(TARGET)),
        face_swapper_model="inswapper_128",
        fn_index=0,  # Varies by interface
    )
    output, document, extras = result
    swapped = _image(output)
    assert swapped.shape == _image(TARGET).shape
    assert not np.array_equal(swapped, _image(TARGET))
    moved = _embedding(output)
    assert np.linalg.norm(moved - _embedding(SOURCE)) < np.linalg.norm(moved - _embedding(TARGET))
    assert document["faces_processed"] == 1
    assert {"parameter": "face_swapper_model", "requested": "inswapper_128"}.items() <= next(
        s for s in document["substitutions"] if s["parameter"] == "face_swapper_model"
    ).items()
    assert extras == []


def test_catalog_example_enhancement_returns_an_enhanced_image(client: Client) -> None:
    output, document, _ = client.predict(
        target_media=handle_file(str(TARGET)),
        face_enhancer_model="gfpgan_1.4",
        face_enhancer_blend=0.8,
        fn_index=1,
    )
    enhanced = _image(output)
    assert enhanced.shape == _image(TARGET).shape
    assert not np.array_equal(enhanced, _image(TARGET))
    assert document["faces_processed"] == 1


def test_plain_paths_as_in_the_catalog_are_refused_with_advice(client: Client) -> None:
    with pytest.raises(AppError) as caught:
        client.predict(target_media=str(TARGET), face_enhancer_model="gfpgan_1.4", fn_index=1)
    shape = _error_shape(caught.value)
    assert shape["error"] == "file not allowed"
    assert "handle_file" in shape["detail"]


def test_named_endpoints_follow_the_catalog_order(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    named = api["named_endpoints"]
    order = ["swap", "enhance", "edit", "detect", "video", "extract_frames", "process"]
    jobs = ["submit_job", "job_status", "cancel_job"]
    assert set(named) == {f"/{name}" for name in [*order, "capabilities", *jobs]}
    for index, name in enumerate([*order, "capabilities", *jobs]):
        assert client.endpoints[index].api_name == f"/{name}"
    for name in order:
        names = [p["parameter_name"] for p in named[f"/{name}"]["parameters"]]
        assert names == parameter_order(name)


def test_detect_returns_json(client: Client) -> None:
    output, document, _ = client.predict(target_media=handle_file(str(TARGET)), api_name="/detect")
    faces = json.loads(Path(output).read_text())
    assert len(document["faces"]) == 1
    assert faces


def test_capabilities_on_gradio_and_rest_agree(client: Client, server: ServerHandle) -> None:
    document = client.predict(api_name="/capabilities")
    rest = httpx.get(f"{server.url}api/capabilities").json()
    assert rest == document
    for key in ("engine", "version", "ops", "models", "encoders", "devices", "limits"):
        assert key in document, key
    assert document["engine"] == "builtin"
    assert document["limits"]["max_file_size"] == MAX_FILE_SIZE
    assert document["limits"]["concurrency"] == 2
    assert document["limits"]["queue_size"] == 4
    assert document["endpoints"]["enhance"] == {"api_name": "/enhance", "fn_index": 1}
    swapper = document["models"]["face_swapper_model"]["inswapper_128"]
    assert swapper["status"] == "substituted"


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"face_detector_score": 2.0}, "face_detector_score"),
        ({"face_enhancer_blend": -0.5}, "face_enhancer_blend"),
        ({"face_enhancer_model": "gfpgan_9"}, "face_enhancer_model"),
        ({"face_mask_types": "box"}, "face_mask_types"),
        ({"output_path": "../../etc/cron.d/x.jpg"}, "bare file name"),
    ],
)
def test_bad_parameters_are_clear_errors(
    client: Client, server: ServerHandle, values: dict[str, Any], fragment: str
) -> None:
    tracebacks = server.log().count("Traceback")
    with pytest.raises(AppError) as caught:
        client.predict(target_media=handle_file(str(TARGET)), api_name="/enhance", **values)
    shape = _error_shape(caught.value)
    assert shape["error"] == "invalid parameters"
    assert fragment in shape["detail"]
    assert server.log().count("Traceback") == tracebacks
    assert server.alive()


def _raw_call(server: ServerHandle, name: str, data: list[Any]) -> str:
    """POST /gradio_api/call/<name> and read the whole event stream of its answer."""
    posted = httpx.post(f"{server.url}gradio_api/call/{name}", json={"data": data}, timeout=60)
    assert posted.status_code == 200, posted.text
    event_id = posted.json()["event_id"]
    answer = httpx.get(f"{server.url}gradio_api/call/{name}/{event_id}", timeout=60)
    return answer.text


def _defaults(op: str) -> list[Any]:
    from ffpipe.catalog import OPS

    model = OPS[op].params
    values = []
    for name in parameter_order(op):
        field = model.model_fields[name]
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        values.append(list(default) if isinstance(default, tuple) else default)
    return values


@pytest.mark.parametrize("with_meta", [False, True])
def test_raw_filedata_outside_the_server_folders_is_refused(
    server: ServerHandle, with_meta: bool
) -> None:
    secret = Path("/etc/passwd").read_text()
    file_data: dict[str, Any] = {"path": "/etc/passwd"}
    if with_meta:
        file_data["meta"] = {"_type": "gradio.FileData"}
    data = _defaults("detect")
    data[0] = file_data
    if with_meta:
        # A FileData gradio would move itself: refused before gradio sees it, by name.
        posted = httpx.post(f"{server.url}gradio_api/call/detect", json={"data": data}, timeout=60)
        assert posted.status_code == 403, posted.text
        assert posted.json()["error"] == "file not allowed"
        answer = posted.text
    else:
        answer = _raw_call(server, "detect", data)
        assert "event: error" in answer
        assert "event: complete" not in answer
    assert "root:" not in answer
    copies = [
        path
        for path in server.data_dir.rglob("*")
        if path.is_file()
        and path.stat().st_size == len(secret.encode())
        and path.read_text(errors="replace") == secret
    ]
    assert copies == []
    assert server.alive()


def test_raw_filedata_refusal_explains_itself_without_meta(server: ServerHandle) -> None:
    data = _defaults("detect")
    data[0] = {"path": "/etc/passwd"}
    answer = _raw_call(server, "detect", data)
    assert "not a file uploaded to this server" in answer


def test_an_oversize_upload_is_refused_with_the_limit(server: ServerHandle, tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * (MAX_FILE_SIZE + 1000))
    with big.open("rb") as handle:
        response = httpx.post(
            f"{server.url}gradio_api/upload", files=[("files", ("big.jpg", handle))], timeout=60
        )
    assert response.status_code == 413
    assert f"maximum allowed size of {MAX_FILE_SIZE} bytes" in response.text
    assert server.alive()


def test_gradio_client_refuses_an_oversize_file_before_sending(
    client: Client, tmp_path: Path
) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * (MAX_FILE_SIZE + 1000))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(target_media=handle_file(str(big)), api_name="/detect")


def test_an_unknown_fn_index_is_a_clear_error(client: Client, server: ServerHandle) -> None:
    tracebacks = server.log().count("Traceback")
    with pytest.raises(ValueError, match="Invalid function index"):
        client.predict(fn_index=99)
    response = httpx.post(
        f"{server.url}gradio_api/queue/join",
        json={"data": [], "fn_index": 99, "session_hash": "abc", "event_data": None},
    )
    assert response.status_code == 404
    assert response.json()["error"] == "unknown fn_index"
    assert server.log().count("Traceback") == tracebacks
    assert server.alive()


def test_the_server_keeps_serving_after_errors(client: Client) -> None:
    _, document, _ = client.predict(target_media=handle_file(str(TARGET)), api_name="/detect")
    assert len(document["faces"]) == 1


def test_every_request_is_logged_once(server: ServerHandle) -> None:
    marker = "/api/capabilities?probe=log-line"
    httpx.get(f"{server.url}{marker.lstrip('/')}")
    lines = [line for line in server.log().splitlines() if "GET /api/capabilities" in line]
    assert lines, server.log()[-2000:]
    assert all(" 200 " in line for line in lines)


def test_twenty_concurrent_clients_succeed_or_get_queue_full(server: ServerHandle) -> None:
    process = psutil.Process(server.process.pid)

    def burst() -> tuple[int, list[str]]:
        successes = 0
        refusals: list[str] = []
        lock = threading.Lock()

        def one() -> None:
            nonlocal successes
            # A generous read timeout: on a busy machine a queued request may wait a long time,
            # and only a success or a "queue full" answer says something about the server.
            client = Client(
                server.url, verbose=False, download_files=False, httpx_kwargs={"timeout": 300}
            )
            try:
                client.predict(target_media=handle_file(str(TARGET)), api_name="/detect")
                with lock:
                    successes += 1
            except Exception as error:
                with lock:
                    refusals.append(f"{type(error).__name__}: {error}")
            finally:
                client.close()

        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        return successes, refusals

    first_successes, first_refusals = burst()
    after_first = process.memory_info().rss
    second_successes, second_refusals = burst()
    after_second = process.memory_info().rss
    for refusal in first_refusals + second_refusals:
        assert "queue is full" in refusal.lower() or "queue full" in refusal.lower(), refusal
    assert first_successes + len(first_refusals) == 20
    assert second_successes + len(second_refusals) == 20
    assert first_successes >= 2 and second_successes >= 2
    assert server.alive()
    # Memory settles: a second identical burst does not keep growing the server.
    assert after_second < after_first * 1.25 + 50 * 2**20


def test_a_busy_port_is_a_clear_cli_error(
    server: ServerHandle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ffpipe.cli import main

    # In-process, as a CLI test should be: serve sets gradio's variables in os.environ, so they
    # are put back after the test.
    for name in (
        "GRADIO_TEMP_DIR",
        "GRADIO_ANALYTICS_ENABLED",
        "HF_HUB_OFFLINE",
        "GRADIO_SSR_MODE",
    ):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    code = main(["serve", "--port", str(server.port), "--data-dir", str(tmp_path / "second")])
    errors = capsys.readouterr().err
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{server.port}" in errors
    assert "Traceback" not in errors
    assert server.alive()
