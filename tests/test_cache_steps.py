"""Step entries: stored by key, found again, and ordered by use for explanations and gc."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from ffpipe.cache.fingerprint import digest_bytes
from ffpipe.cache.steps import StepEntry, StepStore


@pytest.fixture
def steps(tmp_path: Path) -> StepStore:
    return StepStore(tmp_path / "steps.db")


def _entry(key: str, step: str = "swap", *, used: float = 1000.0) -> StepEntry:
    return StepEntry(
        key=key,
        pipeline="portrait",
        instance_id=step,
        outputs={"output": digest_bytes(key.encode())},
        result={"faces": [{"box": [175, 76, 265, 166]}]},
        key_document={"op": "swap", "params": {"face_mask_blur": 0.3}},
        created=used,
        last_used=used,
    )


def test_put_then_get_round_trips(steps: StepStore) -> None:
    entry = _entry("sha256:a")
    steps.put(entry.key, entry)
    found = steps.get(entry.key, mark_used=False)
    assert found == entry
    assert steps.get("sha256:absent") is None


def test_a_hit_counts_as_a_use(steps: StepStore) -> None:
    steps.put("sha256:a", _entry("sha256:a", used=1000.0))
    hit = steps.get("sha256:a")
    assert hit is not None and hit.last_used > 1000.0
    stored = steps.get("sha256:a", mark_used=False)
    assert stored is not None and stored.last_used == hit.last_used


def test_latest_for_is_the_entry_used_last_for_that_step(steps: StepStore) -> None:
    steps.put("sha256:blend08", _entry("sha256:blend08", used=1000.0))
    steps.put("sha256:blend06", _entry("sha256:blend06", used=2000.0))
    steps.put("sha256:other", _entry("sha256:other", step="enhance", used=3000.0))
    latest = steps.latest_for("swap", "portrait")
    assert latest is not None and latest.key == "sha256:blend06"
    steps.get("sha256:blend08")
    latest = steps.latest_for("swap", "portrait")
    assert latest is not None and latest.key == "sha256:blend08"
    assert steps.latest_for("swap", "another pipeline") is None


def test_entries_come_least_recently_used_first_and_delete_removes(steps: StepStore) -> None:
    for key, used in (("sha256:b", 2.0), ("sha256:c", 3.0), ("sha256:a", 1.0)):
        steps.put(key, _entry(key, used=used))
    assert [entry.key for entry in steps.entries()] == ["sha256:a", "sha256:b", "sha256:c"]
    steps.delete("sha256:b")
    steps.delete("sha256:b")
    steps.mark_used(["sha256:a"], when=10.0)
    assert [entry.key for entry in steps.entries()] == ["sha256:c", "sha256:a"]


def test_entries_survive_reopening(tmp_path: Path) -> None:
    StepStore(tmp_path / "steps.db").put("sha256:a", _entry("sha256:a"))
    assert StepStore(tmp_path / "steps.db").get("sha256:a", mark_used=False) == _entry("sha256:a")


def _record(db: str, worker: int) -> int:
    steps = StepStore(Path(db))
    for n in range(50):
        key = f"sha256:{worker}-{n}"
        steps.put(key, _entry(key, step=f"step{n}"))
        steps.get(key)
        steps.latest_for(f"step{n}", "portrait")
    return worker


@pytest.mark.slow
def test_two_processes_record_entries_at_once(tmp_path: Path) -> None:
    db = tmp_path / "steps.db"
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        done = sorted(
            future.result(timeout=120)
            for future in [pool.submit(_record, str(db), w) for w in range(4)]
        )
    assert done == [0, 1, 2, 3]
    assert len(list(StepStore(db).entries())) == 200
