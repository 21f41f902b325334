"""Remote cache: a fresh workspace pulling 100 cached steps vs rendering them, and the no-op run
with a remote configured vs without.

A 100-instance matrix of builtin ``edit`` steps on the astronaut photo is rendered once, then
pushed to a remote on the filesystem and to moto's S3 server on 127.0.0.1 (moto stands in for
S3). Fresh workspaces then run the same pipeline against each remote: every step is fetched,
none rendered. The no-op runs are ``ffpipe run`` processes in the rendered folder, with and
without ``[cache] remote`` in ffpipe.toml, alternated, median of 7; nothing is fetched then.
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
WORK = Path(__file__).resolve().parent / ".work" / "remote"
STEPS = 100
NOOP_REPEAT = 15
TARGET_NOOP_OVERHEAD = 0.10
PIPELINE = f"""\
version: 1
name: hundred
matrix:
  age: [{", ".join(str(age) for age in range(1, STEPS + 1))}]
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


def _project(folder: Path, remote: str | None) -> Path:
    folder.mkdir(parents=True)
    shutil.copyfile(ROOT / "media" / "astronaut.jpg", folder / "astronaut.jpg")
    (folder / "hundred.yaml").write_text(PIPELINE)
    if remote is not None:
        (folder / "ffpipe.toml").write_text(f'[cache]\nremote = "{remote}"\n')
    return folder


def _ffpipe(folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ffpipe", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ffpipe {' '.join(args)} failed: {done.stderr}")
    return elapsed, done.stdout


def _counts(output: str) -> dict[str, int]:
    found = {"step_done": 0, "step_cached": 0, "remote": 0}
    for line in output.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event["event"] in found:
                found[event["event"]] += 1
            if event["event"] == "step_cached" and event.get("remote"):
                found["remote"] += 1
    return found


def _fresh_pull(name: str, remote: str, env: dict[str, str]) -> tuple[float, int]:
    folder = _project(WORK / name, remote)
    elapsed, output = _ffpipe(folder, "run", "hundred.yaml", "--json", "-j", "8", env=env)
    counts = _counts(output)
    if counts["step_done"] or counts["remote"] != STEPS:
        raise RuntimeError(f"{name}: expected {STEPS} steps from the remote, got {counts}")
    objects = folder / ".ffpipe" / "objects" / "sha256"
    return elapsed, sum(path.stat().st_size for path in objects.rglob("*") if path.is_file())


def _noop(folder: Path) -> tuple[float, float]:
    """Median no-op times with and without the remote in ffpipe.toml, alternated."""
    settings = folder / "ffpipe.toml"
    text = settings.read_text()
    with_remote, without = [], []
    for _ in range(NOOP_REPEAT):
        settings.write_text(text)
        with_remote.append(_ffpipe(folder, "run", "hundred.yaml")[0])
        settings.unlink()
        without.append(_ffpipe(folder, "run", "hundred.yaml")[0])
    settings.write_text(text)
    return statistics.median(with_remote), statistics.median(without)


def run() -> Section:
    """Measure and return the BENCHMARKS.md section."""
    from bench.s3 import BUCKET, make_bucket, moto_server, s3_environment

    shutil.rmtree(WORK, ignore_errors=True)
    try:
        with moto_server() as endpoint:
            make_bucket(endpoint)
            s3 = s3_environment(endpoint)
            shared = str(WORK / "shared")
            source = _project(WORK / "source", shared)
            render, output = _ffpipe(source, "run", "hundred.yaml", "--json", "--no-pull")
            if _counts(output)["step_done"] != STEPS:
                raise RuntimeError("the first run did not render every step")
            push_fs, _ = _ffpipe(source, "push", "hundred.yaml", "-j", "8")
            s3_url = f"s3://{BUCKET}/bench"
            push_s3, _ = _ffpipe(source, "push", "--remote", s3_url, "-j", "8", env=s3)
            pull_fs, bytes_fs = _fresh_pull("fresh-fs", shared, {})
            pull_s3, bytes_s3 = _fresh_pull("fresh-s3", s3_url, s3)
            noop_remote, noop_plain = _noop(source)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    overhead = noop_remote / noop_plain - 1
    rows = [
        [f"render {STEPS} steps (fresh workspace, no remote)", f"{render:.2f} s", "", "1.0x"],
        ["push them to the filesystem remote", f"{push_fs:.2f} s", "", ""],
        ["push them to S3 (moto, 127.0.0.1)", f"{push_s3:.2f} s", "", ""],
        [
            f"fresh workspace: run, all {STEPS} pulled from the filesystem remote",
            f"{pull_fs:.2f} s",
            f"{bytes_fs / 1e6:.1f} MB",
            f"{render / pull_fs:.1f}x faster",
        ],
        [
            f"fresh workspace: run, all {STEPS} pulled from S3 (moto)",
            f"{pull_s3:.2f} s",
            f"{bytes_s3 / 1e6:.1f} MB",
            f"{render / pull_s3:.1f}x faster",
        ],
        ["no-op run, remote configured", f"{noop_remote * 1000:.0f} ms", "", ""],
        ["no-op run, no remote", f"{noop_plain * 1000:.0f} ms", "", ""],
    ]
    verdict = "met" if overhead <= TARGET_NOOP_OVERHEAD else "NOT met"
    body = "\n".join(
        [
            f"{STEPS} builtin `edit` steps on the astronaut photo. Every time is a whole `ffpipe` "
            "process (start-up included); pulls use `-j 8`. Bytes are what the fresh workspace "
            f"received. No-op times are medians of {NOOP_REPEAT}, alternated.",
            "",
            table(["measure", "time", "bytes", "vs render"], rows),
            "",
            f"No-op with a remote configured: {overhead:+.1%} vs without "
            f"(target within {TARGET_NOOP_OVERHEAD:.0%}): {verdict}.",
        ]
    )
    return Section("Remote cache: pulling vs rendering", body)
