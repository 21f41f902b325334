"""One warm FaceFusion worker per device: two CPU workers stand in for two GPUs.

There is no GPU here: the workers run FaceFusion's CPU provider, which ignores device ids, so
what is tested is ffpipe's part: one process per device with that device alone visible
(``CUDA_VISIBLE_DEVICES``, read back from the process), requests on both at once, routing by
``execution_device_id``, and a killed worker started again on its device. Skipped without
FFPIPE_FACEFUSION(_PYTHON).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _facefusion_support import FaceFusionInstall, session_facefusion
from _pipeline_support import write_pipeline
from _run_support import copy_photos
from gradio_client import Client, handle_file

from bench.serving import start_server
from ffpipe.cli import main
from ffpipe.engine.api import RunContext, UnsupportedError
from ffpipe.engine.facefusion import FaceFusionEngine
from ffpipe.engine.facefusion.pool import FaceFusionPool

MEDIA = Path(__file__).resolve().parents[1] / "media"
TARGET = MEDIA / "astronaut.jpg"


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


@pytest.fixture(scope="module")
def pool(facefusion: FaceFusionInstall) -> Iterator[FaceFusionPool]:
    pool = FaceFusionPool(
        lambda device: FaceFusionEngine(facefusion.root, facefusion.python, device=device),
        ["0", "1"],
    )
    pool.start()
    yield pool
    pool.close()


def visible_device(pid: int | None) -> str | None:
    assert pid is not None
    variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for variable in variables:
        name, _, value = variable.partition(b"=")
        if name == b"CUDA_VISIBLE_DEVICES":
            return value.decode()
    return None


def enhance(pool: FaceFusionPool, out: Path, context_progress: Any = None, **values: Any) -> Any:
    return pool.run(
        "enhance",
        {"target_media": str(TARGET), **values},
        RunContext(out_dir=out, progress=context_progress),
    )


def test_each_worker_sees_only_its_device(pool: FaceFusionPool) -> None:
    assert visible_device(pool.engines["0"].worker.pid) == "0"
    assert visible_device(pool.engines["1"].worker.pid) == "1"
    capabilities = pool.capabilities()
    assert capabilities["execution_devices"] == ["0", "1"]
    assert [worker["device"] for worker in capabilities["workers"]] == ["0", "1"]


def test_two_requests_run_at_once(pool: FaceFusionPool, tmp_path: Path) -> None:
    # Each request waits, just before FaceFusion runs, until the other got there too: on one
    # worker they could never meet, and the barrier would break after its timeout.
    meeting = threading.Barrier(2, timeout=120)
    results: dict[str, Any] = {}

    def progress(_fraction: float, stage: str) -> None:
        if stage == "facefusion":
            meeting.wait()

    def request(name: str) -> None:
        results[name] = enhance(pool, tmp_path / name, progress)

    threads = [threading.Thread(target=request, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not meeting.broken
    devices = sorted(results[name].result["provenance"]["device"] for name in ("a", "b"))
    assert devices == ["0", "1"]


def test_an_explicit_device_id_is_honoured(pool: FaceFusionPool, tmp_path: Path) -> None:
    results = [
        enhance(pool, tmp_path / str(number), execution_device_id="1") for number in range(2)
    ]
    assert [output.result["provenance"]["device"] for output in results] == ["1", "1"]
    # FaceFusion is given device 0: inside the worker, its one visible GPU.
    for output in results:
        arguments = output.result["facefusion"]["runs"][0]
        assert arguments[arguments.index("--execution-device-ids") + 1] == "0"
    with pytest.raises(UnsupportedError, match=r"devices 0, 1"):
        enhance(pool, tmp_path / "x", execution_device_id="7")
    assert pool.check([("swap", {"execution_device_id": "3"})]) != []


def test_a_killed_worker_restarts_on_its_own_device(pool: FaceFusionPool, tmp_path: Path) -> None:
    worker = pool.engines["1"].worker
    before, starts = worker.pid, worker.starts
    assert before is not None
    os.kill(before, signal.SIGKILL)
    # Started again on its own, without waiting for a request.
    deadline = time.monotonic() + 120
    while worker.starts == starts and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker.starts == starts + 1
    pool.engines["1"].worker.start()  # waits until the new worker is ready
    assert worker.pid not in (None, before) and visible_device(worker.pid) == "1"
    output = enhance(pool, tmp_path, execution_device_id="1")
    assert output.result["provenance"]["device"] == "1" and worker.starts == starts + 1


PIPELINE = """
    version: 1
    name: spread
    inputs: {target: astronaut.jpg}
    steps:
      first:
        uses: enhance
        with: {target_media: "{{ inputs.target }}", face_enhancer_blend: 0.5}
      second:
        uses: enhance
        with: {target_media: "{{ inputs.target }}", face_enhancer_blend: 0.9}
"""


def test_run_with_two_devices_spreads_the_steps(
    facefusion: FaceFusionInstall, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, PIPELINE)
    code = main(
        [
            *("run", str(tmp_path / "pipe.yaml"), "--workspace", str(tmp_path / ".ffpipe")),
            *("--out", str(tmp_path / "out"), "--no-lock", "-j", "2", "--devices", "0,1"),
            *("--engine", "facefusion", "--facefusion", str(facefusion.root)),
            *("--facefusion-python", str(facefusion.python)),
        ]
    )
    assert code == 0, capsys.readouterr()
    record = json.loads(next((tmp_path / ".ffpipe" / "runs").glob("*/run.json")).read_text())
    devices = sorted(step["provenance"]["device"] for step in record["steps"].values())
    assert devices == ["0", "1"]


@pytest.mark.slow
def test_serve_with_two_devices_answers_two_requests_at_once(
    facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    """Over HTTP with the real gradio_client: two requests sent together land on the two
    workers (one worker would take both in turn, each on the first idle device, "0"), and a
    request naming device 1 runs there."""
    server = start_server(
        tmp_path,
        *("--engine", "facefusion", "--facefusion", str(facefusion.root)),
        *("--facefusion-python", str(facefusion.python), "--devices", "0,1"),
    )
    try:
        clients = [
            Client(server.url, verbose=False, download_files=str(tmp_path / n)) for n in "ab"
        ]
        together = threading.Barrier(2, timeout=60)
        documents: list[dict[str, Any]] = []

        def request(client: Client) -> None:
            together.wait()
            _, document, _ = client.predict(target_media=handle_file(str(TARGET)), fn_index=1)
            documents.append(document)

        threads = [threading.Thread(target=request, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert sorted(document["provenance"]["device"] for document in documents) == ["0", "1"]
        _, routed, _ = clients[0].predict(
            target_media=handle_file(str(TARGET)), execution_device_id="1", fn_index=1
        )
        assert routed["provenance"]["device"] == "1"
    finally:
        server.stop()
