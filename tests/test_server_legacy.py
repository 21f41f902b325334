"""The catalog's legacy JSON protocol (POST /api/predict) on a real `ffpipe serve`."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest

if TYPE_CHECKING:
    from bench.serving import ServerHandle

MEDIA = Path(__file__).resolve().parent.parent / "media"
TARGET = MEDIA / "astronaut.jpg"
SOURCE = MEDIA / "grace_hopper.jpg"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


def _predict(server: ServerHandle, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}api/predict", json=body, timeout=120, **kwargs)


def test_swap_with_base64_file_objects_answers_the_catalog_shape(server: ServerHandle) -> None:
    response = _predict(
        server,
        {
            "fn_index": 0,
            "data": [
                {"name": "source.jpg", "data": _b64(SOURCE), "is_file": True},
                {"name": "target.jpg", "data": _b64(TARGET), "is_file": True},
            ],
        },
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"data", "duration", "average_duration"}
    assert answer["duration"] > 0 and answer["average_duration"] > 0
    output, document, extras = answer["data"]
    assert set(output) == {"name", "data", "is_file", "orig_name"}
    assert output["is_file"] is True and output["name"] == "target.jpg"
    import cv2

    pixels = cv2.imdecode(np.frombuffer(base64.b64decode(output["data"]), np.uint8), 1)
    assert pixels.shape == cv2.imread(str(TARGET)).shape
    assert document["faces_processed"] == 1
    assert extras == []


def test_data_urls_and_positional_parameters_work(server: ServerHandle) -> None:
    data_url = f"data:image/jpeg;base64,{_b64(TARGET)}"
    # detect's positional order: target_media, output_path, face_detector_model, ...
    response = _predict(server, {"fn_index": 3, "data": [data_url, "found.json", "retinaface"]})
    assert response.status_code == 200, response.text
    output, document, _ = response.json()["data"]
    assert output["name"] == "found.json"
    faces = json.loads(base64.b64decode(output["data"]))
    assert faces["faces"] == document["faces"]
    assert len(document["faces"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"fn_index": 99, "data": []}, 404, "unknown fn_index"),
        ({"fn_index": "swap", "data": []}, 400, "malformed request"),
        ({"fn_index": 3, "data": "nope"}, 400, "malformed request"),
        ({"fn_index": 3, "data": [{"path": "/etc/passwd"}]}, 403, "file not allowed"),
        ({"fn_index": 3, "data": ["/etc/passwd"]}, 403, "file not allowed"),
        ({"fn_index": 3, "data": [{"name": "a.jpg", "data": "%%%"}]}, 400, "invalid file"),
        (
            {"fn_index": 3, "data": [{"name": "a.jpg", "data": _b64(TARGET)}, None, "yolo"]},
            422,
            "invalid parameters",
        ),
        ({"fn_index": 3, "data": [None] * 200}, 400, "malformed request"),
        ([1, 2, 3], 400, "malformed request"),
    ],
)
def test_failures_are_catalog_errors_with_4xx(
    server: ServerHandle, body: Any, status: int, error: str
) -> None:
    response = _predict(server, body)
    assert response.status_code == status, response.text
    shape = response.json()
    assert set(shape) == {"error", "detail"}
    assert shape["error"] == error
    assert "root:" not in response.text
    assert server.alive()


def test_a_body_that_is_not_json_is_a_400(server: ServerHandle) -> None:
    response = httpx.post(f"{server.url}api/predict", content=b"{nope", timeout=30)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed request"


def test_an_oversize_file_is_refused_with_the_limit(server: ServerHandle) -> None:
    big = base64.b64encode(b"\xff" * 2_200_000).decode()
    response = _predict(server, {"fn_index": 3, "data": [{"name": "big.jpg", "data": big}]})
    assert response.status_code == 413
    assert "2 MB" in response.json()["detail"]


def test_an_oversize_body_is_refused_before_it_is_read(server: ServerHandle) -> None:
    huge = b'{"fn_index": 3, "data": ["' + b"A" * 7_500_000 + b'"]}'
    response = httpx.post(f"{server.url}api/predict", content=huge, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"] == "request too large"
    assert server.alive()


def test_admission_refuses_beyond_running_plus_waiting() -> None:
    from ffpipe.server.errors import RequestError
    from ffpipe.server.protocols.legacy import Admission

    admission = Admission(concurrency=1, queue_size=2)
    for _ in range(3):
        admission.enter()
    with pytest.raises(RequestError) as caught:
        admission.enter()
    assert caught.value.status == 429
    assert caught.value.error == "queue full"
    admission.leave()
    admission.enter()


def _files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()


def test_no_upload_or_output_stays_behind_after_a_request(server: ServerHandle) -> None:
    # The server is shared: what other tests' gradio requests left in outputs/ stays out of this.
    outputs_before = _files_under(server.data_dir / "outputs")
    file = {"name": "target.jpg", "data": _b64(TARGET)}
    answered = _predict(server, {"fn_index": 3, "data": [file]})
    assert answered.status_code == 200, answered.text
    refused = _predict(server, {"fn_index": 0, "data": [file, {"name": "t.jpg", "data": "%"}]})
    assert refused.status_code == 400, refused.text
    enhanced = _predict(server, {"fn_index": 1, "data": [{"name": "x.jpg", "data": _b64(SOURCE)}]})
    assert enhanced.status_code == 200, enhanced.text
    no_face = _predict(
        server, {"fn_index": 1, "data": [{"name": "n.png", "data": _b64(_blank_png(server))}]}
    )
    assert no_face.status_code == 422, no_face.text
    assert _files_under(server.data_dir / "uploads" / "legacy") == set()
    assert _files_under(server.data_dir / "outputs") == outputs_before


def _blank_png(server: ServerHandle) -> Path:
    import cv2

    path = server.data_dir.parent / "blank.png"
    cv2.imwrite(str(path), np.full((64, 64, 3), 128, np.uint8))
    return path
