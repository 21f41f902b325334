"""User mistakes on a real `ffpipe serve` end in the catalog's 4xx or work; never a 500 or a reset.

Long upload names, ``extract_frames`` into ``output.zip`` on every route, user errors on gradio's
``run`` and ``api`` routes, and what a failed job's status tells (never a server path or an
exception type).
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file

from bench.serving import ServerHandle
from ffpipe.engine.api import Engine, EngineOutput, MediaError, RunContext
from ffpipe.server.execute import without_paths

pytestmark = pytest.mark.slow  # against ffpipe serve

MEDIA = Path(__file__).resolve().parent.parent / "media"
TARGET = MEDIA / "astronaut.jpg"
FINAL = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, make_video: Callable[..., Path]) -> Path:
    """One second of video, five frames: enough to extract, quick to send."""
    folder = tmp_path_factory.mktemp("clip")
    return make_video(folder / "clip.mp4", width=160, height=120, fps=5, seconds=1)


def _upload(server: ServerHandle, path: Path, name: str) -> httpx.Response:
    with path.open("rb") as handle:
        return httpx.post(
            f"{server.url}gradio_api/upload", files=[("files", (name, handle))], timeout=60
        )


def _file_data(path: str) -> dict[str, Any]:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


@pytest.mark.parametrize("name", ["a" * 300 + ".jpg", "é" * 200 + ".jpg", "x." + "€" * 100])
def test_an_upload_named_over_255_bytes_is_kept_under_a_shorter_name(
    server: ServerHandle, name: str
) -> None:
    tracebacks = server.log().count("Traceback")
    answer = _upload(server, TARGET, name)
    assert answer.status_code == 200, answer.text
    [stored] = answer.json()
    assert len(Path(stored).name.encode()) <= 255
    assert Path(stored).is_file()
    detected = httpx.post(
        f"{server.url}gradio_api/run/detect", json={"data": [_file_data(stored)]}, timeout=120
    )
    assert detected.status_code == 200, detected.text
    assert detected.json()["data"][1]["face_count"] == 1
    assert server.log().count("Traceback") == tracebacks


def _frames_in(archive: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        return [name for name in bundle.namelist() if not name.endswith("/")]


def _zip_by_gradio(server: ServerHandle, clip: Path) -> tuple[str, bytes]:
    client = Client(server.url, verbose=False)
    try:
        output, document, _ = client.predict(
            target_media=handle_file(clip), output_path="output.zip", api_name="/extract_frames"
        )
    finally:
        client.close()
    assert document["ffpipe_files"][0] == {"key": "output", "archive": True}
    return Path(output).name, Path(output).read_bytes()


def _zip_by_predict(server: ServerHandle, clip: Path) -> tuple[str, bytes]:
    data = {"name": clip.name, "data": base64.b64encode(clip.read_bytes()).decode()}
    answer = httpx.post(
        f"{server.url}api/predict",
        json={"fn_index": 5, "data": [data, True, "output.zip"]},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    primary = answer.json()["data"][0]
    return primary["name"], base64.b64decode(primary["data"])


def _zip_by_job(server: ServerHandle, clip: Path) -> tuple[str, bytes]:
    encoded = base64.b64encode(clip.read_bytes()).decode()
    files = {"target_media": {"name": clip.name, "data": encoded}}
    submitted = httpx.post(
        f"{server.url}api/jobs",
        json={"op": "extract_frames", "params": {"output_path": "output.zip"}, "files": files},
        timeout=60,
    )
    assert submitted.status_code == 202, submitted.text
    status = _final_status(server.url, submitted.json()["job_id"])
    assert status["status"] == "completed", status
    collected = httpx.get(f"{server.url}api/jobs/{status['job_id']}/result", timeout=60)
    assert collected.status_code == 200, collected.text
    [item] = collected.json()["data"]
    return item["orig_name"], base64.b64decode(item["data"])


def _final_status(base: str, job_id: str) -> dict[str, Any]:
    from _server_jobs_support import wait_until

    def final() -> dict[str, Any] | None:
        status = httpx.get(f"{base.rstrip('/')}/api/jobs/{job_id}", timeout=10).json()
        return status if status["status"] in FINAL else None

    return wait_until(final, timeout=120)


@pytest.mark.parametrize("route", [_zip_by_gradio, _zip_by_predict, _zip_by_job])
def test_extract_frames_into_output_zip_works_on_every_route(
    server: ServerHandle, clip: Path, route: Callable[[ServerHandle, Path], tuple[str, bytes]]
) -> None:
    name, archive = route(server, clip)
    assert name == "output.zip"
    frames = _frames_in(archive)
    assert len(frames) == 5, frames


@pytest.mark.parametrize("route", ["run", "api"])
@pytest.mark.parametrize(
    ("values", "status", "error", "fragment"),
    [
        (["x.png"], 422, "detect unsupported", "must end in .json"),
        ([None, "retinaface", "640x640", 7.5], 422, "invalid parameters", "face_detector_score"),
    ],
)
def test_user_errors_on_run_and_api_routes_are_4xx_in_the_catalog_shape(
    server: ServerHandle, route: str, values: list[Any], status: int, error: str, fragment: str
) -> None:
    [stored] = _upload(server, TARGET, TARGET.name).json()
    answer = httpx.post(
        f"{server.url}gradio_api/{route}/detect",
        json={"data": [_file_data(stored), *values]},
        timeout=120,
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert fragment in answer.json()["detail"]
    assert set(answer.json()) == {"error", "detail"}


SERVER_PATH = "/srv/ffpipe/private/job-inputs/0b5e/target_media/clip.mp4"


class FailingEngine(Engine):
    """Fails every op in a chosen way: an engine fault whose cause cannot be made on demand with
    the builtin engine (which names files by their base name) is stood in for here."""

    name = "failing"
    version = "1"

    def __init__(self, failure: BaseException) -> None:
        self.failure = failure

    def capabilities(self) -> dict[str, Any]:
        return {"engine": self.name, "version": self.version, "ops": ["detect", "enhance"]}

    def run(self, op: str, params: Any, context: RunContext) -> EngineOutput:
        raise self.failure


@pytest.mark.parametrize(
    ("failure", "error", "detail"),
    [
        (
            MediaError(f"cannot decode {SERVER_PATH}: moov atom not found"),
            "detect unreadable media",
            "cannot decode clip.mp4: moov atom not found",
        ),
        (
            KeyError(SERVER_PATH),
            "detect failed",
            "internal error of the server; its log has the details",
        ),
    ],
)
def test_a_failed_job_tells_no_server_path_or_exception_type(
    tmp_path: Path, running_system: Any, failure: BaseException, error: str, detail: str
) -> None:
    data = base64.b64encode(TARGET.read_bytes()).decode()
    with running_system(tmp_path / "data", FailingEngine(failure)) as (_system, url):
        submitted = httpx.post(
            f"{url}/api/jobs",
            json={"op": "detect", "files": {"target_media": {"name": "a.jpg", "data": data}}},
            timeout=30,
        )
        assert submitted.status_code == 202, submitted.text
        status = _final_status(url, submitted.json()["job_id"])
        result = httpx.get(f"{url}/api/jobs/{status['job_id']}/result", timeout=30)
    assert status["status"] == "failed"
    assert (status["result"]["error"], status["result"]["detail"]) == (error, detail)
    shown = json.dumps(status) + result.text
    assert "/srv/" not in shown and str(tmp_path) not in shown
    assert type(failure).__name__ not in shown


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("cannot decode /srv/a/b/clip.mp4: moov", "cannot decode clip.mp4: moov"),
        ("file '/data dir/x y/a.png' is empty", "file 'a.png' is empty"),
        ('no face in "/q/r s/t.mp4" or (/u/v.png)', 'no face in "t.mp4" or (v.png)'),
        ("see http://host/a/b and ratio 1/2/3", "see http://host/a/b and ratio 1/2/3"),
    ],
)
def test_messages_name_files_without_their_server_folders(message: str, shown: str) -> None:
    assert without_paths(message) == shown
