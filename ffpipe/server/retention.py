"""What the server keeps, and for how long: uploads, per-request outputs and finished jobs.

Every request leaves an upload copy (``uploads/``) and an output folder (``outputs/<id>/``), and
every job its row and files; without a limit a busy server fills its disk. A sweep at start-up
and then every few minutes removes, oldest first, whatever is older than the age limit, and then
more until what is left fits the size limit. Nothing younger than :data:`GRACE_SECONDS` is ever
removed (a request may still be reading it), nor any job still queued or processing, nor the
staged inputs such a job will read, nor whatever a synchronous request waiting or running holds
(:mod:`ffpipe.server.in_use`): such files count towards the size limit but stay.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ffpipe.server.in_use import InUse
from ffpipe.server.jobs.settings import INPUTS_FOLDER, OUTPUTS_FOLDER
from ffpipe.server.jobs.store import JobStore
from ffpipe.units import (
    DURATION_EXAMPLES,
    SIZE_EXAMPLES,
    UnitError,
    is_plain_number,
    parse_duration,
    parse_size,
)

LOG = logging.getLogger("ffpipe.server")
DEFAULT_RETENTION = "7d,20GB"
GRACE_SECONDS = 600.0
SWEEP_INTERVAL_SECONDS = 300.0
REMOVING_PREFIX = ".removing-"
"""An entry is renamed to this plus a random suffix, in its own folder (so never across file
systems), in one quick step under the in-use lock, then deleted outside it."""


class RetentionError(UnitError):
    """A ``--retention`` value that cannot be read."""


@dataclass(frozen=True)
class Retention:
    """Keep things at most ``max_age_seconds``, and all of them within ``max_bytes``."""

    max_age_seconds: float | None
    max_bytes: int | None

    @classmethod
    def parse(cls, text: str) -> Retention:
        """An age, a size, both separated by a comma (``7d``, ``20GB``, ``1w,2GiB``), or
        ``off`` (keep everything); ages and sizes as :mod:`ffpipe.units` reads them."""
        if text.strip().lower() == "off":
            return cls(None, None)
        age: float | None = None
        size: int | None = None
        for part in (piece.strip() for piece in text.split(",")):
            if age is None and (found := _unit_value(part, parse_duration)) is not None:
                age = float(found)
            elif size is None and (found := _unit_value(part, parse_size)) is not None:
                size = int(found)
            else:
                raise RetentionError(
                    f"cannot read retention {text!r}: give an age ({DURATION_EXAMPLES}), a size"
                    f" ({SIZE_EXAMPLES}), both separated by a comma, or 'off'"
                )
        return cls(age, size)

    def describe(self) -> str:
        if self.max_age_seconds is None and self.max_bytes is None:
            return "kept forever"
        parts = []
        if self.max_age_seconds is not None:
            parts.append(f"{self.max_age_seconds / 3600:g} h")
        if self.max_bytes is not None:
            parts.append(f"{self.max_bytes / 1e9:g} GB")
        return "kept up to " + " and ".join(parts)


def _unit_value(part: str, parse: Callable[[str], float]) -> float | None:
    """``part`` read by ``parse``; None when it cannot, or is a bare number (bytes or seconds?)."""
    if is_plain_number(part):
        return None
    try:
        return parse(part)
    except UnitError:
        return None


@dataclass
class Removed:
    """What one sweep removed."""

    uploads: int = 0
    outputs: int = 0
    jobs: int = 0
    bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.uploads or self.outputs or self.jobs)

    def describe(self) -> str:
        return (
            f"removed {self.uploads} upload(s), {self.outputs} output folder(s) and"
            f" {self.jobs} finished job(s), {self.bytes / 1e6:.1f} MB"
        )


@dataclass(frozen=True)
class _Entry:
    kind: str
    path: Path
    time: float
    size: int
    job_key: str | None = None


def _measure(path: Path) -> tuple[float, int]:
    """When ``path`` last changed and its size in bytes, in one walk. It changed when its newest
    part did: gradio hands out a file it holds already by touching it in an old folder."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return time.time(), 0
    if not stat.S_ISDIR(found.st_mode):
        return found.st_mtime, found.st_size
    newest, total = found.st_mtime, 0
    for folder, subfolders, names in os.walk(path):
        for name in subfolders + names:
            try:
                part = os.lstat(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            newest = max(newest, part.st_mtime)
            if not stat.S_ISDIR(part.st_mode):
                total += part.st_size
    return newest, total


def _children(folder: Path) -> Iterator[Path]:
    try:
        yield from (path for path in folder.iterdir() if not _set_aside_already(path))
    except FileNotFoundError:
        return


def _set_aside_already(path: Path) -> bool:
    return path.name.startswith(REMOVING_PREFIX)


def _set_aside(path: Path) -> Path | None:
    """``path`` renamed beside itself to a name starting with :data:`REMOVING_PREFIX`; None when
    it is gone already. Raises :class:`OSError` when it cannot be renamed."""
    aside = path.with_name(f"{REMOVING_PREFIX}{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return None
    return aside


def _delete(path: Path) -> None:
    """Delete ``path``; what cannot be deleted is logged, and stays for the next sweep."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except FileNotFoundError:
        return
    except OSError as error:
        LOG.warning("retention: could not delete %s, the next sweep tries again: %s", path, error)


@dataclass
class Sweeper:
    """Applies a :class:`Retention` to one server's data folder."""

    data_dir: Path
    store: JobStore
    retention: Retention
    in_use: InUse
    """What synchronous requests hold: never removed, whatever its age."""
    clock: Callable[[], float] = time.time
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _entries(self) -> list[_Entry]:
        entries = [
            _Entry("uploads", path, *_measure(path))
            for path in _children(self.data_dir / "uploads")
        ]
        entries += [
            _Entry("outputs", path, *_measure(path))
            for path in _children(self.data_dir / "outputs")
        ]
        for record in self.store.list_finished():
            folder = self.data_dir / OUTPUTS_FOLDER / record.key
            finished = record.finished_at or record.created_at
            entries.append(_Entry("jobs", folder, finished, _measure(folder)[1], record.key))
        waiting = self.store.active_inputs()
        for staging in _children(self.data_dir / INPUTS_FOLDER):
            if not any(Path(path).is_relative_to(staging) for path in waiting):
                entries.append(_Entry("uploads", staging, *_measure(staging)))
        return sorted(entries, key=lambda entry: entry.time)

    def _delete_leftovers(self) -> None:
        """Delete what an earlier sweep set aside but did not get to delete (it stopped, or a
        file resisted)."""
        for name in ("uploads", "outputs", OUTPUTS_FOLDER, INPUTS_FOLDER):
            folder = self.data_dir / name
            try:
                leftovers = [path for path in folder.iterdir() if _set_aside_already(path)]
            except FileNotFoundError:
                continue
            for leftover in leftovers:
                _delete(leftover)

    def sweep(self) -> Removed:
        """Remove what the retention no longer keeps; returns what went."""
        removed = Removed()
        now = self.clock()
        self._delete_leftovers()
        everything = self._entries()
        total = sum(entry.size for entry in everything)
        for entry in (entry for entry in everything if now - entry.time > GRACE_SECONDS):
            too_old = (
                self.retention.max_age_seconds is not None
                and now - entry.time > self.retention.max_age_seconds
            )
            too_big = self.retention.max_bytes is not None and total > self.retention.max_bytes
            if not (too_old or too_big):
                continue
            if not self._remove(entry):
                continue  # held by a request: its bytes stay in the total, later entries go
            setattr(removed, entry.kind, getattr(removed, entry.kind) + 1)
            removed.bytes += entry.size
            total -= entry.size
        return removed

    def _remove(self, entry: _Entry) -> bool:
        """Remove ``entry`` unless a request holds it now (False then): checked under the
        registry's lock, which no claim gets past until the entry is out of the way."""
        with self.in_use.unless_in_use(entry.path) as free:
            if not free:
                return False
            try:
                aside = _set_aside(entry.path)
            except OSError as error:
                # Deleting it in place would keep every request waiting for the lock meanwhile.
                LOG.warning("retention: left %s, it could not be set aside: %s", entry.path, error)
                return False
        if entry.job_key is not None:
            self.store.delete_finished(entry.job_key)
        if aside is not None:
            _delete(aside)
        return True

    def sweep_and_report(self) -> Removed:
        """One sweep, logged when it removed anything (a failed sweep is logged, not raised)."""
        try:
            removed = self.sweep()
        except Exception:
            LOG.exception("retention sweep failed")
            return Removed()
        if removed:
            LOG.info("retention: %s", removed.describe())
        return removed

    def start(self, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        """Sweep now, then every ``interval`` seconds in a thread until :meth:`stop`."""
        if self.retention.max_age_seconds is None and self.retention.max_bytes is None:
            return

        def loop() -> None:
            while not self._stopping.wait(interval):
                self.sweep_and_report()

        self.sweep_and_report()
        self._thread = threading.Thread(target=loop, name="ffpipe-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
