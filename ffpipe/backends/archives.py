"""Folder outputs a server sends as zip archives, unpacked safely on the runner's side."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from ffpipe.backends.base import BackendError


def unpack(archive: Path, folder: Path) -> Path:
    """Extract a directory artifact the server sent zipped, refusing entries that escape."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            target = (folder / member.filename).resolve()
            if root not in target.parents:
                raise BackendError(
                    f"the server sent an archive entry escaping its folder: {member.filename!r}"
                )
            if member.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
    return folder
