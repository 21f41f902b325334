"""Files in and out of requests: only the server's own folders are ever read.

A gradio API function receives whatever FileData a raw HTTP client sends, including
``{"path": "/etc/passwd"}``; gradio copies returned files into its cache and serves them, so an
unchecked path is an arbitrary file read. Every incoming path is resolved (symlinks included)
and must lie inside the upload folder or the output folder.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ARCHIVE_SUFFIX = ".zip"


class FileRejected(ValueError):
    """An incoming file reference the server will not read."""


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def incoming_path(name: str, value: Any, roots: Sequence[Path]) -> Path:
    """The local path of file parameter ``name`` given as FileData (a dict with ``path``).

    Plain strings are refused too: a path on the caller's machine means nothing here and a path
    on this one is not the caller's to name (upload with ``gradio_client.handle_file``).
    """
    if isinstance(value, str):
        kind = "a URL" if value.startswith(("http://", "https://")) else "a plain path"
        raise FileRejected(
            f"{name} was sent as {kind} ({value!r}); send a file: "
            f"gradio_client.handle_file(path) uploads it (URLs are fetched by the client)"
        )
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        raise FileRejected(f"{name} must be a file (FileData with a 'path'), got {value!r}")
    raw = value["path"]
    if raw.startswith(("http://", "https://")):
        raise FileRejected(f"{name}: the server does not fetch URLs; upload the file instead")
    resolved_roots = [root.resolve() for root in roots]
    path = Path(raw).resolve()
    if not _inside(path, resolved_roots):
        raise FileRejected(
            f"{name}: {raw!r} is not a file uploaded to this server; upload it first "
            f"(gradio_client.handle_file or POST /gradio_api/upload)"
        )
    if not path.is_file():
        raise FileRejected(f"{name}: {raw!r} does not exist on the server (expired upload?)")
    return path


def pack_outputs(files: Mapping[str, Path], out_dir: Path) -> dict[str, Path]:
    """Engine outputs as single files: a directory artifact becomes ``<key>.zip`` beside it."""
    packed: dict[str, Path] = {}
    for key, path in files.items():
        if path.is_dir():
            out_dir.mkdir(parents=True, exist_ok=True)
            archive = out_dir / f"{key}{ARCHIVE_SUFFIX}"
            _zip_tree(path, archive)
            packed[key] = archive
        else:
            packed[key] = path
    return packed


def _zip_tree(folder: Path, archive: Path) -> None:
    # Fixed timestamps and sorted entries keep the archive identical for identical contents.
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                bundle.writestr(info, path.read_bytes())
