"""Files named in a pipeline: paths relative to the pipeline's folder, globs and URLs."""

from __future__ import annotations

import glob
import os
from pathlib import Path

_GLOB_CHARS = ("*", "?", "[")


def is_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL (kept as it is; the runner downloads it)."""
    return value.startswith(("http://", "https://"))


def is_glob(value: str) -> bool:
    """Whether ``value`` is a glob pattern rather than one path."""
    return not is_url(value) and any(char in value for char in _GLOB_CHARS)


class MissingFile(Exception):
    """A named local file that does not exist; the message is for the user."""


def resolve_file(value: str, base: Path) -> str:
    """An absolute path for a local ``value`` (relative to ``base``) that must exist; URLs pass."""
    if is_url(value):
        return value
    path = Path(os.path.expanduser(value))
    resolved = path if path.is_absolute() else base / path
    resolved = Path(os.path.normpath(resolved))
    if not resolved.is_file():
        what = "is not a file" if resolved.exists() else "does not exist"
        raise MissingFile(f"{value!r} {what} (looked for {resolved})")
    return str(resolved)


def expand_glob(pattern: str, base: Path) -> list[str]:
    """The files matching ``pattern`` (relative to ``base``), sorted; none is an error."""
    full = pattern if os.path.isabs(pattern) else str(base / pattern)
    matches = sorted(
        os.path.normpath(match)
        for match in glob.glob(full, recursive=True)
        if os.path.isfile(match)
    )
    if not matches:
        raise MissingFile(f"the glob {pattern!r} matches no files (looked in {base})")
    return matches
