"""The shape a tree manifest must have before anything uses it.

A manifest is ``{relative path: blob digest}``. One fetched from a remote cache is written by
whoever can write there, so it is checked as a whole when read: a JSON object, every member a
``sha256:`` digest, every path a plain relative one (no ``..``, no absolute or empty parts, no
backslashes or NULs), and no path that is also the folder of another (``a`` beside ``a/b``).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import StringConstraints, TypeAdapter, ValidationError

Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
_MANIFEST = TypeAdapter(dict[str, Digest])


class BadManifest(ValueError):
    """A manifest that does not have the required shape; the message says what is wrong."""


def parse_manifest(data: bytes) -> dict[str, str]:
    """The manifest in ``data``, checked; raises :class:`BadManifest`."""
    try:
        manifest = _MANIFEST.validate_python(json.loads(data))
    except ValueError as error:  # JSONDecodeError and pydantic's ValidationError
        raise BadManifest(_first_problem(error)) from None
    for name in manifest:
        check_relative_name(name)
    folders = {str(parent) for name in manifest for parent in PurePosixPath(name).parents}
    clashes = sorted(set(manifest) & folders)
    if clashes:
        raise BadManifest(f"{clashes[0]!r} is both a file and a folder of other members")
    return manifest


def check_relative_name(name: str) -> str:
    """``name`` when it is a plain relative path; raises :class:`BadManifest`."""
    path = PurePosixPath(name)
    unsafe = (
        not name
        or "\\" in name
        or "\0" in name
        or path.is_absolute()
        or path.as_posix() != name
        or any(part in {"", ".", ".."} for part in name.split("/"))
    )
    if unsafe:
        raise BadManifest(f"unsafe member path {name!r}")
    return name


def _first_problem(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the manifest"
        return f"{where}: {first['msg']}"
    return f"not JSON: {error}"
