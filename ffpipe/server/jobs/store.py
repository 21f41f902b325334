"""The durable job queue: one SQLite file holding jobs and pending webhook deliveries.

WAL journaling with ``synchronous=FULL`` means a job acknowledged to a client is on disk before the
answer leaves, so it survives ``kill -9`` and power loss. One connection, guarded by a lock, serves
every thread of the process; claims run inside ``BEGIN IMMEDIATE`` so no job is handed out twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.catalog.jobs import ACTIVE_STATES, ALL_STATES, FINAL_STATES, JobState

_TABLES = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_key TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    op TEXT NOT NULL,
    params TEXT NOT NULL,
    files TEXT NOT NULL,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    callback_url TEXT,
    outputs TEXT,
    result TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '[]',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS deliveries (
    job_key TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL
);
"""
# A job id is unique per owner, not across the server: one user's ids neither block another
# user's nor tell that they exist. A server without users stores no owner ('' here).
_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS jobs_id_owner ON jobs (job_id, COALESCE(owner, ''));
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, priority DESC, seq);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at);
"""
_JOB_COLUMNS = (
    "seq, job_id, op, params, files, priority, status, progress, stage, callback_url, outputs,"
    " result, error, attempts, notes, cancel_requested, owner, created_at, started_at, finished_at"
)
_DELIVERY_COLUMNS = "url, state, attempts, next_at, last_error, delivered_at"
_OPAQUE_KEY_PREFIX = "~"
"""Starts an opaque job key; no job id can start with it (see JobOptions), so none collides."""


def _new_key(db: sqlite3.Connection, job_id: str, owner: str | None) -> str:
    """A new job's key, unique across the store: its id on a server without users (where ids
    are unique already, and folders keep their readable names), else a fresh opaque one (the
    same id may belong to several users, or be the key of a job from before users existed)."""
    if (
        owner is None
        and db.execute("SELECT 1 FROM jobs WHERE job_key = ?", (job_id,)).fetchone() is None
    ):
        return job_id
    return _OPAQUE_KEY_PREFIX + uuid.uuid4().hex


class JobStoreError(Exception):
    """Base of the store's errors; messages are meant for the API's callers."""


class JobConflict(JobStoreError):
    """A job with the requested id already exists."""


class JobNotFound(JobStoreError):
    """No job has the requested key."""


@dataclass(frozen=True)
class JobRecord:
    """A job as stored: what to run, where it stands, and what it produced."""

    key: str
    """Names the job inside the server (rows, output folder, webhook); see :func:`_new_key`."""
    job_id: str
    """The id its owner knows it by."""
    op: str
    params: dict[str, Any]
    files: dict[str, str]
    """Input file fields of ``params`` and the server-side paths they were staged at."""
    priority: int
    status: str
    progress: float
    stage: str
    callback_url: str | None
    outputs: dict[str, str] | None
    """Output name -> server-side path, once completed."""
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    """How many times a worker has started this job; above 1 means it ran again after a crash."""
    notes: list[str]
    cancel_requested: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    owner: str | None = None
    """The authenticated user who submitted it; None on a server without users."""
    seq: int = field(default=0, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def label(self) -> str:
        """The job as people name it: its id, and whose it is."""
        return self.job_id if self.owner is None else f"{self.job_id} of {self.owner}"


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery owed for a finished job."""

    job_key: str
    url: str
    state: str
    """pending, delivered, failed (gave up after retries) or refused (destination not allowed)."""
    attempts: int
    next_at: float
    last_error: str | None
    delivered_at: float | None
    owner: str | None = None
    """Who submitted the job (for fair delivery between users)."""


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        key=row["job_key"],
        job_id=row["job_id"],
        op=row["op"],
        params=json.loads(row["params"]),
        files=json.loads(row["files"]),
        priority=row["priority"],
        status=row["status"],
        progress=row["progress"],
        stage=row["stage"],
        callback_url=row["callback_url"],
        outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None,
        result=json.loads(row["result"]) if row["result"] is not None else None,
        error=row["error"],
        attempts=row["attempts"],
        notes=json.loads(row["notes"]),
        cancel_requested=bool(row["cancel_requested"]),
        owner=row["owner"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seq=row["seq"],
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - Row is not a dict


class JobStore:
    """Jobs and webhook deliveries in one SQLite database file."""

    def __init__(self, db: Path) -> None:
        db.parent.mkdir(parents=True, exist_ok=True)
        self.path = db
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(db), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._upgrade()
        self._db.executescript(_TABLES + _INDEXES)

    def _upgrade(self) -> None:
        """Bring a database written by an earlier version to the current tables, in place."""
        with self._transaction() as db:  # checked inside: another process may be upgrading too
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            if not columns or "job_key" in columns:
                return
            if "owner" not in columns:  # from before jobs had owners
                db.execute("ALTER TABLE jobs ADD COLUMN owner TEXT")
            # Ids were unique across the server then, so each is its job's key; the tables are
            # rebuilt because SQLite cannot drop the old UNIQUE constraint on job_id in place.
            db.execute("ALTER TABLE jobs RENAME TO jobs_before_keys")
            db.execute("ALTER TABLE deliveries RENAME TO deliveries_before_keys")
            db.execute("DROP INDEX IF EXISTS jobs_queue")
            db.execute("DROP INDEX IF EXISTS deliveries_due")
            for statement in filter(str.strip, _TABLES.split(";")):
                db.execute(statement)  # not executescript: it would commit first
            db.execute(
                f"INSERT INTO jobs (job_key, {_JOB_COLUMNS})"
                f" SELECT job_id, {_JOB_COLUMNS} FROM jobs_before_keys"
            )
            db.execute(
                f"INSERT INTO deliveries (job_key, {_DELIVERY_COLUMNS})"
                f" SELECT job_id, {_DELIVERY_COLUMNS} FROM deliveries_before_keys"
            )
            # The counter goes with the old table: carried over, deleted jobs' seqs stay unused.
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'jobs'")
            db.execute(
                "INSERT INTO sqlite_sequence (name, seq)"
                " SELECT 'jobs', seq FROM sqlite_sequence WHERE name = 'jobs_before_keys'"
            )
            db.execute("DROP TABLE jobs_before_keys")
            db.execute("DROP TABLE deliveries_before_keys")
            for statement in filter(str.strip, _INDEXES.split(";")):
                db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _get(self, db: sqlite3.Connection, key: str) -> JobRecord:
        row = db.execute("SELECT * FROM jobs WHERE job_key = ?", (key,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job with key {key!r}")
        return _record(row)

    def submit(
        self,
        op: str,
        params: dict[str, Any],
        files: dict[str, str],
        job_id: str | None = None,
        priority: int = 5,
        callback_url: str | None = None,
        owner: str | None = None,
    ) -> JobRecord:
        """Queue a job; raises :class:`JobConflict` when ``owner`` has a job called ``job_id``."""
        if not 1 <= priority <= 10:
            raise ValueError(f"priority must be 1-10, got {priority}")
        job_id = job_id or str(uuid.uuid4())
        with self._transaction() as db:
            key = _new_key(db, job_id, owner)
            try:
                db.execute(
                    "INSERT INTO jobs (job_key, job_id, op, params, files, priority, status,"
                    " callback_url, owner, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                    (
                        key,
                        job_id,
                        op,
                        json.dumps(params),
                        json.dumps(files),
                        priority,
                        callback_url,
                        owner,
                        time.time(),
                    ),
                )
            except sqlite3.IntegrityError:
                raise JobConflict(f"a job with id {job_id!r} already exists") from None
            return self._get(db, key)

    def with_id(self, job_id: str) -> list[JobRecord]:
        """Every job called ``job_id``, whoever owns it, oldest first (who may see which is the
        caller's business)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE job_id = ? ORDER BY seq", (job_id,)
            ).fetchall()
        return [_record(row) for row in rows]

    def claim_next(self) -> JobRecord | None:
        """Mark the next queued job processing and return it: highest priority, then oldest."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT job_key FROM jobs WHERE status = 'queued'"
                " ORDER BY priority DESC, seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'processing', attempts = attempts + 1, started_at = ?,"
                " progress = 0, stage = 'starting' WHERE job_key = ?",
                (time.time(), row["job_key"]),
            )
            return self._get(db, row["job_key"])

    def set_progress(self, key: str, progress: float, stage: str) -> None:
        """Record progress of a processing job (ignored once the job has left processing)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET progress = ?, stage = ?"
                " WHERE job_key = ? AND status = 'processing'",
                (min(max(progress, 0.0), 1.0), stage, key),
            )

    def _finish(
        self, db: sqlite3.Connection, key: str, status: str, assignments: dict[str, Any]
    ) -> JobRecord:
        record = self._get(db, key)
        if record.status != JobState.PROCESSING:
            return record
        columns = {"status": status, "finished_at": time.time(), **assignments}
        sets = ", ".join(f"{name} = ?" for name in columns)
        db.execute(f"UPDATE jobs SET {sets} WHERE job_key = ?", (*columns.values(), key))
        if record.callback_url is not None and status in (JobState.COMPLETED, JobState.FAILED):
            db.execute(
                "INSERT OR REPLACE INTO deliveries (job_key, url, next_at) VALUES (?, ?, ?)",
                (key, record.callback_url, time.time()),
            )
        return self._get(db, key)

    def complete(self, key: str, outputs: dict[str, str], result: dict[str, Any]) -> JobRecord:
        """Mark a processing job completed; its webhook delivery is queued in the same commit."""
        with self._transaction() as db:
            return self._finish(
                db,
                key,
                "completed",
                {
                    "progress": 1.0,
                    "stage": "done",
                    "outputs": json.dumps(outputs),
                    "result": json.dumps(result),
                },
            )

    def fail(self, key: str, error: str) -> JobRecord:
        """Mark a processing job failed with a message for the user."""
        with self._transaction() as db:
            return self._finish(db, key, "failed", {"stage": "failed", "error": error})

    def mark_cancelled(self, key: str) -> JobRecord:
        """Record that a processing job stopped because it was cancelled."""
        with self._transaction() as db:
            return self._finish(db, key, "cancelled", {"stage": "cancelled"})

    def cancel(self, key: str) -> JobRecord:
        """Cancel a queued or processing job; the answer is final. Finished jobs are unchanged.

        A processing job is ``cancelled`` from this commit on, with ``cancel_requested`` set for
        its worker, which stops at the next frame: whatever that worker records afterwards
        (completed, failed) is ignored, so a job answered ``cancelled`` never completes.
        """
        with self._transaction() as db:
            record = self._get(db, key)
            if record.status in ACTIVE_STATES:
                db.execute(
                    "UPDATE jobs SET status = 'cancelled', stage = 'cancelled',"
                    " cancel_requested = 1, finished_at = ? WHERE job_key = ?",
                    (time.time(), key),
                )
            return self._get(db, key)

    def get(self, key: str) -> JobRecord:
        """The job whose key is ``key``; raises :class:`JobNotFound`."""
        with self._lock:
            return self._get(self._db, key)

    def list(
        self,
        status: str | None = None,
        limit: int = 100,
        op: str | None = None,
        owner: str | None = None,
    ) -> list[JobRecord]:
        """Jobs, newest first, optionally only those in ``status``, of ``op`` or of ``owner``."""
        clauses, values = [], []
        if owner is not None:
            clauses.append("owner = ?")
            values.append(owner)
        if status is not None:
            clauses.append("status = ?")
            values.append(status)
        if op is not None:
            clauses.append("op = ?")
            values.append(op)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ?", (*values, limit)
            ).fetchall()
        return [_record(row) for row in rows]

    def list_finished(self) -> list[JobRecord]:
        """Every completed, failed or cancelled job, oldest first, except those whose webhook
        is still being delivered."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE status IN ('completed', 'failed', 'cancelled')"
                " AND job_key NOT IN (SELECT job_key FROM deliveries WHERE state = 'pending')"
                " ORDER BY seq"
            ).fetchall()
        return [_record(row) for row in rows]

    def active_inputs(self) -> list[str]:
        """The staged input files of queued and processing jobs (still to be read)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT files FROM jobs WHERE status IN ('queued', 'processing')"
            ).fetchall()
        return [path for row in rows for path in json.loads(row["files"]).values()]

    def delete_finished(self, key: str) -> None:
        """Forget a finished job and its webhook delivery (an active job is left alone)."""
        with self._transaction() as db:
            deleted = db.execute(
                "DELETE FROM jobs WHERE job_key = ? AND status IN ('completed', 'failed',"
                " 'cancelled')",
                (key,),
            ).rowcount
            if deleted:
                db.execute("DELETE FROM deliveries WHERE job_key = ?", (key,))

    def queue_position(self, key: str) -> int:
        """How many queued jobs will be claimed before this queued job."""
        with self._lock:
            record = self._get(self._db, key)
            row = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'queued'"
                " AND (priority > ? OR (priority = ? AND seq < ?))",
                (record.priority, record.priority, record.seq),
            ).fetchone()
        return int(row[0])

    def recent_durations(self, op: str, limit: int = 20) -> list[float]:
        """Wall seconds of the latest completed jobs of ``op``, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT finished_at - started_at FROM jobs WHERE op = ? AND status = 'completed'"
                " AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
                (op, limit),
            ).fetchall()
        return [float(row[0]) for row in rows]

    def requeue_interrupted(self) -> list[str]:
        """Put jobs left processing by a crash back in the queue; call once at start-up.

        Each gets a note saying it was interrupted; its ``attempts`` then tells it ran again.
        Returns their labels (see :attr:`JobRecord.label`).
        """
        now = time.time()
        with self._transaction() as db:
            rows = db.execute("SELECT * FROM jobs WHERE status = 'processing'").fetchall()
            for row in rows:
                notes = [
                    *json.loads(row["notes"]),
                    f"attempt {row['attempts']} was interrupted by a server stop and the job was"
                    " queued again",
                ]
                db.execute(
                    "UPDATE jobs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled'"
                    " ELSE 'queued' END, progress = 0, stage = 'requeued', notes = ?,"
                    " finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END"
                    " WHERE job_key = ?",
                    (json.dumps(notes), now, row["job_key"]),
                )
        return [_record(row).label for row in rows]

    def counts(self) -> dict[str, int]:
        """Number of jobs in each state."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        counts = dict.fromkeys(ALL_STATES, 0)
        counts.update({row[0]: row[1] for row in rows})
        return counts

    def due_deliveries(
        self, now: float | None = None, limit: int = 20, excluding: Collection[str] = ()
    ) -> list[Delivery]:
        """Pending webhook deliveries whose next attempt is due (of jobs not in ``excluding``)."""
        marks = ",".join("?" * len(excluding))
        with self._lock:
            rows = self._db.execute(
                "SELECT deliveries.*, jobs.owner AS owner FROM deliveries"
                " LEFT JOIN jobs USING (job_key)"
                " WHERE state = 'pending' AND next_at <= ?"
                + (f" AND job_key NOT IN ({marks})" if excluding else "")
                + " ORDER BY next_at LIMIT ?",
                (time.time() if now is None else now, *excluding, limit),
            ).fetchall()
        return [_delivery(row) for row in rows]

    def next_delivery_time(self, excluding: Collection[str] = ()) -> float | None:
        """When the earliest pending delivery (of jobs not in ``excluding``) is due, or None."""
        marks = ",".join("?" * len(excluding))
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_at) FROM deliveries WHERE state = 'pending'"
                + (f" AND job_key NOT IN ({marks})" if excluding else ""),
                tuple(excluding),
            ).fetchone()
        return row[0]

    def delivery(self, key: str) -> Delivery | None:
        """The webhook delivery of a job, if one is owed."""
        with self._lock:
            row = self._db.execute("SELECT * FROM deliveries WHERE job_key = ?", (key,)).fetchone()
        return None if row is None else _delivery(row)

    def record_delivery(
        self,
        key: str,
        state: str,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> Delivery:
        """Record one delivery attempt: its outcome and, when pending, when to try again."""
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?,"
                " next_at = ?, delivered_at = ? WHERE job_key = ?",
                (
                    state,
                    error,
                    now if retry_at is None else retry_at,
                    now if state == "delivered" else None,
                    key,
                ),
            )
            row = db.execute("SELECT * FROM deliveries WHERE job_key = ?", (key,)).fetchone()
        return _delivery(row)
