"""The stat table reads a file again only when its stat says it may have changed."""

from __future__ import annotations

import os
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from ffpipe.cache.fingerprint import digest_bytes
from ffpipe.cache.stats import StatTable


@pytest.fixture
def table(tmp_path: Path) -> StatTable:
    return StatTable(tmp_path / "state.db")


@pytest.fixture
def old_file(age):
    """``old_file(path, data)``: a file written an hour ago (so the stat table trusts it)."""

    def write(path: Path, data: bytes) -> Path:
        path.write_bytes(data)
        age(path, 3600)
        return path

    return write


def test_an_unchanged_file_is_hashed_once(table: StatTable, tmp_path: Path, old_file) -> None:
    path = old_file(tmp_path / "input.jpg", b"pixels" * 1000)
    assert table.digest(path) == digest_bytes(b"pixels" * 1000)
    assert table.digest(path) == digest_bytes(b"pixels" * 1000)
    assert table.hashes == 1


def test_the_table_outlives_the_process_that_filled_it(tmp_path: Path, old_file) -> None:
    path = old_file(tmp_path / "input.jpg", b"pixels")
    StatTable(tmp_path / "state.db").digest(path)
    again = StatTable(tmp_path / "state.db")
    assert again.digest(path) == digest_bytes(b"pixels")
    assert again.hashes == 0


def test_touch_without_change_rehashes_once_and_keeps_the_digest(
    table: StatTable, tmp_path: Path, age, old_file
) -> None:
    path = old_file(tmp_path / "input.jpg", b"pixels")
    before = table.digest(path)
    age(path, 60)
    assert table.digest(path) == before
    assert table.digest(path) == before
    assert table.hashes == 2


def test_changed_bytes_give_a_new_digest(table: StatTable, tmp_path: Path, old_file) -> None:
    path = old_file(tmp_path / "input.jpg", b"pixels")
    table.digest(path)
    old_file(path, b"other pixels")
    assert table.digest(path) == digest_bytes(b"other pixels")


def test_a_replaced_file_with_the_same_size_and_mtime_is_rehashed(
    table: StatTable, tmp_path: Path, old_file
) -> None:
    path = old_file(tmp_path / "input.jpg", b"AAAA")
    table.digest(path)
    stat = path.stat()
    replacement = tmp_path / "new.jpg"
    replacement.write_bytes(b"BBBB")
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, path)
    assert table.digest(path) == digest_bytes(b"BBBB")
    assert table.hashes == 2


def test_a_file_written_just_now_is_checked_again_before_it_is_trusted(
    table: StatTable, tmp_path: Path
) -> None:
    # Its mtime could stay put through another write in the same clock tick.
    path = tmp_path / "fresh.jpg"
    path.write_bytes(b"fresh")
    assert table.digest(path) == table.digest(path) == digest_bytes(b"fresh")
    assert table.hashes == 2


def test_digest_many_reads_only_what_changed(table: StatTable, tmp_path: Path, old_file) -> None:
    paths = [old_file(tmp_path / f"frame_{n}.png", f"frame {n}".encode()) for n in range(20)]
    first = table.digest_many(paths)
    assert first == {path: digest_bytes(path.read_bytes()) for path in paths}
    old_file(paths[3], b"edited")
    second = table.digest_many(paths)
    assert table.hashes == 21
    assert second[paths[3]] == digest_bytes(b"edited")
    assert {p: d for p, d in second.items() if p != paths[3]} == {
        p: d for p, d in first.items() if p != paths[3]
    }


def test_relative_and_absolute_paths_share_an_entry(
    table: StatTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_file
) -> None:
    path = old_file(tmp_path / "input.jpg", b"pixels")
    monkeypatch.chdir(tmp_path)
    table.digest(Path("input.jpg"))
    table.digest(path)
    assert table.hashes == 1


def test_forget_makes_the_next_lookup_read_the_file(
    table: StatTable, tmp_path: Path, old_file
) -> None:
    path = old_file(tmp_path / "input.jpg", b"pixels")
    table.digest(path)
    table.forget(path)
    table.digest(path)
    assert table.hashes == 2


def test_a_missing_file_is_an_error(table: StatTable, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        table.digest(tmp_path / "absent.jpg")


def _digest_all(db: str, folder: str) -> dict[str, str]:
    table = StatTable(Path(db))
    paths = sorted(Path(folder).iterdir())
    found = {}
    for _ in range(5):
        found = {str(path): digest for path, digest in table.digest_many(paths).items()}
        table.forget(paths[0])
    return found


@pytest.mark.slow
def test_two_processes_share_one_table(tmp_path: Path, old_file) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    for n in range(30):
        old_file(folder / f"{n}.bin", os.urandom(2000))
    db = tmp_path / "state.db"
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_digest_all, str(db), str(folder)) for _ in range(4)]
        results = [future.result(timeout=120) for future in futures]
    expected = {str(path): digest_bytes(path.read_bytes()) for path in folder.iterdir()}
    assert all(result == expected for result in results)
    table = StatTable(db)
    table.digest_many(sorted(folder.iterdir()))
    assert table.hashes <= 1


def test_an_in_place_rewrite_that_keeps_size_and_mtime_is_rehashed(
    table: StatTable, tmp_path: Path, old_file
) -> None:
    """``touch -r`` after an edit: same path, size, mtime and inode; only the ctime moved."""
    path = old_file(tmp_path / "input.jpg", b"AAAA")
    table.digest(path)
    stat = path.stat()
    with path.open("r+b") as handle:
        handle.write(b"BBBB")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ino,
    )
    assert table.digest(path) == digest_bytes(b"BBBB")


def test_a_table_from_before_ctime_was_kept_is_replaced(tmp_path: Path, old_file) -> None:
    old = sqlite3.connect(tmp_path / "state.db")
    old.execute(
        "CREATE TABLE stat (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT"
        " NULL, inode INTEGER NOT NULL, hashed_ns INTEGER NOT NULL, digest TEXT NOT NULL)"
    )
    old.commit()
    old.close()
    path = old_file(tmp_path / "input.jpg", b"pixels")
    assert StatTable(tmp_path / "state.db").digest(path) == digest_bytes(b"pixels")
