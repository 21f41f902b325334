"""Runner speed: the W1 no-op (``ffpipe run`` with nothing changed, 100 detect steps over ten
200 MB inputs, as a whole process) against DVC and Snakemake, scheduler overhead per step, and
parallel latency-bound branches.

The steps run on :class:`TrivialBackend`, a backend whose op writes a tiny file: the point is the
runner's own overhead (templating, keys, stat lookups, cache entries, records), not the engine's.
For the whole-process no-op it fills the cache under the builtin engine's identity, so the real
``ffpipe run`` command finds every step cached: the first call takes the full pass (and leaves
the no-op stamp), the timed calls take the fast path. The peers run on the same shape from their
own virtualenv ``bench/.work/peers`` (created here if missing: ``pip install snakemake dvc``;
never ffpipe dependencies). The big files are deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import Section, table
from ffpipe.backends.base import Backend, BackendIdentity, StepRequest, StepResult
from ffpipe.cache.workspace import Workspace
from ffpipe.pipeline import load_pipeline
from ffpipe.run.runner import RunOptions, RunSummary, run_pipeline

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "runner"
PEERS = ROOT / "bench" / ".work" / "peers"
FILES = 10
FILE_SIZE = 200 * 10**6
STEPS = 100
SCHEDULER_STEPS = 1000
SLEEP_SECONDS = 0.4
BRANCH_LENGTH = 3
HEAVY = ("cv2", "dlib", "gradio", "gradio_client")


W1_SECONDS = 0.3
W1_PEER_RATIO = 4.0
NOOP_PROBE = (
    "import sys\n"
    "from ffpipe.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "heavy = ('networkx', 'jinja2', 'numpy', 'cv2', 'dlib', 'av', 'gradio', 'gradio_client')\n"
    "print(', '.join(name for name in heavy if name in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)
"""``ffpipe`` as a process that also says which heavy modules it loaded (on stderr)."""


def heavy_modules(command: list[str], cwd: Path) -> str:
    """The heavy modules ``ffpipe COMMAND`` loads, comma-separated."""
    probe = [sys.executable, "-c", NOOP_PROBE, *command]
    done = subprocess.run(probe, cwd=cwd, capture_output=True, text=True, check=True)
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def local_identity() -> BackendIdentity:
    """The identity ``ffpipe run`` has on the local backend: what its cache keys hold."""
    from ffpipe.backends.local import LocalBackend

    return LocalBackend().identity()


class TrivialBackend(Backend):
    """Writes a few bytes per step (optionally after sleeping, to mimic a remote server)."""

    def __init__(
        self, sleep: float = 0.0, jobs: int = 2, identity: BackendIdentity | None = None
    ) -> None:
        self.sleep = sleep
        self.jobs = jobs
        self._identity = identity or BackendIdentity(
            kind="bench", engine="trivial", engine_version="1"
        )

    def identity(self) -> BackendIdentity:
        return self._identity

    def capabilities(self) -> dict[str, Any]:
        return {}

    def max_concurrency(self) -> int:
        return self.jobs

    def run(self, request: StepRequest) -> StepResult:
        if self.sleep:
            time.sleep(self.sleep)
        output = request.workdir / "out.json"
        output.write_text(json.dumps(sorted(request.params.items()), default=str))
        return StepResult(files={"output": output}, result={})


def _write_inputs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(8 * 2**20)
    paths = []
    old = time.time_ns() - 60 * 10**9  # inputs are usually old files, not racy ones
    for index in range(FILES):
        path = folder / f"f{index}.bin"
        with open(path, "wb") as target:
            written = target.write(index.to_bytes(8, "little"))
            while written < FILE_SIZE:
                written += target.write(block[: FILE_SIZE - written])
        os.utime(path, ns=(old, old))
        paths.append(path)
    # Old inputs are on disk, not 2 GB of dirty pages that would slow every fsync of the run.
    os.sync()
    return paths


def _flat_pipeline(folder: Path, steps: int, inputs: int, name: str) -> Path:
    lines = ["version: 1", f"name: {name}", "inputs:"]
    lines += [f"  f{index}: data/f{index}.bin" for index in range(inputs)]
    lines.append("steps:")
    for index in range(steps):
        lines += [
            f"  s{index:04d}:",
            "    uses: detect",
            "    with:",
            f'      target_media: "{{{{ inputs.f{index % inputs} }}}}"',
            f"      output_path: s{index:04d}.json",
        ]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(pipeline_file: Path, workspace: Path, backend: Backend, **options: Any) -> RunSummary:
    """A run with the outputs where ``ffpipe run`` in the pipeline's folder puts them."""
    pipeline = load_pipeline(pipeline_file)
    out = pipeline_file.parent / "out" / pipeline.name
    return run_pipeline(pipeline, Workspace(workspace), backend, RunOptions(out_dir=out, **options))


