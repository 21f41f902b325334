"""Step entries: what a step key produced (output digests and result), in SQLite."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.cache import db

SCHEMA = """
CREATE TABLE IF NOT EXISTS step (
    key TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    outputs TEXT NOT NULL,
    result TEXT NOT NULL,
    key_document TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS step_by_instance ON step (pipeline, instance_id, last_used);
"""

_COLUMNS = "key, pipeline, instance_id, outputs, result, key_document, created, last_used"


@dataclass
class StepEntry:
    """What one run of a step left behind, found again by its key."""

    key: str
    pipeline: str
    instance_id: str
    outputs: dict[str, str]
    """Output name -> artifact digest (``"sha256:..."`` or ``"tree:sha256:..."``)."""
    result: dict[str, Any] = field(default_factory=dict)
    key_document: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)


class StepStore:
    """Step entries by key; safe to share between threads and between processes."""

    def __init__(self, db_path: Path) -> None:
        self._connection = db.connect(Path(db_path), SCHEMA)
        self._lock = threading.Lock()

    def get(self, key: str, *, mark_used: bool = True) -> StepEntry | None:
        """The entry for ``key`` or None; with ``mark_used`` a hit counts as a use (for gc)."""
        with self._lock:
            row = self._connection.execute(
                f"SELECT {_COLUMNS} FROM step WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        entry = _entry(row)
        if mark_used:
            entry.last_used = time.time()
            self.mark_used([key], entry.last_used)
        return entry

    def present(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` have an entry."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), 500):  # SQLite caps the parameters per query
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows = self._connection.execute(
                    f"SELECT key FROM step WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update(row[0] for row in rows)
        return found

    def put(self, key: str, entry: StepEntry) -> None:
        """Record (or replace) the entry for ``key``."""
        values = (
            key,
            entry.pipeline,
            entry.instance_id,
            json.dumps(entry.outputs, sort_keys=True),
            json.dumps(entry.result, sort_keys=True),
            json.dumps(entry.key_document, sort_keys=True),
            entry.created,
            entry.last_used,
        )
        with self._lock, db.write(self._connection) as connection:
            connection.execute(
                f"INSERT OR REPLACE INTO step ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values
            )

    def mark_used(self, keys: Iterable[str], when: float | None = None) -> None:
        """Set ``last_used`` of the given entries (least recently used entries go first in gc)."""
        moment = time.time() if when is None else when
        with self._lock, db.write(self._connection) as connection:
            connection.executemany(
                "UPDATE step SET last_used = ? WHERE key = ?", [(moment, key) for key in keys]
            )

    def entries(self) -> Iterator[StepEntry]:
        """Every entry, least recently used first."""
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {_COLUMNS} FROM step ORDER BY last_used, rowid"
            ).fetchall()
        return (_entry(row) for row in rows)

    def latest_for(self, instance_id: str, pipeline: str) -> StepEntry | None:
        """The entry most recently used for that step of that pipeline (to explain a new key)."""
        with self._lock:
            row = self._connection.execute(
                f"SELECT {_COLUMNS} FROM step WHERE pipeline = ? AND instance_id = ?"
                " ORDER BY last_used DESC, rowid DESC LIMIT 1",
                (pipeline, instance_id),
            ).fetchone()
        return None if row is None else _entry(row)

    def producer(self, pipeline: str, instance_id: str, digest: Any) -> StepEntry | None:
        """The most recent entry of that step whose primary output was ``digest``: what the
        step was when it made a file a later step read (to name what changed since)."""
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {_COLUMNS} FROM step WHERE pipeline = ? AND instance_id = ?"
                " ORDER BY last_used DESC, rowid DESC",
                (pipeline, instance_id),
            ).fetchall()
        entries = (_entry(row) for row in rows)
        return next((entry for entry in entries if entry.outputs.get("output") == digest), None)

    def delete(self, key: str) -> None:
        """Drop the entry for ``key`` (absent keys are fine)."""
        self.delete_many([key])

    def delete_many(self, keys: Iterable[str]) -> None:
        """Drop several entries in one transaction."""
        with self._lock, db.write(self._connection) as connection:
            connection.executemany("DELETE FROM step WHERE key = ?", [(key,) for key in keys])

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()


def _entry(row: tuple[Any, ...]) -> StepEntry:
    key, pipeline, instance_id, outputs, result, document, created, last_used = row
    return StepEntry(
        key=key,
        pipeline=pipeline,
        instance_id=instance_id,
        outputs=json.loads(outputs),
        result=json.loads(result),
        key_document=json.loads(document),
        created=created,
        last_used=last_used,
    )
