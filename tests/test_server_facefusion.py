"""`ffpipe serve --engine facefusion` on FaceFusion 3.8.1's real code, through gradio_client and
the legacy /api/predict protocol, on loopback. One server serves the module.

Skipped without FFPIPE_FACEFUSION and FFPIPE_FACEFUSION_PYTHON (tests/_facefusion_support.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from _facefusion_support import FaceFusionInstall, session_facefusion
from gradio_client import Client, handle_file

from bench.serving import ServerHandle, start_server
from ffpipe.catalog import OPS

pytestmark = pytest.mark.slow  # every test here runs FaceFusion in its own process

MEDIA = Path(__file__).resolve().parents[1] / "media"
TARGET = MEDIA / "astronaut.jpg"
SOURCE = MEDIA / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


@pytest.fixture(scope="module")
def server(
    facefusion: FaceFusionInstall, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerHandle]:
    handle = start_server(
        tmp_path_factory.mktemp("ff-serve"),
        "--engine",
        "facefusion",
        "--facefusion",
        str(facefusion.root),
        "--facefusion-python",
        str(facefusion.python),
    )
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Client:
    return Client(server.url, verbose=False, download_files=str(server.data_dir.parent / "dl"))


def _pixels(path: str | Path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert pixels is not None, path
    return pixels.astype(np.int16)


def _face_change(facefusion: FaceFusionInstall, output: str | Path) -> float:
    left, top, right, bottom = facefusion.faces[0]
    before, after = _pixels(TARGET), _pixels(output)
    height, width = before.shape[:2]
    rows = slice(
        int((top + (bottom - top) / 4) * height), int((bottom - (bottom - top) / 4) * height)
    )
    cols = slice(
        int((left + (right - left) / 4) * width), int((right - (right - left) / 4) * width)
    )
    return float(np.abs(before[rows, cols] - after[rows, cols]).mean())


def test_the_catalogs_client_examples_run_on_facefusion(
    client: Client, facefusion: FaceFusionInstall
) -> None:
    output, document, extras = client.predict(
        source_face=handle_file(str(SOURCE)),
        target_media=handle_file(str(TARGET)),
        face_swapper_model="inswapper_128",
        fn_index=0,
    )
    assert _face_change(facefusion, output) > 40
    assert document["faces_processed"] == 1 and document["substitutions"] == []
    assert document["facefusion"]["version"] == "3.8.1"
    assert document["facefusion_processors"] == ["face_swapper"]
    assert extras == []
    enhanced, document, _ = client.predict(
        target_media=handle_file(str(TARGET)),
        face_enhancer_model="gfpgan_1.4",
        face_enhancer_blend=0.8,
        fn_index=1,
    )
    assert _face_change(facefusion, enhanced) > 5
    assert "--face-enhancer-blend" in document["facefusion"]["runs"][0]


def test_emulated_and_refused_parameters_over_the_wire(client: Client) -> None:
    _, document, _ = client.predict(
        target_media=handle_file(str(TARGET)), face_editor_age=70, api_name="/edit"
    )
    assert any("age modifier runs with direction" in line for line in document["warnings"])
    with pytest.raises(Exception) as refused:
        client.predict(
            target_media=handle_file(str(TARGET)), face_editor_hair_style=3, api_name="/edit"
        )
    shape = json.loads(str(refused.value))
    assert shape["error"] == "edit unsupported"
    assert "face_editor_hair_style" in shape["detail"]


def test_legacy_api_predict_swaps_on_facefusion(
    server: ServerHandle, facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    body = {
        "fn_index": 0,
        "data": [
            {"name": "source.jpg", "data": b64(SOURCE), "is_file": True},
            {"name": "target.jpg", "data": b64(TARGET), "is_file": True},
        ],
    }
    response = httpx.post(f"{server.url}api/predict", json=body, timeout=120)
    assert response.status_code == 200, response.text
    output, document, _ = response.json()["data"]
    written = tmp_path / "out.jpg"
    written.write_bytes(base64.b64decode(output["data"]))
    assert _face_change(facefusion, written) > 40
    assert document["faces_processed"] == 1


def test_capabilities_endpoint_says_every_parameters_status(client: Client) -> None:
    document = client.predict(api_name="/capabilities")
    assert document["engine"] == "facefusion" and document["version"] == "3.8.1"
    names = {name for spec in OPS.values() for name in spec.params.model_fields}
    assert set(document["parameters"]) == names
    assert document["parameters"]["face_mask_regions"]["status"] == "refused"
    assert document["parameters"]["target_face_index"]["status"] == "emulated"
    assert document["facefusion_models"]["face_enhancer"]["gfpgan_1.4"]["status"] == "present"
    assert document["endpoints"]["swap"]["fn_index"] == 0


def test_a_client_keys_its_steps_on_the_servers_model_files(server: ServerHandle) -> None:
    from ffpipe.backends.gradio import GradioBackend

    backend = GradioBackend(server.url)
    try:
        identity = backend.identity()
        swap = identity.key_fields("swap", {"face_swapper_model": "inswapper_128"})
        enhance = identity.key_fields("enhance", {"face_enhancer_model": "codeformer"})
    finally:
        backend.close()
    assert swap["engine"] == "facefusion" and len(swap["model inswapper_128"]) == 8
    assert "model nsfw_1" in swap and "model codeformer" not in swap
    assert "model codeformer" in enhance and "model inswapper_128" not in enhance