def _timed_process(command: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stdout}\n{result.stderr}")
    return elapsed, result.stdout + result.stderr


def _best_process(command: list[str], cwd: Path, repeat: int = 3) -> float:
    return min(_timed_process(command, cwd)[0] for _ in range(repeat))


def _peers() -> Path | None:
    """The peers' bin folder, installing snakemake and dvc into their own venv if missing."""
    bin_dir = PEERS / "bin"
    if not (bin_dir / "snakemake").exists() or not (bin_dir / "dvc").exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
            subprocess.run([str(bin_dir / "pip"), "install", "-q", "snakemake", "dvc"], check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"bench: peers unavailable: {error}", file=sys.stderr)
            return None
    return bin_dir


def _dvc_project(folder: Path, bin_dir: Path) -> float:
    stages = {
        f"s{index:04d}": {
            "cmd": f"echo {index} > out/s{index:04d}.txt",
            "deps": [f"data/f{index % FILES}.bin"],
            "outs": [f"out/s{index:04d}.txt"],
        }
        for index in range(STEPS)
    }
    (folder / "out").mkdir(exist_ok=True)
    (folder / "dvc.yaml").write_text(json.dumps({"stages": stages}, indent=1))
    dvc = str(bin_dir / "dvc")
    env_command = [dvc, "init", "--no-scm", "-q"]
    subprocess.run(env_command, cwd=folder, check=True, capture_output=True)
    subprocess.run([dvc, "config", "core.analytics", "false"], cwd=folder, check=True)
    _timed_process([dvc, "repro", "-q"], folder)
    return _best_process([dvc, "repro", "-q"], folder)


def _snakemake_project(folder: Path, bin_dir: Path) -> float:
    (folder / "Snakefile").write_text(
        f"rule all:\n    input: expand('out/s{{i}}.txt', i=range({STEPS}))\n\n"
        "rule step:\n"
        f"    input: lambda wc: f'data/f{{int(wc.i) % {FILES}}}.bin'\n"
        "    output: 'out/s{i}.txt'\n"
        "    shell: 'echo {wildcards.i} > {output}'\n"
    )
    snakemake = [str(bin_dir / "snakemake"), "-j1", "--quiet", "all"]
    _timed_process(snakemake, folder)
    return _best_process(snakemake, folder)


def _noop_section() -> tuple[list[list[object]], list[str]]:
    shutil.rmtree(WORK, ignore_errors=True)
    notes: list[str] = []
    try:
        data = WORK / "ffpipe" / "data"
        paths = _write_inputs(data)
        pipeline = _flat_pipeline(data.parent, STEPS, FILES, "noop")
        workspace = data.parent / ".ffpipe"
        backend = TrivialBackend(identity=local_identity())
        start = time.perf_counter()
        summary = _run(pipeline, workspace, backend)
        first = time.perf_counter() - start
        assert summary.count("ran") == STEPS, summary.status
        start = time.perf_counter()
        summary = _run(pipeline, workspace, backend)
        in_process = time.perf_counter() - start
        assert summary.count("cached") == STEPS
        command = ["run", pipeline.name, "--workspace", str(workspace)]
        full_pass, _ = _timed_process([sys.executable, "-m", "ffpipe", *command], pipeline.parent)
        heavy = heavy_modules(command, pipeline.parent)
        process = _best_process([sys.executable, "-m", "ffpipe", *command], pipeline.parent)
        notes.append(f"heavy modules loaded by the no-op process: {heavy.strip() or 'none'}")
        rows: list[list[object]] = [
            ["ffpipe first run (hashes 2 GB), in process", f"{first:.2f}", ""],
            [
                "ffpipe no-op, in process (full pass)",
                f"{in_process:.3f}",
                f"{first / in_process:.0f}x",
            ],
            [
                "ffpipe run no-op, whole process, full pass",
                f"{full_pass:.3f}",
                f"{first / full_pass:.0f}x",
            ],
            [
                "ffpipe run no-op, whole process (W1, fast path)",
                f"{process:.3f}",
                f"{first / process:.0f}x",
            ],
        ]
        bin_dir = _peers()
        if bin_dir is not None:
            for name, setup in (("dvc repro", _dvc_project), ("snakemake -j1", _snakemake_project)):
                folder = WORK / name.split()[0]
                folder.mkdir(parents=True)
                (folder / "data").mkdir()
                for path in paths:
                    os.link(path, folder / "data" / path.name)
                peer = setup(folder, bin_dir)
                rows.append(
                    [f"{name} no-op", f"{peer:.3f}", f"ffpipe W1 {peer / process:.1f}x faster"]
                )
                if name.startswith("snakemake"):
                    met = process <= W1_SECONDS and peer / process >= W1_PEER_RATIO
                    notes.append(
                        f"W1 targets (at most {W1_SECONDS} s, at least {W1_PEER_RATIO:g}x faster "
                        f"than snakemake -j1): {process:.3f} s, {peer / process:.1f}x: "
                        + ("met" if met else "MISSED")
                    )
        else:
            notes.append("peers not measured: could not install snakemake and dvc")
        return rows, notes
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


