"""Cache speed: hashing 2 GB of inputs once vs. finding them unchanged through the stat table.

Ten 200 MB files are written under ``bench/.work/cache`` and removed afterwards. The first pass
hashes every byte (files are warm in the page cache, having just been written, so this is the
fastest a first run can be); the no-op pass opens the workspace afresh and only stats the files.
A hundred step-entry lookups (key, entry, object check) are timed too: the cache's share of a
no-op re-run of a 100-step pipeline.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from bench.common import Section, median_seconds, table
from ffpipe.cache.key import step_key
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace

FILES = 10
FILE_SIZE = 200 * 10**6
BLOCK = 8 * 2**20
TARGET_RATIO = 20.0
STEPS = 100
WORK = Path(__file__).resolve().parent / ".work" / "cache"


def _write_inputs(folder: Path) -> list[Path]:
    block = os.urandom(BLOCK)
    paths = []
    for index in range(FILES):
        path = folder / f"input_{index:02d}.bin"
        with open(path, "wb") as target:
            target.write(index.to_bytes(8, "little"))
            written = 8
            while written < FILE_SIZE:
                written += target.write(block[: FILE_SIZE - written])
        # Inputs are usually old files; an mtime this fresh would be re-checked once (racy stat).
        moment = time.time_ns() - 60 * 10**9
        os.utime(path, ns=(moment, moment))
        paths.append(path)
    return paths


def _first_hash(root: Path, paths: list[Path]) -> float:
    with Workspace(root) as workspace:
        start = time.perf_counter()
        workspace.stats.digest_many(paths)
        elapsed = time.perf_counter() - start
        if workspace.stats.hashes != len(paths):
            raise RuntimeError("the first pass did not hash every file")
    return elapsed


def _noop_lookup(root: Path, paths: list[Path]) -> None:
    with Workspace(root) as workspace:
        workspace.stats.digest_many(paths)
        if workspace.stats.hashes:
            raise RuntimeError("the no-op pass hashed a file")


def _record_steps(root: Path, paths: list[Path]) -> list[tuple[str, dict, dict]]:
    steps = []
    with Workspace(root) as workspace:
        digests = workspace.stats.digest_many(paths)
        for index in range(STEPS):
            params = {"face_enhancer_blend": index / STEPS, "face_mask_types": ["box"]}
            inputs = {"target_media": digests[paths[index % FILES]]}
            key = step_key("enhance", params, inputs, {"engine": "builtin"})
            output = workspace.objects.put_bytes(f"output {index}".encode())
            entry = StepEntry(key, "bench", f"step{index}", {"output": output})
            workspace.steps.put(key, entry)
            steps.append(("enhance", params, inputs))
    return steps


def _noop_steps(root: Path, paths: list[Path], steps: list[tuple[str, dict, dict]]) -> None:
    with Workspace(root) as workspace:
        workspace.stats.digest_many(paths)
        keys = []
        for op, params, inputs in steps:
            key = step_key(op, params, inputs, {"engine": "builtin"})
            entry = workspace.steps.get(key, mark_used=False)
            if entry is None or not all(map(workspace.objects.has, entry.outputs.values())):
                raise RuntimeError("a recorded step missed")
            keys.append(key)
        workspace.steps.mark_used(keys)


def run() -> Section:
    """Measure and return the BENCHMARKS.md section."""
    shutil.rmtree(WORK, ignore_errors=True)
    inputs, root = WORK / "inputs", WORK / ".ffpipe"
    inputs.mkdir(parents=True)
    try:
        paths = _write_inputs(inputs)
        first = _first_hash(root, paths)
        noop = median_seconds(lambda: _noop_lookup(root, paths), repeat=7)
        steps = _record_steps(root, paths)
        noop_steps = median_seconds(lambda: _noop_steps(root, paths, steps), repeat=7)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    ratio = first / noop
    total_gb = FILES * FILE_SIZE / 1e9
    rows = [
        [f"first run: hash {FILES} x {FILE_SIZE // 10**6} MB", f"{first:.2f} s", ""],
        ["no-op: open workspace, stat table lookup", f"{noop * 1000:.1f} ms", ""],
        [
            f"no-op: lookup + {STEPS} step keys, entries, object checks",
            f"{noop_steps * 1000:.1f} ms",
            "",
        ],
        ["ratio first / no-op lookup", f"{ratio:,.0f}x", f"target >= {TARGET_RATIO:.0f}x"],
    ]
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    body = "\n".join(
        [
            f"{total_gb:.0f} GB of inputs; first-pass throughput "
            f"{total_gb / first:.2f} GB/s (warm page cache). No-op times are medians of 7.",
            "",
            table(["measure", "time", "note"], rows),
            "",
            f"Target (no-op at least {TARGET_RATIO:.0f}x faster than hashing): {verdict}.",
        ]
    )
    return Section("Cache: hashing vs. stat lookup", body)
