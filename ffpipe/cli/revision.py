"""A pipeline file against its committed version: both loaded, their steps and values compared.

The committed text is written beside the file under a hidden name for the load (relative inputs
and globs then resolve as they did), and removed afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from ffpipe.errors import UserError

GIT_TIMEOUT = 10.0


def committed_text(path: Path, revision: str) -> str:
    """The text of ``path`` at git ``revision``; a user error when git cannot say."""
    folder = path.resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "show", f"{revision}:./{path.name}"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise UserError(f"cannot ask git about {path}: {error}") from None
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git failed"
        raise UserError(f"{path} at {revision}: {reason}")
    return done.stdout


def compare_with_revision(path: Path, revision: str) -> dict[str, Any]:
    """``{"params": [...], "added": [...], "removed": [...], "changed": {node: [...]}}``."""
    from ffpipe.pipeline import load_pipeline

    if not path.is_file():
        raise UserError(f"{path} is not a pipeline file")
    text = committed_text(path, revision)
    old_copy = path.with_name(f".{path.stem}.at-{os.getpid()}{path.suffix}")
    old_copy.write_text(text, encoding="utf-8")
    try:
        old = load_pipeline(old_copy)
    finally:
        old_copy.unlink(missing_ok=True)
    new = load_pipeline(path)
    return {
        "params": _changes(dict(old.params), dict(new.params)),
        "added": [node for node in new.instances if node not in old.instances],
        "removed": [node for node in old.instances if node not in new.instances],
        "changed": {
            node: lines
            for node in new.instances
            if node in old.instances
            and (lines := _step_changes(old.instances[node], new.instances[node]))
        },
    }


def _step_changes(old: Any, new: Any) -> list[str]:
    from ffpipe.run.records import written_values

    lines = [f"op: {old.op} -> {new.op}"] if old.op != new.op else []
    return lines + _changes(written_values(old), written_values(new))


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name) or (name in old) != (name in new):
            lines.append(f"{name}: {_shown(old, name)} -> {_shown(new, name)}")
    return lines


def _shown(values: dict[str, Any], name: str) -> str:
    if name not in values:
        return "(unset)"
    value = values[name]
    if isinstance(value, str) and os.path.isabs(value):
        return Path(value).name  # an input file, resolved by the loader
    return value if isinstance(value, str) else json.dumps(value)