def _scheduler_rows() -> list[list[object]]:
    folder = WORK / "scheduler"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "f0.bin").write_bytes(b"tiny")
    try:
        pipeline_file = _flat_pipeline(folder, SCHEDULER_STEPS, 1, "scheduler")
        start = time.perf_counter()
        pipeline = load_pipeline(pipeline_file)
        loading = time.perf_counter() - start
        rows = [["load + validate", f"{loading:.3f}", f"{loading / SCHEDULER_STEPS * 1000:.2f}"]]
        for label in ("first run (all run)", "no-op re-run (all cached)"):
            workspace = Workspace(folder / ".ffpipe")
            options = RunOptions(out_dir=folder / "out", jobs=2)
            start = time.perf_counter()
            run_pipeline(pipeline, workspace, TrivialBackend(), options)
            elapsed = time.perf_counter() - start
            rows.append([label, f"{elapsed:.3f}", f"{elapsed / SCHEDULER_STEPS * 1000:.2f}"])
            workspace.close()
        stored = _store_only(folder)
        per_step = f"{stored / SCHEDULER_STEPS * 1000:.2f}"
        rows.append(["  of which the object store's durable writes", f"{stored:.3f}", per_step])
        return rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _store_only(folder: Path) -> float:
    """Seconds the object store alone takes to take in the first run's tiny outputs."""
    store = Workspace(folder / ".ffpipe-store-only").objects
    start = time.perf_counter()
    for index in range(SCHEDULER_STEPS):
        scratch = store.tmp_dir / f"bench-{index}.json"
        scratch.write_text(json.dumps([index]))
        store.put_file(scratch, move=True)
    return time.perf_counter() - start


def _branches_rows() -> list[list[object]]:
    folder = WORK / "branches"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    for name in ("a", "b"):
        (folder / "data" / f"{name}.bin").write_bytes(name.encode())
    lines = ["version: 1", "name: branches", "inputs: {a: data/a.bin, b: data/b.bin}", "steps:"]
    for branch in ("a", "b"):
        for index in range(BRANCH_LENGTH):
            source = f"inputs.{branch}" if index == 0 else f"steps.{branch}{index - 1}.output"
            lines += [f"  {branch}{index}:", "    uses: detect", "    with:"]
            lines.append(f'      target_media: "{{{{ {source} }}}}"')
    pipeline_file = folder / "branches.yaml"
    pipeline_file.write_text("\n".join(lines) + "\n")
    rows = []
    try:
        times = {}
        for jobs in (1, 2):
            backend = TrivialBackend(sleep=SLEEP_SECONDS)
            start = time.perf_counter()
            _run(pipeline_file, folder / f".ffpipe-{jobs}", backend, jobs=jobs)
            times[jobs] = time.perf_counter() - start
            rows.append([f"--jobs {jobs}", f"{times[jobs]:.2f}", f"{times[jobs] / times[1]:.2f}"])
        return rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run() -> Section:
    noop_rows, notes = _noop_section()
    body = [
        f"No-op re-run of a {STEPS}-step pipeline over {FILES} files of "
        f"{FILE_SIZE // 10**6} MB ({FILES * FILE_SIZE / 10**9:.0f} GB), steps on a trivial "
        "backend (runner overhead only). Best of 3 for processes. Targets: the W1 no-op "
        f"(`ffpipe run`, whole process) at most {W1_SECONDS} s and at least {W1_PEER_RATIO:g}x "
        "faster than snakemake -j1; at least 20x faster than the first run.",
        "",
        table(["run", "seconds", "vs first run / vs peer"], noop_rows),
        "",
        *[f"- {note}" for note in notes],
        "",
        f"Scheduler overhead on {SCHEDULER_STEPS} trivial steps (target under 2 ms per step):",
        "",
        table(["phase", "seconds", "ms per step"], _scheduler_rows()),
        "",
        f"Two independent branches of {BRANCH_LENGTH} latency-bound steps "
        f"({SLEEP_SECONDS} s each); target: --jobs 2 about half of --jobs 1:",
        "",
        table(["jobs", "seconds", "ratio to --jobs 1"], _branches_rows()),
    ]
    shutil.rmtree(WORK, ignore_errors=True)
    return Section("Runner", "\n".join(body))
