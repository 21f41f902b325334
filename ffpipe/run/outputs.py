"""Placing declared outputs into the output folder, never outside it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ffpipe.errors import UserError


class OutputPathError(UserError):
    """An output name that would write outside the output folder."""


def destination(out_dir: Path, name: str, artifact: Path) -> Path:
    """Where output ``name`` goes: inside ``out_dir``, with the artifact's extension if it has none.

    Raises OutputPathError for absolute names and names that climb out of ``out_dir``.
    """
    relative = Path(name)
    if not relative.name or relative.is_absolute() or ".." in relative.parts:
        raise OutputPathError(f"output {name!r} must be a relative name inside {out_dir}")
    if not relative.suffix and artifact.suffix and not artifact.is_dir():
        relative = relative.with_suffix(artifact.suffix)
    root = out_dir.resolve()
    # The last part is replaced, not followed: only the folders it sits in must stay inside.
    target = (root / relative.parent).resolve() / relative.name
    if not target.parent.is_relative_to(root):
        raise OutputPathError(f"output {name!r} would be written outside {out_dir}")
    return target


def place(artifact: Path, target: Path) -> None:
    """Hard-link (or copy, across file systems) ``artifact`` to ``target``, replacing it whole."""
    artifact = artifact.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    if artifact.is_dir():
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(artifact, staging, copy_function=_link_or_copy)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(staging, target)
        return
    if target.is_file() and os.path.samefile(artifact, target):
        return
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    _link_or_copy(str(artifact), str(staging))
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(staging, target)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
