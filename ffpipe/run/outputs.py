"""Placing declared outputs into the output folder, never outside it, as copies of their own."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
from pathlib import Path

from ffpipe.cache import leftovers
from ffpipe.errors import UserError
from ffpipe.media import name_for, sniff_file, type_of_name

_FICLONE = 0x40049409
"""Linux ioctl that makes a file share another's blocks copy-on-write (btrfs, XFS, ...)."""
_COMPARE_CHUNK = 1 << 20


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


def place(artifact: Path, target: Path) -> bool:
    """Copy ``artifact`` (a file or folder) to ``target``, replacing it whole; True if written.

    The copy is a reflink where the file system can share blocks copy-on-write, else a plain
    copy; never a hard link, so editing an output can never change the cached object behind it.
    A target that already holds the same bytes (and is not a hard link to the artifact) is left
    alone; one edited since it was placed is restored. Interrupted (Ctrl-C, a full disk), it
    leaves ``target`` as it was and no partial copy.
    A file placed under another extension than its own whose content disagrees with it (JPEG
    bytes for ``x.png``) is refused: pipeline validation catches what it can foresee, this the rest.
    """
    if not artifact.is_dir():
        _check_content(artifact, target)
    artifact = artifact.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    leftovers.sweep(target.parent, _staging_name(target.name))
    if _same_content(artifact, target):
        return False
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove(staging)
    try:
        if artifact.is_dir():
            shutil.copytree(artifact, staging, copy_function=_clone_or_copy)
        else:
            _clone_or_copy(str(artifact), str(staging))
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif artifact.is_dir() and target.exists():
            target.unlink()
        os.replace(staging, target)
    except BaseException:
        _remove(staging)
        raise
    return True


def _staging_name(name: str) -> re.Pattern[str]:
    """Names :func:`place` gives its partial copies of ``name``: ``.<name>.<writer pid>.tmp``."""
    return re.compile(rf"\.{re.escape(name)}\.(?P<pid>\d+)\.tmp")


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


def _same_content(artifact: Path, target: Path) -> bool:
    """Whether ``target`` is a separate copy holding exactly ``artifact``'s files and bytes."""
    if target.is_symlink():
        return False
    if not artifact.is_dir():
        return _same_file_content(artifact, target)
    if not target.is_dir():
        return False
    wanted = _relative_files(artifact)
    if wanted != _relative_files(target):
        return False
    return all(_same_file_content(artifact / name, target / name) for name in wanted)


def _relative_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir()}


def _same_file_content(source: Path, target: Path) -> bool:
    try:
        placed = target.lstat()
        if not stat.S_ISREG(placed.st_mode) or placed.st_nlink != 1:
            return False  # several names: it may be an alias of a cache object
        if placed.st_size != source.stat().st_size:
            return False
        with source.open("rb") as left, target.open("rb") as right:
            while True:
                chunk = left.read(_COMPARE_CHUNK)
                if chunk != right.read(_COMPARE_CHUNK):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def _clone_or_copy(source: str, target: str) -> None:
    """A copy-on-write clone of ``source`` at ``target`` where supported, else a byte copy.

    The result is an ordinary file of its own: writable by its owner, one link.
    """
    try:
        with open(source, "rb") as reader, open(target, "wb") as writer:
            fcntl.ioctl(writer.fileno(), _FICLONE, reader.fileno())
        return
    except OSError:
        pass  # not supported here (another file system, ext4, tmpfs): copy the bytes
    shutil.copyfile(source, target)
