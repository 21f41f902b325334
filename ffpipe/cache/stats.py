"""The stat table: a file is hashed again only when its size, mtime or inode says it changed."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from ffpipe.cache import db, fingerprint

SCHEMA = """
CREATE TABLE IF NOT EXISTS stat (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    hashed_ns INTEGER NOT NULL,
    digest TEXT NOT NULL
) WITHOUT ROWID;
"""

RACY_NS = 1_000_000_000
"""A file modified this close to when it was hashed may change again without its mtime moving
(timestamps advance in clock ticks), so such an entry is hashed once more before it is trusted."""

_LOOKUP_BATCH = 500

Signature = tuple[int, int, int]


class StatTable:
    """Digests of local files keyed by (path, size, mtime_ns, inode), in SQLite.

    Safe to share between threads and between processes. ``hashes`` counts how many files this
    instance actually read.
    """

    def __init__(self, db_path: Path) -> None:
        self._connection = db.connect(Path(db_path), SCHEMA)
        self._lock = threading.Lock()
        self.hashes = 0

    def digest(self, path: Path) -> str:
        """``"sha256:<hex>"`` of the file at ``path``, from the table when its stat is unchanged."""
        return self.digest_many([path])[Path(path)]

    def digest_many(self, paths: Iterable[Path]) -> dict[Path, str]:
        """Digests of several files, looked up in one query; only changed files are read."""
        wanted = {Path(path): os.path.abspath(path) for path in paths}
        signatures = {path: _signature(path) for path in wanted}
        known = self._lookup(sorted(set(wanted.values())))
        digests: dict[Path, str] = {}
        fresh: list[tuple[str, Signature, int, str]] = []
        for path, absolute in wanted.items():
            row = known.get(absolute)
            if row is not None and _trusted(row, signatures[path]):
                digests[path] = row[3]
                continue
            hashed_ns = time.time_ns()
            digest = fingerprint.digest_file(path)
            self.hashes += 1
            digests[path] = digest
            # A file rewritten while we read it has no digest worth remembering.
            if _signature(path) == signatures[path]:
                fresh.append((absolute, signatures[path], hashed_ns, digest))
        if fresh:
            self._store(fresh)
        return digests

    def forget(self, path: Path) -> None:
        """Drop the entry for ``path`` so it is hashed on next use."""
        with self._lock, db.write(self._connection) as connection:
            connection.execute("DELETE FROM stat WHERE path = ?", (os.path.abspath(path),))

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()

    def _lookup(self, absolute_paths: list[str]) -> dict[str, tuple[int, int, int, str, int]]:
        found = {}
        with self._lock:
            for start in range(0, len(absolute_paths), _LOOKUP_BATCH):
                batch = absolute_paths[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(batch))
                rows = self._connection.execute(
                    "SELECT path, size, mtime_ns, inode, digest, hashed_ns FROM stat"
                    f" WHERE path IN ({marks})",
                    batch,
                )
                for path, size, mtime_ns, inode, digest, hashed_ns in rows:
                    found[path] = (size, mtime_ns, inode, digest, hashed_ns)
        return found

    def _store(self, rows: list[tuple[str, Signature, int, str]]) -> None:
        with self._lock, db.write(self._connection) as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO stat (path, size, mtime_ns, inode, hashed_ns, digest)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(path, *signature, hashed, digest) for path, signature, hashed, digest in rows],
            )


def _signature(path: Path) -> Signature:
    info = os.stat(path)
    return (info.st_size, info.st_mtime_ns, info.st_ino)


def _trusted(row: tuple[int, int, int, str, int], signature: Signature) -> bool:
    size, mtime_ns, inode, _digest, hashed_ns = row
    return (size, mtime_ns, inode) == signature and mtime_ns + RACY_NS <= hashed_ns
