"""Results appear whole or not at all: written under a hidden temporary name, renamed at the end."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged(final: Path, *, directory: bool = False) -> Iterator[Path]:
    """A temporary sibling of ``final`` that replaces it if the block succeeds, else is removed.

    With ``directory=True`` the temporary path is created as an empty folder.
    """
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.partial")
    if directory:
        temporary.mkdir(parents=True)
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    os.replace(temporary, final)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
