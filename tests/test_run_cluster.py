"""``ffpipe run --cluster``: steps on a real Dask cluster on 127.0.0.1, over a file:// remote.

One scheduler and two worker processes (``GPU=1`` each, no dashboard) serve the whole module;
the remote cache is a folder both sides see. Outputs are compared byte for byte with a local run
of the same pipeline on the builtin engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline
from _remote_support import events, free_port, in_folder_main
from _run_support import copy_photos

distributed = pytest.importorskip(
    "distributed", reason="Dask distributed is not installed (pip install 'ffpipe[cluster]')"
)

pytestmark = pytest.mark.slow
FFPIPE = (sys.executable, "-m", "ffpipe")

# Two photos at two ages: detect (any worker), then edit and enhance (GPU=1 each); only the
# enhanced images are outputs, so the client should fetch nothing else.
MATRIX_PIPELINE = """
    version: 1
    name: batch
    matrix:
      photo: [astronaut.jpg, grace.jpg]
      age: [30, 70]
    steps:
      detect:
        uses: detect
        with: {target_media: "{{ matrix.photo }}"}
      aged:
        uses: edit
        needs: [detect]
        if: "{{ steps.detect.result.faces | length > 0 }}"
        with: {target_media: "{{ matrix.photo }}", face_editor_age: "{{ matrix.age }}"}
      restored:
        uses: enhance
        with: {target_media: "{{ steps.aged.output }}", face_enhancer_blend: 0.6}
    outputs:
      "{{ matrix.photo | stem }}_{{ matrix.age }}.jpg": "{{ steps.restored.output }}"
