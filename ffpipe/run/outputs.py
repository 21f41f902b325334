"""Placing declared outputs into the output folder, never outside it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ffpipe.errors import UserError
from ffpipe.media import name_for, sniff_file, type_of_name


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
    """Hard-link (or copy, across file systems) ``artifact`` to ``target``, replacing it whole.

    Interrupted (Ctrl-C, a full disk), it leaves ``target`` as it was and no partial copy. A
    file placed under another extension than its own whose content disagrees with it (JPEG bytes
    for ``x.png``) is refused: pipeline validation catches what it can foresee, this the rest.
    """
    if not artifact.is_dir():
        _check_content(artifact, target)
    artifact = artifact.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not artifact.is_dir() and target.is_file() and os.path.samefile(artifact, target):
        return
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove(staging)
    try:
        if artifact.is_dir():
            shutil.copytree(artifact, staging, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(artifact), str(staging))
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif artifact.is_dir() and target.exists():
            target.unlink()
        os.replace(staging, target)
    except BaseException:
        _remove(staging)
        raise


def _check_content(artifact: Path, target: Path) -> None:
    if target.suffix.lower() == artifact.suffix.lower():
        return  # the artifact's own extension: its name is the engine's word
    named, held = type_of_name(target.name), sniff_file(artifact)
    if named is not None and held is not None and named != held:
        raise OutputPathError(
            f"output {target.name!r} is named as {named.name} but the step wrote {held.name}; "
            f"name the output {name_for(target.name, held)!r} or set the step's output_path"
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
