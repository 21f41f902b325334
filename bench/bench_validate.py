"""Validate + plan of a pipeline whose matrix expands to 10,000 step instances, against peers.

ffpipe: ``load_pipeline`` + ``build_graph`` + ``generations`` in process, and the whole ``ffpipe
plan`` command as a process with its output to a file: cold (no workspace) and after a completed
run (the no-op fast path; the run is made in process on a trivial backend under the builtin
engine's identity). Peers on the same shape, installed into their own venv (bench/.work/peers,
never ffpipe dependencies): Snakemake's dry run of a wildcard rule expanded to 10,000 targets,
cold and with every output made, and ``dvc status`` on a 10,000-item ``foreach`` stage.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

from bench.common import Section, median_seconds, table
from ffpipe.graph import build_graph, generations
from ffpipe.pipeline import LoadOptions, load_pipeline

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "validate"
INSTANCES = 10_000
GRANTED = LoadOptions(max_instances=INSTANCES)
"""The matrix is over the default limit of combinations on purpose: the bench grants it."""
PEERS = ROOT / "bench" / ".work" / "peers"
SIDE = 100
INSTANCES = SIDE * SIDE
TARGET_SECONDS = 2.0
PLAN_PEER_RATIO = 5.0


def _pipeline() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "media" / "astronaut.jpg", WORK / "astronaut.jpg")
    ages = ", ".join(str(age) for age in range(SIDE))
    blends = ", ".join(f"{index / SIDE:.2f}" for index in range(SIDE))
    path = WORK / "matrix_10000.yaml"
    path.write_text(
        "version: 1\n"
        "name: matrix_10000\n"
        "matrix:\n"
        f"  age: [{ages}]\n"
        f"  blend: [{blends}]\n"
        "steps:\n"
        "  aged:\n"
        "    uses: edit\n"
        "    with:\n"
        "      target_media: astronaut.jpg\n"
        '      face_editor_age: "{{ matrix.age }}"\n'
        '      face_editor_blend: "{{ matrix.blend }}"\n'
        '      output_path: "aged_{{ matrix.age }}_{{ matrix.blend }}.jpg"\n',
        encoding="utf-8",
    )
    return path


def _validate_and_plan(path: Path) -> int:
    pipeline = load_pipeline(path, options=GRANTED)
    order = generations(build_graph(pipeline))
    return sum(len(stage) for stage in order)


def _process_seconds(command: list[str], cwd: Path, repeat: int = 3) -> float:
    """Median wall time of ``command`` as a process, its output written to a file."""

    def once() -> None:
        with (WORK / "output.txt").open("w") as output:
            subprocess.run(command, cwd=cwd, check=True, stdout=output, stderr=subprocess.PIPE)

    return median_seconds(once, repeat=repeat)


def _ran_workspace(path: Path) -> Path:
    """A workspace where every instance ran (trivially, under the builtin engine's identity)
    and ``ffpipe run`` then completed, all cached."""
    from bench.bench_runner import TrivialBackend, local_identity
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run.runner import RunOptions, run_pipeline

    workspace = WORK / "ws"
    shutil.rmtree(workspace, ignore_errors=True)
    backend = TrivialBackend(identity=local_identity())
    options = RunOptions(out_dir=WORK / "out" / "matrix_10000", write_lock=False)
    with Workspace(workspace) as opened:
        summary = run_pipeline(load_pipeline(path, options=GRANTED), opened, backend, options)
    assert summary.status == "ok", summary.status
    # The real command then finds every step cached and leaves the stamp the plan relies on.
    command = [sys.executable, "-m", "ffpipe", "run", str(path), "--workspace", str(workspace)]
    command += ["--out", str(WORK / "out"), "--no-lock", "--max-instances", str(INSTANCES)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return workspace


def _peer_venv() -> Path | None:
    python = PEERS / "bin" / "python"
    if not (PEERS / "bin" / "snakemake").exists() or not (PEERS / "bin" / "dvc").exists():
        if not python.exists():
            venv.create(PEERS, with_pip=True)
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "snakemake", "dvc"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(f"bench: could not install the peers: {result.stderr[-500:]}", flush=True)
            return None
    return PEERS / "bin"


def _snakemake_dir() -> Path:
    folder = WORK / "snakemake"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Snakefile").write_text(
        f"rule all:\n    input: expand('out/{{i}}.txt', i=range({INSTANCES}))\n\n"
        "rule make:\n    output: 'out/{i}.txt'\n    shell: 'echo {wildcards.i} > {output}'\n",
        encoding="utf-8",
    )
    return folder


def _dvc_dir(bin_dir: Path) -> Path:
    folder = WORK / "dvc"
    if not (folder / ".dvc").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(bin_dir / "dvc"), "init", "--no-scm", "--quiet"], cwd=folder, check=True
        )
    items = "\n".join(f"      - {index}" for index in range(INSTANCES))
    (folder / "dvc.yaml").write_text(
        "stages:\n  make:\n    foreach:\n"
        + items
        + "\n    do:\n      cmd: echo ${item} > out/${item}.txt\n"
        "      outs:\n        - out/${item}.txt\n",
        encoding="utf-8",
    )
    return folder


def run() -> Section:
    """Time ffpipe and the peers; the section for BENCHMARKS.md."""
    path = _pipeline()
    assert _validate_and_plan(path) == INSTANCES
    ffpipe_seconds = median_seconds(lambda: _validate_and_plan(path), repeat=5)
    start = time.perf_counter()
    plan = [sys.executable, "-m", "ffpipe", "plan", str(path), "--max-instances", str(INSTANCES)]
    cli_seconds = _process_seconds([*plan, "--workspace", str(WORK / "none")], ROOT)
    print(f"bench: ffpipe {ffpipe_seconds:.2f} s ({time.perf_counter() - start:.0f} s)", flush=True)
    ran = [*plan, "--workspace", str(_ran_workspace(path))]
    _process_seconds(ran, ROOT, 1)  # the full pass after the run, which keeps its plan
    after_run = _process_seconds(ran, ROOT)
    rows: list[list[object]] = [
        [
            "ffpipe load + graph + generations (in process)",
            f"{ffpipe_seconds:.2f}",
            "1.0",
            "under 2 s: " + ("met" if ffpipe_seconds < TARGET_SECONDS else "MISSED"),
        ],
        [
            "ffpipe plan (whole command, cold: no workspace)",
            f"{cli_seconds:.2f}",
            f"{cli_seconds / ffpipe_seconds:.1f}",
            "includes start-up and writing 10,000 instances to a file",
        ],
        [
            "ffpipe plan (whole command, after a completed run)",
            f"{after_run:.2f}",
            f"{after_run / ffpipe_seconds:.1f}",
            "the no-op fast path: the plan kept from the full pass after the run",
        ],
    ]
    notes: list[str] = []
    bin_dir = _peer_venv()
    if bin_dir is None:
        rows.append(["snakemake -n / dvc status", "n/a", "n/a", "peers could not be installed"])
    else:
        dry_run = [str(bin_dir / "snakemake"), "-n", "--cores", "1", "--quiet"]
        folder = _snakemake_dir()
        snakemake = _process_seconds(dry_run, folder, 1)
        for index in range(INSTANCES):  # every output made, as after a completed run
            (folder / "out" / f"{index}.txt").parent.mkdir(exist_ok=True)
            (folder / "out" / f"{index}.txt").write_text(f"{index}\n")
        snakemake_done = _process_seconds(dry_run, folder, 1)
        dvc = _process_seconds([str(bin_dir / "dvc"), "status"], _dvc_dir(bin_dir), 1)
        rows.append(
            [
                f"snakemake -n ({INSTANCES} targets, cold)",
                f"{snakemake:.2f}",
                f"{snakemake / ffpipe_seconds:.1f}",
                "dry run of one wildcard rule",
            ]
        )
        rows.append(
            [
                f"snakemake -n ({INSTANCES} targets, all made)",
                f"{snakemake_done:.2f}",
                f"{snakemake_done / ffpipe_seconds:.1f}",
                "dry run with every output present",
            ]
        )
        for label, ours, theirs in (
            ("cold", cli_seconds, snakemake),
            ("after a completed run", after_run, snakemake_done),
        ):
            ratio = theirs / ours
            notes.append(
                f"ffpipe plan vs snakemake -n, {label}: {ratio:.1f}x faster (target at least "
                f"{PLAN_PEER_RATIO:g}x): " + ("met" if ratio >= PLAN_PEER_RATIO else "MISSED")
            )
        rows.append(
            [
                f"dvc status ({INSTANCES}-item foreach)",
                f"{dvc:.2f}",
                f"{dvc / ffpipe_seconds:.1f}",
                "one foreach stage",
            ]
        )
    body = (
        f"A pipeline whose matrix (100 ages x 100 blends) expands to {INSTANCES:,} step "
        "instances, validated and planned (no cache). Ratio: time / ffpipe's in-process time.\n\n"
        + table(["what", "seconds", "ratio", "note"], rows)
        + ("\n\n" + "\n".join(f"- {note}" for note in notes) if notes else "")
        + "\n\nLoad average when measured (1, 5, 15 min): "
        + ", ".join(f"{load:.1f}" for load in os.getloadavg())
        + "; a busy machine slows every row, the peers most (they are measured once)."
    )
    return Section("Validate + plan: 10,000 matrix instances", body)