"""

# One video swap, slow enough to kill its worker while it runs.
VIDEO_PIPELINE = """
    version: 1
    name: clip
    steps:
      swap:
        uses: swap
        with: {source_face: grace.jpg, target_media: clip.mp4}
    outputs:
      swapped.mp4: "{{ steps.swap.output }}"
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    """A scheduler and two worker processes on 127.0.0.1, each offering ``GPU=1``."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        worker_dashboard_address=None,
        resources={"GPU": 1},
        silence_logs=40,
    ) as found:
        yield found


@pytest.fixture(scope="module")
def watcher(cluster: distributed.LocalCluster) -> Iterator[distributed.Client]:
    """A second client that looks at the cluster the way an operator would."""
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        yield client


def project(folder: Path, remote: Path, pipeline: str, name: str) -> Path:
    """A project folder: photos, the pipeline and ffpipe.toml naming the shared remote."""
    folder.mkdir(parents=True)
    copy_photos(folder)
    write_pipeline(folder, pipeline, name)
    (folder / "ffpipe.toml").write_text(f'[cache]\nremote = "{remote.as_uri()}"\n')
    return folder


def outputs_of(folder: Path, name: str) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((folder / "out" / name).iterdir())}


def remote_is_whole(remote: Path) -> None:
    """Every object hashes to its name and every entry names objects that are there."""
    objects = list((remote / "objects").rglob("*"))
    for path in (p for p in objects if p.is_file()):
        expected = path.parent.name + path.name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected, path
    for path in (remote / "steps").rglob("*.json"):
        entry = json.loads(path.read_text())
        for digest in entry["outputs"].values():
            hex_part = digest.removeprefix("tree:").split(":", 1)[1]
            assert (remote / "objects" / "sha256" / hex_part[:2] / hex_part[2:]).is_file()


def latest_record(folder: Path) -> dict:
    runs = sorted((folder / ".ffpipe" / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    return json.loads((runs[-1] / "run.json").read_text())


def test_matrix_runs_across_both_workers_with_the_bytes_of_a_local_run(
    tmp_path, capsys, cluster, watcher
):
    remote = tmp_path / "remote"
    local = project(tmp_path / "local", tmp_path / "unused", MATRIX_PIPELINE, "batch.yaml")
    assert in_folder_main(local, "run", "batch.yaml", "--no-pull") == 0
    capsys.readouterr()

    clustered = project(tmp_path / "clustered", remote, MATRIX_PIPELINE, "batch.yaml")
    address = cluster.scheduler_address
    assert in_folder_main(clustered, "plan", "batch.yaml", "--cluster", address) == 0
    plan = capsys.readouterr().out
    assert f"on cluster {address} (GPU=1)" in plan  # edit and enhance
    assert f"on cluster {address} (any worker)" in plan  # detect

    code = in_folder_main(clustered, "run", "batch.yaml", "--cluster", address, "--json")
    run_events = events(capsys.readouterr().out)
    assert code == 0, run_events
    assert outputs_of(clustered, "batch") == outputs_of(local, "batch")

    done = [event for event in run_events if event["event"] == "step_done"]
    workers = {event["worker"] for event in done}
    assert workers == set(watcher.scheduler_info()["workers"]), workers
    record = latest_record(clustered)
    ran = {node: step for node, step in record["steps"].items() if step["status"] == "ran"}
    assert ran and all(step["worker"] in workers for step in ran.values())

    # The intermediate images stayed on the remote: the client holds only what outputs need.
    workspace = clustered / ".ffpipe" / "objects" / "sha256"
    local_blobs = {p.parent.name + p.name for p in workspace.rglob("*") if p.is_file()}
    aged = [step for node, step in ran.items() if node.startswith("aged[")]
    assert aged
    for step in aged:
        assert step["outputs"]["output"].split(":", 1)[1] not in local_blobs
    remote_is_whole(remote)

    # Run again: every step is cached (from the remote), nothing reaches the cluster.
    code = in_folder_main(clustered, "run", "batch.yaml", "--cluster", address, "--json")
    again = [event["event"] for event in events(capsys.readouterr().out)]
    assert code == 0 and "step_start" not in again


def test_folder_outputs_travel_as_trees(tmp_path, capsys, cluster, make_video):
    """extract_frames makes a folder: the worker stores it as a tree, the client pulls it."""
    frames = """
        version: 1
        name: frames
        steps:
          frames:
            uses: extract_frames
            with: {target_media: clip.mp4}
        outputs:
          frames: "{{ steps.frames.output }}"
    """
    clustered = project(tmp_path / "clustered", tmp_path / "remote", frames, "frames.yaml")
    make_video(clustered / "clip.mp4", width=160, height=120, fps=5, seconds=1)
    local = project(tmp_path / "local", tmp_path / "unused", frames, "frames.yaml")
    (local / "clip.mp4").write_bytes((clustered / "clip.mp4").read_bytes())
    assert in_folder_main(local, "run", "frames.yaml", "--no-pull") == 0
    address = cluster.scheduler_address
    assert in_folder_main(clustered, "run", "frames.yaml", "--cluster", address) == 0
    capsys.readouterr()

    def files(folder: Path) -> dict[str, bytes]:
        root = folder / "out" / "frames" / "frames"
        found = (path for path in root.rglob("*") if path.is_file())
        return {path.relative_to(root).as_posix(): path.read_bytes() for path in found}

    assert files(clustered) and files(clustered) == files(local)
    remote_is_whole(tmp_path / "remote")


def test_a_worker_killed_mid_step_is_replaced_and_the_run_finishes(
    tmp_path, capsys, cluster, watcher, make_video
):
    remote = tmp_path / "remote"
    folder = project(tmp_path / "clip", remote, VIDEO_PIPELINE, "clip.yaml")
    make_video(folder / "clip.mp4", width=320, height=240, fps=10, seconds=4)
    local = project(tmp_path / "local", tmp_path / "unused", VIDEO_PIPELINE, "clip.yaml")
    (local / "clip.mp4").write_bytes((folder / "clip.mp4").read_bytes())

    runner = subprocess.Popen(
        [*FFPIPE, "run", "clip.yaml", "--json", "--cluster", cluster.scheduler_address],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pids = watcher.run(os.getpid)
        victim = _wait_for_processing(watcher, timeout=120)
        os.kill(pids[victim], signal.SIGKILL)
        out, err = runner.communicate(timeout=300)
    finally:
        runner.kill()
    assert runner.returncode == 0, err[-3000:]
    done = [e for e in events(out) if e["event"] == "step_done"]
    assert [e["step"] for e in done] == ["swap"]
    assert done[0]["worker"] != victim  # Dask ran it again elsewhere
    progress = [e for e in events(out) if e["event"] == "step_progress"]
    assert progress and {e["step"] for e in progress} == {"swap"}  # relayed from the worker

    assert in_folder_main(local, "run", "clip.yaml", "--no-pull") == 0
    capsys.readouterr()
    assert outputs_of(folder, "clip") == outputs_of(local, "clip")
    remote_is_whole(remote)
    _wait_for_workers(watcher, 2)  # the nanny restarts the killed worker for the next tests


def test_ctrl_c_cancels_the_cluster_tasks_and_exits_130(tmp_path, cluster, watcher, make_video):
    remote = tmp_path / "remote"
    folder = project(tmp_path / "clip", remote, VIDEO_PIPELINE, "clip.yaml")
    make_video(folder / "clip.mp4", width=320, height=240, fps=10, seconds=4)
    runner = subprocess.Popen(
        [*FFPIPE, "run", "clip.yaml", "--json", "--cluster", cluster.scheduler_address],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_processing(watcher, timeout=120)
        runner.send_signal(signal.SIGINT)
        out, err = runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == 130, err[-3000:]
    assert "interrupted" in err
    finished = [e for e in events(out) if e["event"] == "run_done"]
    assert finished and finished[-1]["status"] == "interrupted"
    deadline = time.monotonic() + 60
    while _ffpipe_tasks(watcher) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _ffpipe_tasks(watcher)  # cancelled: the scheduler forgot them
    remote_is_whole(remote)


def test_a_step_past_its_time_limit_is_cancelled_on_the_cluster(
    tmp_path, capsys, cluster, watcher, make_video
):
    limited = VIDEO_PIPELINE.replace("uses: swap", "uses: swap\n        timeout: 0.5")
    folder = project(tmp_path / "clip", tmp_path / "remote", limited, "clip.yaml")
    make_video(folder / "clip.mp4", width=320, height=240, fps=10, seconds=4)
    code = in_folder_main(
        folder, "run", "clip.yaml", "--json", "--cluster", cluster.scheduler_address
    )
    failed = [e for e in events(capsys.readouterr().out) if e["event"] == "step_failed"]
    assert code == 1
    assert [e["step"] for e in failed] == ["swap"] and "timed out" in failed[0]["error"]
    deadline = time.monotonic() + 30
    while _ffpipe_tasks(watcher) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _ffpipe_tasks(watcher)


def test_unreachable_scheduler_is_one_message(tmp_path):
    folder = project(tmp_path / "p", tmp_path / "remote", MATRIX_PIPELINE, "batch.yaml")
    address = f"tcp://127.0.0.1:{free_port()}"
    finished = subprocess.run(
        [*FFPIPE, "run", "batch.yaml", "--cluster", address],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [
        line for line in finished.stderr.strip().splitlines() if line.startswith("ffpipe: error:")
    ]
    assert f"cannot reach the cluster scheduler at {address}" in finished.stderr
    assert not (folder / "out").exists()


def test_a_cluster_without_a_remote_cache_is_refused(tmp_path, capsys, cluster, monkeypatch):
    monkeypatch.delenv("FFPIPE_REMOTE", raising=False)
    folder = tmp_path / "p"
    folder.mkdir()
    copy_photos(folder)
    write_pipeline(folder, MATRIX_PIPELINE, "batch.yaml")
    code = in_folder_main(folder, "run", "batch.yaml", "--cluster", cluster.scheduler_address)
    assert code == 2
    err = capsys.readouterr().err
    assert "needs a remote cache that this machine and its workers both reach" in err
    assert not (folder / "out").exists()


def test_workers_refuse_steps_that_are_not_the_catalogs(tmp_path, cluster, watcher):
    """A task is checked on the worker: an unknown op, or an engine other than the one the
    step was keyed for, is refused before anything runs."""
    from ffpipe.backends.base import BackendError
    from ffpipe.cli.cluster_support import worker_backend
    from ffpipe.run.cluster import Cluster
    from ffpipe.run.cluster_worker import run_step

    remote = tmp_path / "remote"
    remote.mkdir()
    address = cluster.scheduler_address
    connected = Cluster(address, remote.as_uri(), worker_backend, "builtin")
    try:
        task = {
            "op": "swap",
            "params": {},
            "inputs": {"target_media": "sha256:" + "0" * 64, "source_face": "sha256:" + "2" * 64},
            "names": {"target_media": "a.jpg", "source_face": "b.jpg"},
            "key": "sha256:" + "1" * 64,
            "key_document": {},
            "identity": {"engine": "builtin", "engine_version": "0.0-other"},
            "pipeline": "p",
            "instance_id": "swap",
            "remote": remote.as_uri(),
        }
        with pytest.raises(ValueError, match="unknown op"):
            watcher.submit(run_step, {**task, "op": "rm -rf"}, connected.plugin_name).result()
        with pytest.raises(BackendError, match="engine differs"):
            watcher.submit(run_step, task, connected.plugin_name, pure=False).result()
    finally:
        connected.close()
    assert not list(remote.rglob("*.json"))  # nothing was published


def _wait_for_processing(client: distributed.Client, timeout: float) -> str:
    """The worker address that is running an ffpipe task, once one is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(key).startswith("ffpipe-") for key in keys):
                return address
        time.sleep(0.05)
    raise AssertionError("no ffpipe task started on the cluster")


