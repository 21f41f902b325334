"""Files named in a pipeline: paths relative to the pipeline's folder, globs and URLs."""

from __future__ import annotations

import glob
import itertools
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ffpipe.project import find_project

_GLOB_CHARS = ("*", "?", "[")
MAX_GLOB_MATCHES = 10_000
ALLOW_OUTSIDE_FLAG = "--allow-outside-files"


def is_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL (kept as it is; the runner downloads it)."""
    return value.startswith(("http://", "https://"))


def is_glob(value: str) -> bool:
    """Whether ``value`` is a glob pattern rather than one path."""
    return not is_url(value) and any(char in value for char in _GLOB_CHARS)


class MissingFile(Exception):
    """A named local file that does not exist; the message is for the user."""


class OutsideScope(MissingFile):
    """A local file or glob outside the folders a pipeline may read without a flag."""


@dataclass(frozen=True)
class FileScope:
    """Where a pipeline reads local files: relative to ``base``, and only inside its scope.

    The scope is the pipeline's folder, its project (:mod:`ffpipe.project`: the folder holding
    ``ffpipe.toml``) and, when that folder is in a git work tree, the whole work tree (so
    ``../../media/photo.jpg`` from ``pipelines/examples/`` works in a repository or a project).
    Anything else, ``/etc/passwd`` or ``/**/*``, needs ``allow_outside`` (the command line's
    ``--allow-outside-files``): a pipeline file from elsewhere cannot read, and so upload,
    whatever it likes.
    """

    base: Path
    allow_outside: bool = False

    @cached_property
    def roots(self) -> tuple[Path, ...]:
        folder = Path(os.path.realpath(self.base))
        found = [folder, find_project(folder).root]
        found += [c for c in (folder, *folder.parents) if (c / ".git").exists()][:1]
        return tuple(dict.fromkeys(found))

    def check(self, value: str, path: str) -> None:
        """Raise :class:`OutsideScope` when ``path`` (what ``value`` names) is outside."""
        if self.allow_outside:
            return
        real = Path(os.path.realpath(path))
        if not any(real.is_relative_to(root) for root in self.roots):
            raise OutsideScope(
                f"{value!r} is outside the pipeline's folder"
                f"{' and its project' if len(self.roots) > 1 else ''} ({real}); "
                f"pass {ALLOW_OUTSIDE_FLAG} to read files from anywhere"
            )


def resolve_file(value: str, base: Path | FileScope) -> str:
    """An absolute path for a local ``value`` (relative to the scope's base) that must exist and
    be inside the scope; URLs pass."""
    if is_url(value):
        return value
    scope = base if isinstance(base, FileScope) else FileScope(base, allow_outside=True)
    path = Path(os.path.expanduser(value))
    resolved = path if path.is_absolute() else scope.base / path
    resolved = Path(os.path.normpath(resolved))
    scope.check(value, str(resolved))
    if not resolved.is_file():
        what = "is not a file" if resolved.exists() else "does not exist"
        raise MissingFile(f"{value!r} {what} (looked for {resolved})")
    return str(resolved)


def expand_glob(pattern: str, base: Path | FileScope) -> list[str]:
    """The files matching ``pattern`` (relative to the scope's base), sorted; none is an error.

    The folder the pattern starts from must be inside the scope (checked before anything is
    read), and so must every match; more than :data:`MAX_GLOB_MATCHES` matches is an error.
    """
    scope = base if isinstance(base, FileScope) else FileScope(base, allow_outside=True)
    expanded = os.path.expanduser(pattern)
    full = os.path.normpath(expanded if os.path.isabs(expanded) else scope.base / expanded)
    scope.check(pattern, _literal_prefix(full))
    found = itertools.islice(glob.iglob(full, recursive=True), MAX_GLOB_MATCHES + 1)
    matches = sorted(os.path.normpath(match) for match in found if os.path.isfile(match))
    if len(matches) > MAX_GLOB_MATCHES:
        raise MissingFile(f"the glob {pattern!r} matches more than {MAX_GLOB_MATCHES} files")
    for match in matches:
        scope.check(pattern, match)
    if not matches:
        raise MissingFile(f"the glob {pattern!r} matches no files (looked in {scope.base})")
    return matches


def _literal_prefix(pattern: str) -> str:
    """The folder a glob starts walking from: its parts before the first wildcard."""
    parts = Path(pattern).parts
    literal = list(itertools.takewhile(lambda part: not is_glob(part), parts))
    return str(Path(*literal)) if literal else os.sep
