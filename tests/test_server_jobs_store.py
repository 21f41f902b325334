"""The SQLite job store: ordering, conflicts, cancellation, restart bookkeeping, atomic claims."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffpipe.server.jobs.store import JobConflict, JobNotFound, JobStore

# The tables as written by ffpipe before job ids were scoped per owner (ids unique server-wide).
_SCHEMA_BEFORE_KEYS = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
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
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, priority DESC, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    job_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at);
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


def _submit(store: JobStore, name: str, priority: int = 5, **kwargs: object):
    return store.submit(
        "detect",
        {"face_detector_score": 0.5},
        {"target_media": f"/in/{name}.jpg"},
        job_id=name,
        priority=priority,
        **kwargs,
    )


def test_higher_priority_first_and_fifo_within_a_priority(store: JobStore) -> None:
    for name, priority in [("a", 5), ("b", 9), ("c", 5), ("d", 1), ("e", 9), ("f", 10)]:
        _submit(store, name, priority)
    order = []
    while (claimed := store.claim_next()) is not None:
        order.append(claimed.job_id)
    assert order == ["f", "b", "e", "a", "c", "d"]


def test_submit_generates_uuid_and_keeps_what_was_given(store: JobStore) -> None:
    record = store.submit("detect", {"face_detector_score": 0.3}, {"target_media": "/x.jpg"})
    assert len(record.job_id) == 36 and record.job_id.count("-") == 4
    again = store.get(record.job_id)
    assert again.params == {"face_detector_score": 0.3}
    assert again.files == {"target_media": "/x.jpg"}
    assert (again.status, again.priority, again.attempts) == ("queued", 5, 0)


def test_duplicate_id_is_a_conflict(store: JobStore) -> None:
    _submit(store, "same")
    with pytest.raises(JobConflict, match="same"):
        _submit(store, "same")
    assert len(store.list()) == 1


def test_priority_out_of_range_is_refused(store: JobStore) -> None:
    with pytest.raises(ValueError, match="1-10"):
        _submit(store, "x", priority=11)


def test_unknown_job_is_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        store.get("nope")


def test_cancel_queued_leaves_the_queue(store: JobStore) -> None:
    _submit(store, "a")
    _submit(store, "b")
    assert store.cancel("a").status == "cancelled"
    assert store.claim_next().job_id == "b"
    assert store.claim_next() is None


def test_cancel_of_a_processing_job_is_final_at_once(store: JobStore) -> None:
    _submit(store, "a", callback_url="http://127.0.0.1:1/hook")
    store.claim_next()
    cancelled = store.cancel("a")
    assert (cancelled.status, cancelled.cancel_requested) == ("cancelled", True)
    # The worker finishing the frame it was on cannot turn the answer around.
    after = store.complete("a", {"output": "/out/a.png"}, {"faces": 1})
    assert (after.status, after.outputs) == ("cancelled", None)
    assert store.fail("a", "late error").status == "cancelled"
    assert store.mark_cancelled("a").status == "cancelled"
    assert store.delivery("a") is None


def test_complete_records_outputs_and_queues_the_webhook(store: JobStore) -> None:
    _submit(store, "a", callback_url="http://127.0.0.1:1/hook")
    _submit(store, "b")
    store.claim_next()
    store.set_progress("a", 0.5, "half")
    assert store.get("a").progress == 0.5
    done = store.complete("a", {"output": "/out/a.png"}, {"faces": 1})
    assert (done.status, done.progress, done.outputs) == (
        "completed",
        1.0,
        {"output": "/out/a.png"},
    )
    assert store.delivery("a").state == "pending"
    store.claim_next()
    store.fail("b", "no face")
    assert store.get("b").error == "no face"
    assert store.delivery("b") is None, "no callback_url, no delivery"
    # a finished job is not finished again
    assert store.fail("a", "late").status == "completed"


def test_requeue_interrupted_counts_attempts_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    first = JobStore(db)
    _submit(first, "a")
    _submit(first, "b")
    first.claim_next()
    first.claim_next()
    first.cancel("b")
    first.close()  # what remains on disk is what a killed server leaves

    second = JobStore(db)
    assert second.requeue_interrupted() == ["a"]
    assert second.get("b").status == "cancelled", "a cancel asked before the crash is honoured"
    requeued = second.get("a")
    assert requeued.status == "queued" and requeued.attempts == 1
    assert "interrupted" in requeued.notes[0]
    again = second.claim_next()
    assert again.job_id == "a" and again.attempts == 2
    second.close()


def test_concurrent_claims_hand_out_each_job_once(store: JobStore) -> None:
    for index in range(60):
        _submit(store, f"j{index}")
    claimed: list[str] = []
    lock = threading.Lock()

    def claim_all() -> None:
        while (record := store.claim_next()) is not None:
            with lock:
                claimed.append(record.job_id)

    threads = [threading.Thread(target=claim_all) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(claimed) == sorted(f"j{index}" for index in range(60))


def test_list_filters_and_counts(store: JobStore) -> None:
    for name in "abc":
        _submit(store, name)
    store.claim_next()
    assert [record.job_id for record in store.list()] == ["c", "b", "a"]
    assert [record.job_id for record in store.list(status="processing")] == ["a"]
    assert [record.job_id for record in store.list(limit=1)] == ["c"]
    assert store.counts()["queued"] == 2
    assert store.queue_position("c") == 1


def test_a_database_from_before_jobs_had_owners_opens(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "jobs.sqlite3")
    old.executescript(_SCHEMA_BEFORE_KEYS.replace("    owner TEXT,\n", ""))
    old.execute(
        "INSERT INTO jobs (job_id, op, params, files, priority, status, created_at)"
        " VALUES ('a', 'detect', '{}', '{}', 5, 'queued', 1.0)"
    )
    old.commit()
    old.close()
    store = JobStore(tmp_path / "jobs.sqlite3")
    assert store.get("a").owner is None
    assert store.submit("detect", {}, {}, job_id="a", owner="ada").owner == "ada"
    assert [record.job_id for record in store.list(owner="ada")] == ["a"]
    store.close()


def test_the_same_id_may_belong_to_several_owners_once_each(store: JobStore) -> None:
    ada = _submit(store, "x", owner="ada")
    bob = _submit(store, "x", owner="bob")
    anonymous = _submit(store, "x")
    assert len({ada.key, bob.key, anonymous.key}) == 3
    assert {record.owner for record in store.with_id("x")} == {"ada", "bob", None}
    for owner in ("ada", "bob", None):
        with pytest.raises(JobConflict, match="'x' already exists"):
            _submit(store, "x", owner=owner)
    store.cancel(ada.key)
    assert [store.get(key).status for key in (ada.key, bob.key)] == ["cancelled", "queued"]


def test_jobs_and_deliveries_of_a_database_from_before_keys_carry_over(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "jobs.sqlite3")
    old.executescript(_SCHEMA_BEFORE_KEYS)
    old.execute(
        "INSERT INTO jobs (job_id, op, params, files, priority, status, callback_url, outputs,"
        " result, owner, created_at, finished_at) VALUES ('done', 'detect', '{}', '{}', 5,"
        " 'completed', 'http://127.0.0.1:9/hook', '{}', '{\"faces\": 1}', 'ada', 1.0, 2.0)"
    )
    old.execute(
        "INSERT INTO jobs (job_id, op, params, files, priority, status, owner, created_at)"
        " VALUES ('waiting', 'enhance', '{}', '{}', 7, 'queued', 'bob', 3.0)"
    )
    old.execute(
        "INSERT INTO deliveries (job_id, url, attempts, next_at)"
        " VALUES ('done', 'http://127.0.0.1:9/hook', 2, 5.0)"
    )
    old.commit()
    old.close()
    store = JobStore(tmp_path / "jobs.sqlite3")
    done, waiting = store.get("done"), store.get("waiting")
    assert (done.owner, done.result, done.status) == ("ada", {"faces": 1}, "completed")
    assert (waiting.owner, waiting.priority) == ("bob", 7)
    delivery = store.delivery("done")
    assert delivery is not None and (delivery.attempts, delivery.state) == (2, "pending")
    assert [d.job_key for d in store.due_deliveries(now=10.0)] == ["done"]
    assert _submit(store, "waiting", owner="ada").owner == "ada", "bob's id is free for ada"
    assert store.claim_next().key == "waiting", "the old queue order holds"
    store.close()
    again = JobStore(tmp_path / "jobs.sqlite3")  # upgraded once; opening again changes nothing
    assert [record.job_id for record in again.list()] == ["waiting", "waiting", "done"]
    again.close()


def test_an_upgraded_database_keeps_its_counter_indexes_and_frees_old_ids(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "jobs.sqlite3")
    old.executescript(_SCHEMA_BEFORE_KEYS)
    for seq, job_id in ((1, "y"), (2, "gone")):
        old.execute(
            "INSERT INTO jobs (seq, job_id, op, params, files, priority, status, owner,"
            " created_at) VALUES (?, ?, 'detect', '{}', '{}', 5, 'completed', 'ada', 1.0)",
            (seq, job_id),
        )
    old.execute("DELETE FROM jobs WHERE job_id = 'gone'")
    old.commit()
    old.close()
    store = JobStore(tmp_path / "jobs.sqlite3")
    assert store.submit("detect", {}, {}, job_id="new").seq == 3, "seq 2 stays used"
    unowned = store.submit("detect", {}, {}, job_id="y")  # a server that dropped its users
    assert unowned.owner is None and unowned.key != store.get("y").key
    with pytest.raises(JobConflict):
        store.submit("detect", {}, {}, job_id="y")
    store.close()
    check = sqlite3.connect(tmp_path / "jobs.sqlite3")
    indexes = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    plan = " ".join(
        str(row[-1])
        for row in check.execute("EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE job_id = 'y'")
    )
    check.close()
    assert {"jobs_queue", "jobs_id_owner", "deliveries_due"} <= indexes
    assert "USING INDEX jobs_id_owner" in plan, "a lookup by id is no table scan"
