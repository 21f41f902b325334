"""Job queue: submit and status latency over HTTP, and queue overhead per job versus a direct call.

A real job API (store, workers, webhooks off) is served by uvicorn on loopback. The engine only
copies the uploaded image to its output, so the time measured is the queue's own: HTTP, staging
files, SQLite commits (synchronous=FULL: an fsync per state change), thread hand-over, polling.
"""

from __future__ import annotations

import base64
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from bench.common import Section, table
from ffpipe.catalog import OPS, CatalogModel
from ffpipe.engine.api import Engine, EngineOutput, RunContext
from ffpipe.server.jobs.settings import JobSettings
from ffpipe.server.jobs.system import open_job_system
from ffpipe.server.protocols.rest_jobs import jobs_router

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "media" / "astronaut.jpg"
SUBMISSIONS = 100
STATUS_CALLS = 200
ROUND_TRIPS = 30


class CopyEngine(Engine):
    """Copies the target image to the output: an op that costs next to nothing."""

    name = "bench-copy"
    version = "1"

    def capabilities(self) -> dict[str, Any]:
        return {"engine": self.name, "ops": ["enhance"]}

    def run(self, op: str, params: CatalogModel, context: RunContext) -> EngineOutput:
        output = context.out_dir / "output.jpg"
        shutil.copyfile(params.target_media, output)  # type: ignore[attr-defined]
        context.report(1.0, "copied")
        return EngineOutput({"output": output}, {"substitutions": []})


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}"


def _p95(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[int(len(ordered) * 0.95) - 1] * 1000:.1f}"


def _timed(action: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def run() -> Section:
    engine = CopyEngine()
    encoded = base64.b64encode(IMAGE.read_bytes()).decode()
    payload = {
        "op": "enhance",
        "params": {},
        "files": {"target_media": {"name": "a.jpg", "data": encoded}},
    }
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        system = open_job_system(JobSettings(data_dir=data, secret=b"bench"), engine, workers=1)
        app = FastAPI()
        app.include_router(jobs_router(system.service, system.settings))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=60)
        try:
            # Submissions with the workers stopped measure submit alone.
            submit_times = [
                _timed(lambda: http.post("/api/jobs", json=payload))[0] for _ in range(SUBMISSIONS)
            ]
            job_id = http.get("/api/jobs", params={"limit": 1}).json()["jobs"][0]["job_id"]
            status_times = [
                _timed(lambda: http.get(f"/api/jobs/{job_id}"))[0] for _ in range(STATUS_CALLS)
            ]
            system.runner.start()
            drain_seconds, _ = _timed(lambda: _drain(system, SUBMISSIONS))
            round_trips = [_round_trip(http) for _ in range(ROUND_TRIPS)]
            direct = [_direct(engine, data) for _ in range(ROUND_TRIPS)]
        finally:
            http.close()
            server.should_exit = True
            thread.join(10)
            system.stop()
    measured = {
        "submit (POST /api/jobs, 99 KB image as base64 JSON)": submit_times,
        "status (GET /api/jobs/{id})": status_times,
        "job round trip: multipart submit, run, poll every 10 ms until completed": round_trips,
        "direct engine call (same op, no queue)": direct,
    }
    rows = [[name, _ms(values), _p95(values)] for name, values in measured.items()]
    overhead = statistics.median(round_trips) - statistics.median(direct)
    body = "\n\n".join(
        [
            table(["measure", "median ms", "p95 ms"], rows),
            f"Queue overhead per job (round trip minus direct call, medians): "
            f"{overhead * 1000:.1f} ms. Draining {SUBMISSIONS} queued jobs with one worker took "
            f"{drain_seconds:.2f} s ({drain_seconds / SUBMISSIONS * 1000:.1f} ms per job: claim, "
            "run, record; each state change is an fsync'd SQLite commit).",
            "The engine copies the image, so these are the queue's own costs; a real op adds its "
            "own time on top.",
        ]
    )
    return Section("Jobs: submit, status and queue overhead", body)


def _drain(system: Any, count: int) -> None:
    while system.store.counts()["completed"] < count:
        time.sleep(0.01)


def _round_trip(http: httpx.Client) -> float:
    with IMAGE.open("rb") as handle:
        start = time.perf_counter()
        job_id = http.post(
            "/api/jobs", data={"op": "enhance"}, files={"target_media": ("a.jpg", handle)}
        ).json()["job_id"]
    while http.get(f"/api/jobs/{job_id}").json()["status"] != "completed":
        time.sleep(0.01)
    return time.perf_counter() - start


def _direct(engine: Engine, data: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=data))
    start = time.perf_counter()
    params = OPS["enhance"].params.model_validate({"target_media": str(IMAGE)})
    engine.run("enhance", params, RunContext(out))
    return time.perf_counter() - start