def _wait_for_workers(client: distributed.Client, count: int) -> None:
    client.wait_for_workers(count, timeout=120)


def _ffpipe_tasks(client: distributed.Client) -> list[str]:
    return [
        str(key)
        for keys in client.processing().values()
        for key in keys
        if str(key).startswith("ffpipe-")
    ]


def test_serve_hands_requests_to_the_cluster(tmp_path, cluster, start_server, astronaut):
    """``ffpipe serve --cluster``: the catalog's own call runs on a worker, with the bytes the
    builtin engine makes in-process, and leaves a step entry on the remote cache."""
    from gradio_client import Client, handle_file

    from ffpipe.backends.base import StepRequest
    from ffpipe.backends.local import LocalBackend

    remote = tmp_path / "remote"
    server = start_server(
        tmp_path / "serve",
        *("--cluster", cluster.scheduler_address, "--remote", remote.as_uri()),
    )
    try:
        client = Client(server.url, verbose=False, download_files=str(tmp_path / "dl"))
        output, document, _ = client.predict(
            target_media=handle_file(str(astronaut)), api_name="/enhance"
        )
    finally:
        assert server.stop() == 0, server.log()[-3000:]
    assert document["faces_processed"] == 1

    workdir = tmp_path / "local"
    workdir.mkdir()
    local = LocalBackend().run(StepRequest("enhance", {"target_media": str(astronaut)}, workdir))
    assert Path(output).read_bytes() == local.files["output"].read_bytes()
    entries = [json.loads(path.read_text()) for path in (remote / "steps").rglob("*.json")]
    made = [(entry["pipeline"], entry["instance_id"]) for entry in entries]
    assert made == [("serve", "enhance")]
    remote_is_whole(remote)
