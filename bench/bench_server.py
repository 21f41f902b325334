"""`ffpipe serve` and the gradio backend: runner overhead per remote step, bytes sent per chain.

Starts a real server subprocess on a free loopback port (with the test suite's helper,
bench/serving.py). Overhead: one detect step on the astronaut photo, timed side by side
(interleaved, so a busy machine slows all three alike) as a bare ``gradio_client.predict``
(upload, queue, download), as ``GradioBackend.run``, and as a whole ``run_pipeline`` of a one-step
pipeline with ``force_all`` (planning, cache writes, run record included). Target: the runner at
most 5% slower than the bare call. Bytes: a 5-step chain (swap, enhance, edit, enhance, detect)
must upload each distinct input once and nothing the server produced.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Section, table

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "media" / "grace_hopper.jpg"
TARGET = ROOT / "media" / "astronaut.jpg"
ROUNDS = 15

ONE_STEP = f"""
version: 1
name: bench_one_step
inputs:
  photo: {TARGET}
steps:
  find:
    uses: detect
    with:
      target_media: "{{{{ inputs.photo }}}}"
outputs:
  faces.json: "{{{{ steps.find.output }}}}"
"""

CHAIN = f"""
version: 1
name: bench_chain
inputs:
  source: {SOURCE}
  target: {TARGET}
steps:
  swap:
    uses: swap
    with:
      source_face: "{{{{ inputs.source }}}}"
      target_media: "{{{{ inputs.target }}}}"
  enhance:
    uses: enhance
    with:
      target_media: "{{{{ steps.swap.output }}}}"
  edit:
    uses: edit
    with:
      target_media: "{{{{ steps.enhance.output }}}}"
      face_editor_mouth_smile: 0.5
  soften:
    uses: enhance
    with:
      target_media: "{{{{ steps.edit.output }}}}"
      face_enhancer_blend: 0.4
  faces:
    uses: detect
    with:
      target_media: "{{{{ steps.soften.output }}}}"
outputs:
  final.jpg: "{{{{ steps.soften.output }}}}"
"""


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _overhead(url: str, work: Path) -> tuple[list[list[object]], float]:
    from gradio_client import Client, handle_file

    from ffpipe.backends.base import StepRequest
    from ffpipe.backends.gradio import GradioBackend
    from ffpipe.cache.workspace import Workspace
    from ffpipe.pipeline import load_pipeline
    from ffpipe.run.runner import RunOptions, run_pipeline

    client = Client(url, verbose=False, download_files=str(work / "bare"))
    backend = GradioBackend(url)
    pipeline_file = work / "one_step.yaml"
    pipeline_file.write_text(ONE_STEP)
    pipeline = load_pipeline(pipeline_file)
    workspace = Workspace(work / "ws")
    counter = iter(range(10**6))

    def bare() -> object:
        return client.predict(target_media=handle_file(str(TARGET)), api_name="/detect")

    def backend_step() -> object:
        request = StepRequest("detect", {"target_media": str(TARGET)}, work / f"b{next(counter)}")
        return backend.run(request)

    def runner_step() -> object:
        options = RunOptions(force_all=True, out_dir=work / "out", write_lock=False)
        summary = run_pipeline(pipeline, workspace, backend, options)
        assert summary.status == "ok", summary
        return summary

    actions = {
        "bare gradio_client.predict": bare,
        "GradioBackend.run": backend_step,
        "run_pipeline, 1 step": runner_step,
    }
    for action in actions.values():
        action()  # warm up: connections, first upload, model loading on the server
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(ROUNDS):
        for name, action in actions.items():
            times[name].append(_timed(action))
    backend.close()
    client.close()
    bare_median = statistics.median(times["bare gradio_client.predict"])
    rows = [
        [
            name,
            f"{statistics.median(values) * 1000:.1f}",
            f"{min(values) * 1000:.1f}",
            f"{(statistics.median(values) / bare_median - 1) * 100:+.1f}%",
        ]
        for name, values in times.items()
    ]
    overhead = statistics.median(times["run_pipeline, 1 step"]) / bare_median - 1
    return rows, overhead


def _chain_bytes(url: str, work: Path) -> list[list[object]]:
    from ffpipe.backends.base import StepRequest, StepResult
    from ffpipe.backends.gradio import GradioBackend
    from ffpipe.cache.workspace import Workspace
    from ffpipe.pipeline import load_pipeline
    from ffpipe.run.runner import RunOptions, run_pipeline

    pipeline_file = work / "chain.yaml"
    pipeline_file.write_text(CHAIN)
    backend = GradioBackend(url)
    produced: list[int] = []
    run_one = backend.run

    def counting_run(request: StepRequest) -> StepResult:
        result = run_one(request)
        if request.op != "detect":  # outputs that feed a further step of the chain
            produced.append(result.files["output"].stat().st_size)
        return result

    backend.run = counting_run  # type: ignore[method-assign]
    summary = run_pipeline(
        load_pipeline(pipeline_file),
        Workspace(work / "chain-ws"),
        backend,
        RunOptions(out_dir=work / "chain-out", write_lock=False),
    )
    backend.close()
    assert summary.status == "ok", summary
    distinct = SOURCE.stat().st_size + TARGET.stat().st_size
    intermediate = sum(produced)
    return [
        ["distinct inputs (source + target)", distinct],
        ["sent by the gradio backend", backend.bytes_uploaded],
        ["re-uploading every intermediate (naive chaining)", distinct + intermediate],
    ]


def run() -> Section:
    from bench.serving import start_server

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        server = start_server(work / "server", "--concurrency", "1")
        try:
            rows, overhead = _overhead(server.url, work)
            byte_rows = _chain_bytes(server.url, work)
        finally:
            server.stop()
    verdict = "met" if overhead <= 0.05 else "NOT met"
    body = "\n\n".join(
        [
            f"One detect step on the 512x512 astronaut, {ROUNDS} interleaved rounds, "
            "loopback server with the builtin engine (times in ms).",
            table(["call", "median", "best", "vs bare"], rows),
            f"Runner overhead per remote step: {overhead * 100:+.1f}% (target at most 5%: "
            f"{verdict}).",
            "Bytes uploaded for a 5-step chain (swap, enhance, edit, enhance, detect):",
            table(["what", "bytes"], byte_rows),
        ]
    )
    return Section("Server: runner overhead and bytes sent", body)
