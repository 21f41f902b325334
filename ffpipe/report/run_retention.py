"""Pruning run records: ``<workspace>/runs/`` keeps runs (and the reports inside them) by count
and age, where until now it grew with every run. ``ffpipe runs gc`` and ``ffpipe cache gc
--keep-runs/--runs-older-than`` both prune through :func:`prune_runs`.

The newest run of each pipeline always stays: ``ffpipe report`` and the "changed since the
previous run" marks start from it. A run folder without ``run.json`` is a run still going or
one that crashed; it goes only when older than the age limit, by its newest file.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ffpipe.report.runs import RunRecord, all_runs


@dataclass
class RunRetention:
    """What a pruning removed (or, on a dry run, would remove)."""

    removed: list[str] = field(default_factory=list)
    kept: int = 0
    freed_bytes: int = 0


def prune_runs(
    runs_dir: Path,
    *,
    keep: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> RunRetention:
    """Remove the runs beyond the newest ``keep`` of each pipeline and those finished more than
    ``older_than`` seconds ago; the newest run of every pipeline stays whatever the limits."""
    if keep is not None and keep < 1:
        raise ValueError("keep must be at least 1: the newest run of a pipeline always stays")
    moment = time.time() if now is None else now
    report = RunRetention()
    if not runs_dir.is_dir():
        return report
    by_pipeline: dict[str, list[RunRecord]] = defaultdict(list)
    for record in all_runs(runs_dir):
        by_pipeline[record.pipeline].append(record)
    doomed: list[Path] = []
    for records in by_pipeline.values():
        newest_first = list(reversed(records))
        for rank, record in enumerate(newest_first):
            too_many = keep is not None and rank >= keep
            finished = (record.folder / "run.json").stat().st_mtime
            too_old = older_than is not None and moment - finished > older_than
            if rank > 0 and (too_many or too_old):
                doomed.append(record.folder)
            else:
                report.kept += 1
    finished_folders = {record.folder for records in by_pipeline.values() for record in records}
    if older_than is not None:
        unfinished = [
            folder
            for folder in sorted(runs_dir.iterdir())
            if folder.is_dir() and folder not in finished_folders
        ]
        doomed += [
            folder
            for folder in unfinished
            if not (folder / "run.json").exists() and moment - _newest_change(folder) > older_than
        ]
    for folder in sorted(doomed):
        report.removed.append(folder.name)
        report.freed_bytes += _size(folder)
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    return report


def _newest_change(folder: Path) -> float:
    times = [folder.stat().st_mtime]
    times += [path.stat().st_mtime for path in folder.rglob("*") if path.is_file()]
    return max(times)


def _size(folder: Path) -> int:
    # Only the folder's own files: a report's links into the cache free nothing when removed.
    total = 0
    for root, _folders, names in os.walk(folder):
        for name in names:
            info = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total
