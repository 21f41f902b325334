"""Folder outputs a server sends as zip archives, unpacked safely on the runner's side."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from ffpipe.backends.base import BackendError

MAX_UNPACKED_BYTES = 16 * 1000**3
"""Most bytes an archive from a server may unpack to (its members' declared sizes, which
zipfile never reads past): a zip bomb is refused before anything is written."""
MAX_MEMBERS = 200_000


def unpack(archive: Path, folder: Path, max_bytes: int = MAX_UNPACKED_BYTES) -> Path:
    """Extract a directory artifact the server sent zipped, refusing entries that escape and
    archives that would unpack to more than ``max_bytes`` or :data:`MAX_MEMBERS` files."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        declared = sum(member.file_size for member in members)
        if declared > max_bytes or len(members) > MAX_MEMBERS:
            raise BackendError(
                f"the server sent an archive of {len(members)} files unpacking to {declared}"
                f" bytes, over the limit of {MAX_MEMBERS} files and {max_bytes} bytes"
            )
        for member in members:
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
