"""The stat table: a file is hashed again only when its size, mtime, ctime or inode says it changed.

The ctime (inode change time) cannot be set by a user: an in-place edit followed by ``touch -r``
keeps size, mtime and inode but moves the ctime, so the file is read again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from ffpipe.cache import db, fingerprint

SCHEMA = """
DROP TABLE IF EXISTS stat;
CREATE TABLE IF NOT EXISTS file_stat (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    hashed_ns INTEGER NOT NULL,
    digest TEXT NOT NULL
) WITHOUT ROWID;
"""
"""``stat``, the table of versions without the ctime, is dropped: its entries would be trusted
without it, and they only cost one more read of each file."""

RACY_NS = 1_000_000_000
"""A file modified this close to when it was hashed may change again without its mtime moving
(timestamps advance in clock ticks), so such an entry is hashed once more before it is trusted."""

_LOOKUP_BATCH = 500

Signature = tuple[int, int, int, int]
"""(size, mtime_ns, ctime_ns, inode)."""


class StatTable:
    """Digests of local files keyed by (path, size, mtime_ns, ctime_ns, inode), in SQLite.

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
                digests[path] = row[1]
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
            connection.execute("DELETE FROM file_stat WHERE path = ?", (os.path.abspath(path),))

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()

    def _lookup(self, absolute_paths: list[str]) -> dict[str, tuple[Signature, str, int]]:
        found = {}
        with self._lock:
            for start in range(0, len(absolute_paths), _LOOKUP_BATCH):
                batch = absolute_paths[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(batch))
                rows = self._connection.execute(
                    "SELECT path, size, mtime_ns, ctime_ns, inode, digest, hashed_ns"
                    f" FROM file_stat WHERE path IN ({marks})",
                    batch,
                )
                for path, size, mtime_ns, ctime_ns, inode, digest, hashed_ns in rows:
                    found[path] = ((size, mtime_ns, ctime_ns, inode), digest, hashed_ns)
        return found

    def _store(self, rows: list[tuple[str, Signature, int, str]]) -> None:
        with self._lock, db.write(self._connection) as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO file_stat"
                " (path, size, mtime_ns, ctime_ns, inode, hashed_ns, digest)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(path, *signature, hashed, digest) for path, signature, hashed, digest in rows],
            )


def _signature(path: Path) -> Signature:
    info = os.stat(path)
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _trusted(row: tuple[Signature, str, int], signature: Signature) -> bool:
    known, _digest, hashed_ns = row
    return known == signature and known[1] + RACY_NS <= hashed_ns
