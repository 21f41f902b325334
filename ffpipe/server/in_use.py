"""Files that synchronous requests still need, so retention leaves them alone.

A request sent to a gradio endpoint, the UI or ``/api/predict`` reads its upload and writes its
output folder while it runs, and it may wait for a worker first; both can outlast retention's
grace period. The server keeps one :class:`InUse` registry: a request claims its paths when it
is accepted and releases them when it ends, however it ends (:meth:`InUse.claim`); a queue the
server does not run itself (gradio's) is asked what it holds (:meth:`InUse.watch`). The sweeper
removes an entry only through :meth:`InUse.unless_in_use`, under the same lock as every claim, so
a path claimed after the sweep listed its entries is still never removed.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

PathSource = Callable[[], Iterable[Path]]
"""Lists paths in use right now (read under the registry's lock, so it must be quick)."""


def _absolute(path: Path) -> Path:
    # The parent is resolved and not the path itself: a claimed or swept symlink is compared as
    # the link, while a relative data folder or a symlinked parent compare equal to gradio's
    # resolved upload paths.
    path = Path(os.path.abspath(path))
    return path.parent.resolve() / path.name


def _overlap(first: Path, second: Path) -> bool:
    return first == second or first.is_relative_to(second) or second.is_relative_to(first)


class Claim:
    """The paths one request holds; more may be added while it runs (its output folder)."""

    def __init__(self, registry: InUse) -> None:
        self._registry = registry
        self._paths: list[Path] = []

    def add(self, path: Path) -> None:
        """Hold ``path`` (a file or a folder, existing or not yet) until the claim ends."""
        absolute = _absolute(path)
        self._registry._hold(absolute)
        self._paths.append(absolute)

    def release(self) -> None:
        """Let go of every path of this claim (a path another claim holds too stays held)."""
        self._registry._let_go(self._paths)
        self._paths = []


class InUse:
    """The paths in-flight synchronous requests hold, shared by the requests and the sweeper."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._claimed: Counter[Path] = Counter()
        self._sources: list[PathSource] = []

    def _hold(self, path: Path) -> None:
        with self._lock:
            self._claimed[path] += 1

    def _let_go(self, paths: Iterable[Path]) -> None:
        with self._lock:
            for path in paths:
                self._claimed[path] -= 1
                if self._claimed[path] <= 0:
                    del self._claimed[path]

    @contextmanager
    def claim(self, *paths: Path) -> Iterator[Claim]:
        """Hold ``paths`` (and whatever is added to the claim) until the block ends."""
        claim = Claim(self)
        try:
            for path in paths:
                claim.add(path)
            yield claim
        finally:
            claim.release()

    def watch(self, source: PathSource) -> None:
        """Count what ``source`` lists as in use too, at every check from now on."""
        with self._lock:
            self._sources.append(source)

    def holds(self, path: Path) -> bool:
        """Whether ``path`` contains, or lies in, or is a path in use."""
        absolute = _absolute(path)
        with self._lock:
            held = list(self._claimed)
            for source in self._sources:
                held += (_absolute(found) for found in source())
            return any(_overlap(absolute, other) for other in held)

    @contextmanager
    def unless_in_use(self, path: Path) -> Iterator[bool]:
        """True when nothing holds ``path``; no claim can start until the block ends, so a
        caller removes it inside the block (keep that quick: requests wait for the lock)."""
        with self._lock:
            yield not self.holds(path)
