"""Job outputs that are folders (extracted frames) come back zipped, as the sync path sends them:
over REST, as links in the status the gradio job endpoints answer, and through JobsClient."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from _server_jobs_support import builtin_engine, running_system, wait_until
from _video_support import make_video

from ffpipe.backends.jobs_client import JobsClient


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=0.5, tone_hz=None)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_system(tmp_path_factory.mktemp("folders"), builtin_engine()) as (_system, base):
        yield base


def _frames_in(archive: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        names = bundle.namelist()
        first = cv2.imdecode(np.frombuffer(bundle.read(names[0]), np.uint8), cv2.IMREAD_COLOR)
    assert first is not None and first.shape[:2] == (240, 320)
    return names


def test_extracted_frames_of_a_job_download_as_a_zip(url: str, clip: Path) -> None:
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as http:
        with clip.open("rb") as handle:
            submitted = http.post(
                "/api/jobs",
                data={"op": "extract_frames", "job_id": "frames"},
                files={"target_media": ("clip.mp4", handle, "video/mp4")},
            )
        assert submitted.status_code == 202, submitted.text
        final = wait_until(
            lambda: (
                (doc := http.get("/api/jobs/frames").json())["status"] in ("completed", "failed")
                and doc
            )
        )
        assert final["status"] == "completed", final
        raw = http.get("/api/jobs/frames/result/output")
        assert raw.status_code == 200
        assert 'filename="output.zip"' in raw.headers["content-disposition"]
        frames = _frames_in(raw.content)
        assert len(frames) == 12
        collected = http.get("/api/jobs/frames/result")
        assert collected.status_code == 200
        [item] = collected.json()["data"]
        assert (item["name"], item["orig_name"], item["archive"]) == ("output", "output.zip", True)
        assert base64.b64decode(item["data"]) == raw.content


def test_the_jobs_client_unpacks_them_into_a_folder(url: str, clip: Path, tmp_path: Path) -> None:
    with JobsClient(url) as client:
        files, _result = client.run(
            "extract_frames", {"target_media": str(clip)}, tmp_path / "work", poll_seconds=0.1
        )
    folder = files["output"]
    assert folder.is_dir()
    assert len(sorted(folder.rglob("*.png"))) == 12
