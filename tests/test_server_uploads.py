"""Uploads named ``blob`` (gradio's JavaScript client), or with no name, on every route of a real
`ffpipe serve`: the server works on a copy named by the content, and answers with an output whose
name and bytes agree. A real server subprocess on loopback, the builtin engine, nothing mocked."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
from _video_support import make_video
from gradio_client import Client, handle_file

from bench.serving import ServerHandle, start_server
from ffpipe.media import JPEG, MP4, PNG, WEBP, MediaType, sniff, sniff_file, type_of_name

pytestmark = pytest.mark.slow  # starts ffpipe serve

MEDIA = Path(__file__).resolve().parent.parent / "media"
ASTRONAUT = MEDIA / "astronaut.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = start_server(tmp_path_factory.mktemp("uploads"))
    yield handle
    assert handle.stop() == 0


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[MediaType, bytes]:
    """The astronaut (shrunk to keep requests quick) encoded as PNG, JPEG and WebP."""
    pixels = cv2.resize(cv2.imread(str(ASTRONAUT)), (256, 256), interpolation=cv2.INTER_AREA)
    return {media: cv2.imencode(media.suffix, pixels)[1].tobytes() for media in (PNG, JPEG, WEBP)}


def _js_upload(server: ServerHandle, content: bytes) -> dict[str, Any]:
    """What gradio's JavaScript client does: POST the file as ``blob``, send FileData back."""
    answer = httpx.post(
        f"{server.url}gradio_api/upload", files=[("files", ("blob", content))], timeout=60
    )
    answer.raise_for_status()
    [path] = answer.json()
    assert Path(path).name == "blob"
    return {"path": path, "orig_name": "blob", "meta": {"_type": "gradio.FileData"}}


def _call(server: ServerHandle, endpoint: str, data: list[Any]) -> list[Any]:
    posted = httpx.post(f"{server.url}gradio_api/call/{endpoint}", json={"data": data}, timeout=60)
    assert posted.status_code == 200, posted.text
    stream = httpx.get(
        f"{server.url}gradio_api/call/{endpoint}/{posted.json()['event_id']}", timeout=120
    ).text
    assert "event: complete" in stream, stream
    payload = stream.split("event: complete\ndata: ", 1)[1].splitlines()[0]
    return json.loads(payload)


def _fetched(server: ServerHandle, file_data: dict[str, Any]) -> bytes:
    url = file_data.get("url") or f"{server.url}gradio_api/file={file_data['path']}"
    return httpx.get(url, timeout=60).content


@pytest.mark.parametrize("media", [PNG, JPEG, WEBP], ids=lambda media: media.name)
def test_a_js_style_blob_upload_works_on_a_gradio_endpoint(
    server: ServerHandle, photos: dict[MediaType, bytes], media: MediaType
) -> None:
    output, document, _ = _call(server, "enhance", [_js_upload(server, photos[media])])
    assert document["faces_processed"] == 1
    name = output.get("orig_name") or Path(output["path"]).name
    assert name == f"blob{media.suffix}"
    assert sniff(_fetched(server, output)) == media


def test_gradio_client_uploads_of_a_file_without_extension_work(
    server: ServerHandle, photos: dict[MediaType, bytes], tmp_path: Path
) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(photos[PNG])
    client = Client(server.url, verbose=False, download_files=str(tmp_path / "dl"))
    output, document, _ = client.predict(target_media=handle_file(str(blob)), api_name="/enhance")
    assert document["faces_processed"] == 1
    assert Path(output).name == "blob.png" and sniff_file(Path(output)) == PNG


def _predict(server: ServerHandle, fn_index: int, data: list[Any]) -> dict[str, Any]:
    answer = httpx.post(
        f"{server.url}api/predict", json={"fn_index": fn_index, "data": data}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(
    "file_object",
    [
        lambda content: {"name": "blob", "data": base64.b64encode(content).decode()},
        lambda content: {"data": base64.b64encode(content).decode(), "is_file": True},
        lambda content: (
            "data:application/octet-stream;base64," + base64.b64encode(content).decode()
        ),
    ],
    ids=["named-blob", "no-name", "data-url"],
)
def test_legacy_predict_takes_files_without_a_useful_name(
    server: ServerHandle, photos: dict[MediaType, bytes], file_object: Any
) -> None:
    enhance = 1
    output, document, _ = _predict(server, enhance, [file_object(photos[PNG])])["data"]
    assert document["faces_processed"] == 1
    assert type_of_name(output["name"]) == PNG
    assert sniff(base64.b64decode(output["data"])) == PNG


def test_legacy_predict_takes_a_video_named_blob(server: ServerHandle, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", width=160, height=120, seconds=0.5)
    video = 4
    sent = {"name": "blob", "data": base64.b64encode(clip.read_bytes()).decode()}
    output, document, _ = _predict(server, video, [sent])["data"]
    assert document["frames_out"] == 12
    assert output["name"] == "blob.mp4" and sniff(base64.b64decode(output["data"])) == MP4


def test_a_multipart_job_upload_named_blob_runs(
    server: ServerHandle, photos: dict[MediaType, bytes]
) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        submitted = http.post(
            "/api/jobs",
            data={"op": "enhance", "params": "{}"},
            files={"target_media": ("blob", photos[JPEG], "application/octet-stream")},
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        deadline = time.monotonic() + 120
        while (status := http.get(f"/api/jobs/{job_id}").json())["status"] not in (
            "completed",
            "failed",
        ):
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status["status"] == "completed", status
        [item] = http.get(f"/api/jobs/{job_id}/result").json()["data"]
    assert item["orig_name"] == "blob.jpg"
    assert sniff(base64.b64decode(item["data"])) == JPEG
