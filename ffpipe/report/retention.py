"""Retention of run records and their reports (``runs/<id>/``): keep the newest, drop the old.

Reports link to cache objects rather than copying them, but a run folder still holds its record,
thumbnails and any file the cache no longer had; without retention ``runs/`` only grows.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ffpipe.report.runs import finished_runs


@dataclass
class RunsGcReport:
    """What a collection of run folders removed (or would remove)."""

    removed: list[str] = field(default_factory=list)
    """Run ids, oldest first."""
    freed_bytes: int = 0
    """Bytes only those folders held (files linked from the cache free nothing)."""
    remaining: int = 0


def collect_runs(
    runs_dir: Path,
    *,
    keep_last: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
) -> RunsGcReport:
    """Remove run folders beyond the ``keep_last`` newest and those finished more than
    ``older_than`` seconds ago (either rule alone, or both); ``dry_run`` removes nothing."""
    report = RunsGcReport()
    runs = finished_runs(runs_dir)
    cutoff = None if older_than is None else time.time() - older_than
    doomed = []
    for index, folder in enumerate(runs):
        newer = len(runs) - index - 1
        too_many = keep_last is not None and newer >= keep_last
        too_old = cutoff is not None and (folder / "run.json").stat().st_mtime < cutoff
        if too_many or too_old:
            doomed.append(folder)
    for folder in doomed:
        report.removed.append(folder.name)
        report.freed_bytes += _own_bytes(folder)
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    report.remaining = len(runs) - len(doomed)
    return report


def _own_bytes(folder: Path) -> int:
    total = 0
    for root, _folders, names in os.walk(folder):
        for name in names:
            info = os.lstat(os.path.join(root, name))
            if info.st_nlink == 1:
                total += info.st_size
    return total
