"""Files named in a pipeline: paths relative to the pipeline's folder, globs and URLs."""

from __future__ import annotations

import fnmatch
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ffpipe.project import find_project

_GLOB_CHARS = ("*", "?", "[")
MAX_GLOB_MATCHES = 10_000
MAX_GLOB_VISITS = 50_000
"""Folder entries one glob may look at: a bound on the walk however the tree is linked."""
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
    start = _literal_prefix(full)
    rest = Path(full).parts[len(Path(start).parts) :]
    walk = _GlobWalk(scope, pattern)
    found = itertools.islice(walk.matches(start, rest), MAX_GLOB_MATCHES + 1)
    matches = sorted(os.path.normpath(match) for match in found)
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


class _GlobWalk:
    """Matches a glob's parts folder by folder, as :func:`glob.glob` would (``*`` and ``**`` skip
    hidden names), but following a folder link only when it stays in the scope and does not lead
    back to a folder already on the way (``link -> ..``), and looking at no more than
    :data:`MAX_GLOB_VISITS` entries in all."""

    def __init__(self, scope: FileScope, pattern: str) -> None:
        self.scope = scope
        self.pattern = pattern
        self.visits = 0

    def matches(self, folder: str, parts: tuple[str, ...]) -> Iterator[str]:
        real = os.path.realpath(folder)
        yield from self._match(folder, parts, (real,))

    def _match(self, folder: str, parts: tuple[str, ...], seen: tuple[str, ...]) -> Iterator[str]:
        if not parts:
            return
        part, rest = parts[0], parts[1:]
        if part == "**":
            yield from self._match(folder, rest, seen)
            for path, real in self._folders(folder, seen, hidden=False):
                yield from self._match(path, parts, (*seen, real))
            return
        if not is_glob(part):
            path = os.path.join(folder, part)
            yield from self._step(path, rest, seen)
            return
        for name in self._names(folder):
            if fnmatch.fnmatchcase(name, part) and (
                part.startswith(".") or not name.startswith(".")
            ):
                yield from self._step(os.path.join(folder, name), rest, seen)

    def _step(self, path: str, rest: tuple[str, ...], seen: tuple[str, ...]) -> Iterator[str]:
        if not rest:
            if os.path.isfile(path):
                yield path
            return
        if os.path.isdir(path):
            real = self._enterable(path, seen)
            if real is not None:
                yield from self._match(path, rest, (*seen, real))

    def _names(self, folder: str) -> list[str]:
        try:
            with os.scandir(folder) as entries:
                names = []
                for entry in entries:
                    self.visits += 1
                    if self.visits > MAX_GLOB_VISITS:
                        raise MissingFile(
                            f"the glob {self.pattern!r} looks at more than {MAX_GLOB_VISITS}"
                            " folder entries; name a narrower folder"
                        )
                    names.append(entry.name)
                return sorted(names)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return []

    def _folders(
        self, folder: str, seen: tuple[str, ...], hidden: bool
    ) -> Iterator[tuple[str, str]]:
        for name in self._names(folder):
            if name.startswith(".") and not hidden:
                continue
            path = os.path.join(folder, name)
            if os.path.isdir(path):
                real = self._enterable(path, seen)
                if real is not None:
                    yield path, real

    def _enterable(self, path: str, seen: tuple[str, ...]) -> str | None:
        """The real folder behind ``path``, or None for a link out of the scope or into a
        folder already on the way (a cycle)."""
        link = os.path.islink(path)
        # Only a link moves elsewhere: below a real folder a plain folder's real path is known.
        real = os.path.realpath(path) if link else os.path.join(seen[-1], os.path.basename(path))
        if real in seen:
            return None
        outside = not any(Path(real).is_relative_to(root) for root in self.scope.roots)
        if outside and link and not self.scope.allow_outside:
            return None
        return real
