"""Where a run's pipeline stood in git: the commit checked out and whether the tree was edited.

Recorded in every run record so ``ffpipe runs`` can say which commit a render came from. A
pipeline outside a git work tree (or a machine without git) records nothing, not an error.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT = 5.0
"""Seconds git may take to answer; a hung git must not hold up a run."""


def git_state(folder: Path) -> dict[str, object] | None:
    """``{"commit": sha, "dirty": bool}`` of the work tree holding ``folder``, else None.

    Dirty means a tracked file differs from the commit (untracked files do not count: a new
    render in ``out/`` would make every run dirty).
    """
    commit = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
    if not commit:
        return None
    changes = _git(folder, "status", "--porcelain", "--untracked-files=no")
    if changes is None:
        return None
    return {"commit": commit, "dirty": bool(changes)}


def _git(folder: Path, *arguments: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *arguments],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
