"""The workspace folder (``.ffpipe/``): objects, stat table, step entries, run records, locks.

Opening one is cheap: nothing is hashed or scanned, and each part is opened on first use.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from ffpipe.cache.errors import CacheMiss, CorruptObject, NotAWorkspace, WorkspaceBusy
from ffpipe.cache.objects import ObjectStore, is_tree
from ffpipe.cache.stats import StatTable
from ffpipe.cache.steps import StepStore

DEFAULT_ROOT = Path(".ffpipe")
WORKSPACE_LOCK = "workspace"
"""Runs hold it shared; gc and verify take it exclusive, so they never delete what a run uses."""

_POLL_SECONDS = 0.05


class Workspace:
    """The cache of one project; several processes may use it at once."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise NotAWorkspace(f"the workspace {self.root} is not a folder")

    @cached_property
    def objects(self) -> ObjectStore:
        """Content-addressed artifacts (``root/objects``)."""
        return ObjectStore(self.root / "objects")

    @cached_property
    def stats(self) -> StatTable:
        """Digests of local input files (``root/state.db``)."""
        return StatTable(self.root / "state.db")

    @cached_property
    def steps(self) -> StepStore:
        """Step entries by key (``root/steps.db``)."""
        return StepStore(self.root / "steps.db")

    @cached_property
    def runs_dir(self) -> Path:
        """Where run records go, one folder per run (``root/runs``)."""
        return _folder(self.root / "runs")

    @property
    def names_dir(self) -> Path:
        """Named views of objects, ``root/names/<hex>/<file name>`` (symbolic links), so that
        engines and outputs see a file's extension; gc drops those of removed objects."""
        return self.root / "names"

    @cached_property
    def tmp_dir(self) -> Path:
        """Scratch space on the same filesystem as the objects, so finished files rename in."""
        return _folder(self.root / "tmp")

    def intact(self, digest: str) -> bool:
        """Whether an artifact's stored bytes still match its digest; False when missing.

        Checked through the stat table, so an object unchanged since it was last hashed costs a
        ``stat``. Objects are read-only, but one edited anyway (through a hard link an older
        ffpipe placed in ``out/``, say) is moved to quarantine, and a tree holding it is dropped,
        so the step that made it runs again instead of feeding the edited bytes downstream.
        """
        for blob in sorted(self.objects.blobs_of(digest)):
            if not self._blob_intact(blob):
                if is_tree(digest):
                    self.objects.remove(digest)
                return False
        return self.objects.has(digest)

    def _blob_intact(self, blob: str) -> bool:
        try:
            path = self.objects.path(blob)
            if self.stats.digest(path) == blob:
                return True
            self.stats.forget(path)
            self.objects.path(blob, verify=True)  # hashes again; quarantines a corrupt object
        except (CacheMiss, CorruptObject, FileNotFoundError):
            return False
        return True  # it was being replaced while read, and holds the right bytes now

    @contextmanager
    def lock(
        self, name: str = WORKSPACE_LOCK, *, shared: bool = False, timeout: float | None = None
    ) -> Iterator[None]:
        """Hold the advisory lock ``name`` (``root/locks/<name>.lock``) for the ``with`` block.

        ``shared`` locks coexist with each other but not with an exclusive one. Waits for as
        long as it takes, or raises :class:`WorkspaceBusy` after ``timeout`` seconds.
        """
        path = _folder(self.root / "locks") / f"{name}.lock"
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(descriptor, shared=shared, timeout=timeout, what=f"{self.root} ({name})")
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)

    def close(self) -> None:
        """Close the databases that were opened."""
        for part in ("stats", "steps"):
            opened = self.__dict__.pop(part, None)
            if opened is not None:
                opened.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _acquire(descriptor: int, *, shared: bool, timeout: float | None, what: str) -> None:
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    if timeout is None:
        fcntl.flock(descriptor, mode)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WorkspaceBusy(
                    f"the workspace {what} is in use by another ffpipe process; "
                    "try again when it has finished"
                ) from None
            time.sleep(_POLL_SECONDS)


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
