"""`ffpipe run FILE --server URL` against a real `ffpipe serve`: same bytes as local, restarts.

Runs the real runner CLI in subprocesses, like a user in a second terminal.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bench.serving import ServerHandle

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "pipelines" / "examples"
IMAGE_EXAMPLES = [
    "portrait",
    "high_quality_swap",
    "age_progression",
    "expression_control",
    "batch_matrix",
]


def _run(pipeline: Path, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "ffpipe",
        "run",
        str(pipeline),
        "--workspace",
        str(folder / "ws"),
        "--out",
        str(folder / "out"),
        "--no-lock",  # the examples' committed lock files stay as they are
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def server(shared_server: ServerHandle) -> ServerHandle:
    return shared_server


@pytest.fixture(scope="module")
def example_runs(
    server: ServerHandle, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], ExampleRuns]:
    """``example_runs(name)``: the example run locally and on the server (``--json``), side by
    side; each example runs once per module and the tests that look at it share the runs."""
    done: dict[str, ExampleRuns] = {}

    def runs(name: str) -> ExampleRuns:
        if name not in done:
            pipeline = EXAMPLES / f"{name}.yaml"
            done[name] = _runs_side_by_side(pipeline, tmp_path_factory.mktemp(name), server)
        return done[name]

    return runs


@dataclass(frozen=True)
class ExampleRuns:
    folder: Path
    local: subprocess.CompletedProcess[str]
    remote: subprocess.CompletedProcess[str]


def _runs_side_by_side(pipeline: Path, folder: Path, server: ServerHandle) -> ExampleRuns:
    # Independent runs (own workspace and output folder): run them side by side.
    with ThreadPoolExecutor(2) as pool:
        local = pool.submit(_run, pipeline, folder / "local")
        remote = pool.submit(_run, pipeline, folder / "remote", "--server", server.url, "--json")
        return ExampleRuns(folder, local.result(), remote.result())


def _same_bytes_local_and_remote(runs: ExampleRuns) -> None:
    assert runs.local.returncode == 0, runs.local.stderr
    assert runs.remote.returncode == 0, runs.remote.stderr
    local_files = _digests(runs.folder / "local" / "out")
    assert local_files
    assert _digests(runs.folder / "remote" / "out") == local_files


@pytest.mark.parametrize("name", IMAGE_EXAMPLES)
def test_examples_give_the_same_bytes_locally_and_on_the_server(
    name: str, example_runs: Callable[[str], ExampleRuns]
) -> None:
    _same_bytes_local_and_remote(example_runs(name))


@pytest.mark.slow
def test_the_video_example_gives_the_same_bytes_on_the_server(
    example_runs: Callable[[str], ExampleRuns],
) -> None:
    _same_bytes_local_and_remote(example_runs("video_face_swap"))


def test_every_video_container_gives_the_same_bytes_on_the_server(
    server: ServerHandle, tmp_path: Path
) -> None:
    from _video_support import make_video

    clip = make_video(tmp_path / "clip.mp4", width=160, height=120, seconds=1.0)
    steps, outputs = [], []
    for name, encoder in [
        ("clip.webm", "libvpx-vp9"),
        ("clip.mkv", "libx264"),
        ("clip.mov", "libx264"),
        ("clip.mp4", "libx265"),
    ]:
        step = name.replace(".", "_")
        steps.append(
            f"  {step}:\n    uses: video\n    with: {{target_media: '{{{{ inputs.clip }}}}', "
            f"output_video_encoder: {encoder}, output_video_preset: ultrafast, "
            f"output_path: {name}}}\n"
        )
        outputs.append(f"  {name}: '{{{{ steps.{step}.output }}}}'\n")
    pipeline = tmp_path / "containers.yaml"
    pipeline.write_text(
        f"version: 1\nname: containers\ninputs:\n  clip: {clip}\nsteps:\n"
        + "".join(steps)
        + "outputs:\n"
        + "".join(outputs)
    )
    _same_bytes_local_and_remote(_runs_side_by_side(pipeline, tmp_path, server))


def test_progress_reaches_the_runner_through_the_server(
    example_runs: Callable[[str], ExampleRuns],
) -> None:
    finished = example_runs("portrait").remote
    assert finished.returncode == 0, finished.stderr
    events = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    progress = [event for event in events if event["event"] == "step_progress"]
    # Stages are the engine's own words, relayed by the server through gr.Progress.
    assert any(0.0 < event["fraction"] < 1.0 and event["stage"] for event in progress), events
    start = next(event for event in events if event["event"] == "run_start")
    assert "gradio" in start["backend"]


def test_a_server_killed_mid_run_fails_clearly_and_a_rerun_resumes(
    server: ServerHandle, tmp_path: Path, start_server
) -> None:
    first = start_server(tmp_path / "first")
    pipeline = EXAMPLES / "portrait.yaml"
    command = [
        sys.executable,
        "-m",
        "ffpipe",
        "run",
        str(pipeline),
        "--workspace",
        str(tmp_path / "ws"),
        "--out",
        str(tmp_path / "out"),
        "--server",
        first.url,
        "--json",
    ]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert runner.stdout is not None
        for line in runner.stdout:
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "step_done" and event.get("step") == "swap":
                first.process.kill()  # like kill -9: no goodbye to the runner
                break
        rest, errors = runner.communicate(timeout=300)
    finally:
        first.stop()
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 1, errors
    failure = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    failed = [event for event in failure if event["event"] == "step_failed"]
    assert failed, rest
    assert first.url.rstrip("/") in json.dumps(failed), failed
    assert "Traceback" not in errors

    # The rerun goes to another server of the same engine (the shared one): same cache keys.
    again = _run(pipeline, tmp_path, "--server", server.url, "--json")
    assert again.returncode == 0, again.stderr
    done = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
    summary = next(event for event in done if event["event"] == "run_done")
    assert summary["cached"] == 1 and summary["ran"] == 2


def _async_pipeline(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = folder / "queued.yaml"
    photo = shutil.copy(ROOT / "media" / "grace_hopper.jpg", folder)
    pipeline.write_text(
        "version: 1\nname: queued\n"
        f"steps:\n  find:\n    uses: detect\n    async: true\n    job: {{priority: 8}}\n"
        f"    with: {{target_media: {photo}}}\n"
        "outputs:\n  faces.json: '{{ steps.find.output }}'\n"
    )
    return pipeline


def test_an_async_step_runs_as_a_job_on_the_server_and_reattaches(
    server: ServerHandle, tmp_path: Path
) -> None:
    pipeline = _async_pipeline(tmp_path / "project")
    first = _run(pipeline, tmp_path, "--server", server.url, "--json")
    assert first.returncode == 0, first.stderr
    record = json.loads(next((tmp_path / "ws" / "runs").glob("*/run.json")).read_text())
    step = record["steps"]["find"] if isinstance(record["steps"], dict) else record["steps"][0]
    job_id = step["job_id"]
    import httpx

    status = httpx.get(f"{server.url}api/jobs/{job_id}", timeout=10).json()
    assert status["status"] == "completed"
    faces = json.loads((tmp_path / "out" / "queued" / "faces.json").read_text())
    assert len(faces["faces"]) == 1
    # Forced again: the same job id, so the runner reattaches to the finished job.
    again = _run(pipeline, tmp_path, "--server", server.url, "--force-all", "--json")
    assert again.returncode == 0, again.stderr
    listed = httpx.get(f"{server.url}api/jobs", timeout=10).json()
    jobs = listed["jobs"] if isinstance(listed, dict) else listed
    assert [job["job_id"] for job in jobs].count(job_id) == 1


def test_a_missing_endpoint_refuses_the_plan_before_anything_runs(
    server: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "ffpipe.toml"
    config.write_text('[server]\nendpoints = { detect = "/face_finder" }\n')
    pipeline = _async_pipeline(tmp_path / "project")
    result = _run(pipeline, tmp_path, "--server", server.url, "--config", str(config), "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "'/face_finder'" in result.stderr and "/detect" in result.stderr
    assert "step_start" not in result.stdout
