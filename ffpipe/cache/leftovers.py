"""Finding and removing the temporary files a killed ffpipe process (kill -9) left behind.

Every temporary file ffpipe writes is named with its writer's process id: one whose writer is
gone is garbage; one older than a grace period is too (the process id may have been reused).
Only names of ffpipe's own making are touched, never anything else in the folder.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

GRACE_SECONDS = 24 * 3600
"""Age past which a temporary file is stale even if a process with its writer's id runs."""


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(folder: Path, pattern: re.Pattern[str], grace: float = GRACE_SECONDS) -> list[Path]:
    """Remove entries of ``folder`` whose whole name matches ``pattern`` and that are stale.

    ``pattern`` may capture the writer's process id in a group named ``pid``; a name without
    one is stale only by age. Returns what was removed.
    """
    removed = []
    cutoff = time.time() - grace
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not _stale(entry, match, cutoff):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
        removed.append(Path(entry.path))
    return removed


def _stale(entry: os.DirEntry[str], match: re.Match[str], cutoff: float) -> bool:
    pid = match.groupdict().get("pid")
    if pid is not None and int(pid) != os.getpid() and not process_alive(int(pid)):
        return True
    try:
        return entry.stat(follow_symlinks=False).st_mtime < cutoff
    except FileNotFoundError:
        return False
