"""Cluster: a matrix batch on one vs two local Dask workers, and the overhead per task.

A matrix of builtin ``edit`` steps on the astronaut photo (``GPU=1`` each, by the catalog's op
facts) runs as ``ffpipe run --cluster`` against a ``distributed.LocalCluster`` on 127.0.0.1
whose workers are separate processes with one thread and ``GPU=1`` each, over a file:// remote.
Every run starts from a fresh project, workspace and remote; times are medians of {repeat}
runs of the whole command. The workers are warmed first by two steps of another pipeline (their
engine loads then), so the cluster runs measure warm workers; each local run is a new process
that loads the engine itself, as ``ffpipe run`` does. The local runs are ``ffpipe run -j 1``
and ``-j 2`` on the same machine.

Overhead per task = median step time on the cluster with one worker - median step time of the
local ``-j 1`` runs (each the time from the step's start to its end as the run reports it): what
sending a step to a worker, fetching its input there, pushing its output to the remote and
handing back digests add to a step. Pulling the outputs at the end comes on top, once per run.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Section, table

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(__file__).resolve().parent / ".work" / "cluster"
STEPS = 8
REPEAT = 3
PIPELINE = f"""\
version: 1
name: batch
matrix:
  age: [{", ".join(str(10 + 8 * index) for index in range(STEPS))}]
steps:
  aged:
    uses: edit
    with:
      target_media: astronaut.jpg
      face_editor_age: "{{{{ matrix.age }}}}"
      face_editor_age_direction: auto
outputs:
  "aged_{{{{ matrix.age }}}}.jpg": "{{{{ steps.aged.output }}}}"
"""
WARM_UP = """\
version: 1
name: warm
matrix:
  age: [5, 6]
steps:
  aged:
    uses: edit
    with: {target_media: astronaut.jpg, face_editor_age: "{{ matrix.age }}"}
"""
"""Two steps at once: one lands on each of two workers (each offers GPU=1 once)."""


def _project(folder: Path, remote: Path | None) -> Path:
    folder.mkdir(parents=True)
    shutil.copyfile(ROOT / "media" / "astronaut.jpg", folder / "astronaut.jpg")
    (folder / "batch.yaml").write_text(PIPELINE)
    (folder / "warm.yaml").write_text(WARM_UP)
    if remote is not None:
        (folder / "ffpipe.toml").write_text(f'[cache]\nremote = "{remote.as_uri()}"\n')
    return folder


def _ffpipe(folder: Path, *args: str) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ffpipe", *args, "--json", "--no-lock"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "FFPIPE_REMOTE": ""},
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ffpipe {' '.join(args)} failed: {done.stderr[-2000:]}")
    return elapsed, [json.loads(line) for line in done.stdout.splitlines() if line[:1] == "{"]


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "out" / "batch").iterdir())}


def _step_times(events: list[dict]) -> list[float]:
    return [event["duration"] for event in events if event["event"] == "step_done"]


def _locally(jobs: int) -> tuple[float, list[float], dict[str, bytes]]:
    """Median seconds for the batch run locally with ``-j jobs``, its step times, its outputs."""
    times, steps = [], []
    for attempt in range(REPEAT):
        folder = _project(WORK / f"local-{jobs}-{attempt}", None)
        elapsed, events = _ffpipe(folder, "run", "batch.yaml", "-j", str(jobs))
        times.append(elapsed)
        steps += _step_times(events)
    return statistics.median(times), steps, _outputs(folder)


def _on_cluster(workers: int, reference: dict[str, bytes]) -> tuple[float, list[float], int]:
    """Median seconds for the batch on ``workers`` local workers, its step times, and how many
    workers ran steps."""
    from distributed import LocalCluster

    warm = _project(WORK / f"warm-{workers}", WORK / f"remote-warm-{workers}")
    times, steps, used = [], [], set()
    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        resources={"GPU": 1},
        silence_logs=40,
    ) as cluster:
        address = cluster.scheduler_address
        _ffpipe(warm, "run", "warm.yaml", "--cluster", address)  # engines load here
        for attempt in range(REPEAT):
            folder = _project(
                WORK / f"cluster-{workers}-{attempt}", WORK / f"remote-{workers}-{attempt}"
            )
            elapsed, events = _ffpipe(folder, "run", "batch.yaml", "--cluster", address)
            if _outputs(folder) != reference:
                raise RuntimeError("the cluster's outputs differ from the local run's")
            times.append(elapsed)
            steps += _step_times(events)
            used |= {event["worker"] for event in events if event["event"] == "step_done"}
    return statistics.median(times), steps, len(used)


def run() -> Section:
    shutil.rmtree(WORK, ignore_errors=True)
    load_before = os.getloadavg()[0]
    serial, local_steps, reference = _locally(1)
    parallel, _, outputs = _locally(2)
    if outputs != reference:
        raise RuntimeError("-j 2 made other bytes than -j 1")
    one, cluster_steps, used_one = _on_cluster(1, reference)
    two, _, used_two = _on_cluster(2, reference)
    load_after = os.getloadavg()[0]
    shutil.rmtree(WORK, ignore_errors=True)
    rows = [
        ["local, -j 1", f"{serial:.1f}", "-", "1.00"],
        ["local, -j 2", f"{parallel:.1f}", "-", f"{serial / parallel:.2f}"],
        ["cluster, 1 worker", f"{one:.1f}", used_one, f"{serial / one:.2f}"],
        ["cluster, 2 workers", f"{two:.1f}", used_two, f"{serial / two:.2f}"],
    ]
    local_step = statistics.median(local_steps)
    cluster_step = statistics.median(cluster_steps)
    overhead = cluster_step - local_step
    body = (
        __doc__.split("\n\n", 1)[1].format(repeat=REPEAT)
        + "\n\n"
        + table(["run", "seconds (whole command)", "workers used", "speed-up vs local -j 1"], rows)
        + f"\n\n{STEPS} steps. Two workers vs one: {one / two:.2f}x. Median step: "
        f"{local_step:.2f} s locally, {cluster_step:.2f} s on the cluster; overhead per task "
        f"{overhead:+.2f} s. Outputs are byte-identical to "
        f"the local run in every configuration. On a machine with {os.cpu_count()} cores the "
        "workers and the client share the same cores, so two workers cannot be twice as fast "
        "here; on separate GPU boxes each worker brings its own. Load average (1 min) "
        f"{load_before:.1f} before and {load_after:.1f} after: the machine was shared."
    )
    return Section("Cluster (Dask distributed, local workers)", body)
