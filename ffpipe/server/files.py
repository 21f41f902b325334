"""Files in and out of requests: only the server's own folders are ever read.

A gradio API function receives whatever FileData a raw HTTP client sends, including
``{"path": "/etc/passwd"}``; gradio copies returned files into its cache and serves them, so an
unchecked path is an arbitrary file read. Every incoming path is resolved (symlinks included)
and must lie inside the upload folder or the output folder.

Clients often send no useful file name (gradio's JavaScript client names every upload ``blob``;
browsers and curl may send none), so the server works on a copy named by the content
(:func:`named_by_content`): the engine, and an output named after its target, see ``blob.png``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ffpipe.media import name_for, sniff_file

ARCHIVE_SUFFIX = ".zip"
ARCHIVES_FOLDER = ".archives"
"""The folder of packed outputs, inside a request's or a job's output folder. Apart from the
engine's files, so ``<key>.zip`` never collides with one (``extract_frames`` may be asked for
``output_path: output.zip``), and a file here is known to be a packed folder."""


FILE_DATA_MARK = "gradio.FileData"
"""The ``meta._type`` by which gradio tells a file from any other object in a call's data."""


class FileRejected(ValueError):
    """An incoming file reference the server will not read."""


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def incoming_path(name: str, value: Any, roots: Sequence[Path]) -> Path:
    """The local path of file parameter ``name`` given as FileData (a dict with ``path``), under
    a name that agrees with its content (see :func:`named_by_content`).

    Plain strings are refused too: a path on the caller's machine means nothing here and a path
    on this one is not the caller's to name (upload with ``gradio_client.handle_file``).
    """
    return named_by_content(allowed_path(name, value, roots))


def allowed_path(name: str, value: Any, roots: Sequence[Path]) -> Path:
    """The resolved path of file parameter ``name`` if it names a file inside ``roots``;
    :class:`FileRejected` saying why not otherwise (the rules of :func:`incoming_path`)."""
    if isinstance(value, str):
        kind = "a URL" if value.startswith(("http://", "https://")) else "a plain path"
        raise FileRejected(
            f"{name} was sent as {kind} ({value!r}); send a file: "
            f"gradio_client.handle_file(path) uploads it"
            f"{_DOWNLOAD_FIRST if kind == 'a URL' else ''}"
        )
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        raise FileRejected(f"{name} must be a file (FileData with a 'path'), got {value!r}")
    raw = value["path"]
    if raw.startswith(("http://", "https://")):
        raise FileRejected(f"{name}: the server does not fetch URLs ({raw!r}){_DOWNLOAD_FIRST}")
    path = _resolved(raw)
    if path is None or not _inside(path, [root.resolve() for root in roots]):
        raise FileRejected(
            f"{name}: {raw!r} is not a file uploaded to this server; upload it first "
            f"(gradio_client.handle_file or POST /gradio_api/upload)"
        )
    if not _is_file(path):
        raise FileRejected(f"{name}: {raw!r} does not exist on the server (expired upload?)")
    return path


_DOWNLOAD_FIRST = (
    "; download it and send the file (gradio_client.handle_file(local_path) uploads it; "
    "handle_file given a URL asks the server to fetch it)"
)


def named_by_content(path: Path) -> Path:
    """``path``, or a link to it beside it whose extension says what the file holds.

    ``blob`` holding a PNG is worked on as ``blob.png``, ``photo.jpg`` holding a PNG as
    ``photo.png``; a file of unknown content keeps its name (the engine then says what it is
    not). A different file already under the new name is left alone: the link then carries a
    digest of the content in its name.
    """
    wanted = name_for(path.name, sniff_file(path))
    if wanted == path.name:
        return path
    typed = path.with_name(wanted)
    if typed.is_file() and _same_content(typed, path):
        return typed
    if typed.exists():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        typed = path.with_name(f"{Path(wanted).stem}-{digest}{Path(wanted).suffix}")
        if typed.is_file() and _same_content(typed, path):
            return typed
    _link_or_copy(path, typed)
    return typed


def _same_content(first: Path, second: Path) -> bool:
    if os.path.samefile(first, second):
        return True
    if first.stat().st_size != second.stat().st_size:
        return False
    return first.read_bytes() == second.read_bytes()


def _link_or_copy(source: Path, target: Path) -> None:
    # Linked (or copied) under a temporary name and renamed: a concurrent request for the same
    # upload never sees a half-written file.
    partial = target.with_name(f".{target.name}.{os.getpid()}.{id(target)}.partial")
    try:
        os.link(source, partial)
    except OSError:
        shutil.copyfile(source, partial)
    os.replace(partial, target)


def pack_outputs(files: Mapping[str, Path], out_dir: Path) -> dict[str, Path]:
    """Engine outputs as single files: a directory artifact becomes ``<key>.zip`` in
    :data:`ARCHIVES_FOLDER` of ``out_dir``."""
    packed: dict[str, Path] = {}
    for key, path in files.items():
        if path.is_dir():
            archive = out_dir / ARCHIVES_FOLDER / f"{key}{ARCHIVE_SUFFIX}"
            archive.parent.mkdir(parents=True, exist_ok=True)
            _zip_tree(path, archive)
            packed[key] = archive
        else:
            packed[key] = path
    return packed


def _zip_tree(folder: Path, archive: Path) -> None:
    # Listed before the archive exists: a folder named like the archives folder (output_path
    # ".archives") would otherwise take in the half-written archive itself.
    files = sorted(path for path in folder.rglob("*") if path.is_file() and path != archive)
    # Fixed timestamps and sorted entries keep the archive identical for identical contents.
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as bundle:
        for path in files:
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                bundle.writestr(info, path.read_bytes())


def is_file_data(value: Any) -> bool:
    """Whether gradio takes ``value`` of a call's data for a file: an object with a string
    ``path`` and a ``meta`` whose ``_type`` is :data:`FILE_DATA_MARK`."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("path"), str)
        and isinstance(value.get("meta"), dict)
        and value["meta"].get("_type") == FILE_DATA_MARK
    )


def call_objects(values: Any) -> Iterator[dict[str, Any]]:
    """Every object in a call's ``values`` as gradio walks them looking for files, in order: a
    FileData (:func:`is_file_data`) is not looked into, any other object's values (its ``meta``
    too) and any list's items are."""
    pending = [values]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            yield value
            if not is_file_data(value):
                pending.extend(reversed(value.values()))
        elif isinstance(value, list | tuple):
            pending.extend(reversed(value))


def referenced_files(values: Any, roots: Sequence[Path]) -> list[Path]:
    """Every path (an object's ``path``, marked FileData or not: endpoints read both) that
    :func:`call_objects` finds in ``values`` and lies inside one of ``roots``, resolved; others
    are left out (such a request is refused, and a caller naming ``/`` must not make every
    file look in use)."""
    resolved_roots = [root.resolve() for root in roots]
    found: list[Path] = []
    for value in call_objects(values):
        path = _resolved(value.get("path"))
        if path is not None and any(root in path.parents for root in resolved_roots):
            found.append(path)
    return found


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system: no file of ours
        return False


def _resolved(value: Any) -> Path | None:
    if not isinstance(value, str):
        return None
    try:
        return Path(value).resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a loop of links: no file of ours
        return None
