"""SQLite connections shared by the stat table and the step store: WAL, waits instead of failing."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 60.0


def connect(db: Path, schema: str) -> sqlite3.Connection:
    """Open (creating if needed) a database that several threads and processes may share.

    WAL lets readers run beside one writer; the busy timeout makes a second process wait for the
    write lock rather than fail. Statements run in autocommit mode unless inside :func:`write`.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(
        db, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    _retry_while_locked(lambda: connection.execute("PRAGMA journal_mode=WAL"))
    connection.execute("PRAGMA synchronous=NORMAL")
    _retry_while_locked(lambda: connection.executescript(schema))
    return connection


@contextmanager
def write(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taking the write lock up front so it cannot deadlock midway."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _retry_while_locked(action: Callable[[], object]) -> None:
    # Switching to WAL can report "locked" at once, without the busy handler, while another
    # process is creating the same database; a short retry loop covers that window.
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
