"""The object store: atomic, read-only, deduplicated, verified on demand, safe for two writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from ffpipe.cache.errors import CacheError, CacheMiss, CorruptObject
from ffpipe.cache.fingerprint import digest_bytes
from ffpipe.cache.objects import ObjectStore, is_tree

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "objects")


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_put_file_stores_a_read_only_copy_under_its_digest(store: ObjectStore) -> None:
    digest = store.put_file(ASTRONAUT)
    assert digest == digest_bytes(ASTRONAUT.read_bytes())
    stored = store.path(digest)
    assert stored.read_bytes() == ASTRONAUT.read_bytes()
    assert stored.stat().st_mode & 0o777 == 0o444
    assert ASTRONAUT.exists()


def test_second_put_of_the_same_bytes_leaves_the_object_alone(
    store: ObjectStore, tmp_path: Path
) -> None:
    first = store.put_bytes(b"same bytes")
    before = store.path(first).stat()
    second = store.put_file(_write(tmp_path / "copy", b"same bytes"))
    after = store.path(first).stat()
    assert first == second
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert len(list(store.iter_objects())) == 1
    assert list(store.tmp_dir.iterdir()) == []


def test_move_hands_the_file_over(store: ObjectStore, tmp_path: Path) -> None:
    source = _write(tmp_path / "work" / "out.png", b"rendered")
    digest = store.put_file(source, move=True)
    assert not source.exists()
    assert store.path(digest).read_bytes() == b"rendered"
    duplicate = _write(tmp_path / "work" / "again.png", b"rendered")
    assert store.put_file(duplicate, move=True) == digest
    assert not duplicate.exists()


def test_a_known_digest_skips_reading_and_a_wrong_one_is_refused(
    store: ObjectStore, tmp_path: Path
) -> None:
    digest = store.put_bytes(b"input")
    # The object is already stored, so the (absent) file is never opened.
    assert store.put_file(tmp_path / "not-there", digest=digest) == digest
    changed = _write(tmp_path / "changed", b"input, edited")
    with pytest.raises(CacheError, match="changed while being stored"):
        store.put_file(changed, digest=digest_bytes(b"something else"))


def test_absent_objects_miss(store: ObjectStore) -> None:
    absent = digest_bytes(b"never stored")
    assert not store.has(absent)
    with pytest.raises(CacheMiss):
        store.path(absent)
    with pytest.raises(CacheMiss):
        store.path("tree:" + absent)


def test_corrupt_object_is_caught_on_verified_read_and_quarantined(
    store: ObjectStore, damage
) -> None:
    digest = store.put_file(ASTRONAUT)
    damage(store.path(digest))
    assert store.path(digest) is not None  # an unverified read trusts the name
    with pytest.raises(CorruptObject, match="corrupt"):
        store.path(digest, verify=True)
    assert not store.has(digest)
    assert store.put_file(ASTRONAUT) == digest
    assert store.path(digest, verify=True).read_bytes() == ASTRONAUT.read_bytes()


def test_verify_removes_exactly_the_corrupt_objects(store: ObjectStore, damage) -> None:
    good = [store.put_bytes(f"good {n}".encode()) for n in range(5)]
    bad = [store.put_bytes(f"bad {n}".encode()) for n in range(2)]
    for digest in bad:
        damage(store.path(digest))
    assert store.verify() == sorted(bad)
    assert all(store.has(digest) for digest in good)
    assert not any(store.has(digest) for digest in bad)
    assert store.verify() == []


def test_iter_objects_and_remove(store: ObjectStore) -> None:
    digests = {store.put_bytes(b"a" * size): size for size in (1, 10, 100)}
    assert {info.digest: info.size for info in store.iter_objects()} == digests
    first = next(iter(digests))
    store.remove(first)
    store.remove(first)
    assert not store.has(first)
    assert len(list(store.iter_objects())) == 2


def _tree(folder: Path) -> dict[str, bytes]:
    files = {"frame_0001.png": b"one", "frame_0002.png": b"two", "meta/info.json": b"{}"}
    for name, data in files.items():
        _write(folder / name, data)
    return files


def test_trees_round_trip_through_a_materialised_folder(store: ObjectStore, tmp_path: Path) -> None:
    files = _tree(tmp_path / "frames")
    digest = store.put_tree(tmp_path / "frames")
    assert is_tree(digest) and digest.startswith("tree:sha256:")
    assert store.manifest(digest) == {name: digest_bytes(data) for name, data in files.items()}
    folder = store.path(digest)
    found = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}
    assert found == files
    assert store.path(digest) == folder
    assert store.has(digest)
    assert store.size(digest) == sum(map(len, files.values())) + len(
        store.path(digest.removeprefix("tree:")).read_bytes()
    )


def test_tree_digest_depends_on_content_and_names_only(store: ObjectStore, tmp_path: Path) -> None:
    _tree(tmp_path / "a")
    _tree(tmp_path / "b")
    assert store.put_tree(tmp_path / "a") == store.put_tree(tmp_path / "b")
    (tmp_path / "b" / "frame_0002.png").write_bytes(b"TWO")
    assert store.put_tree(tmp_path / "a") != store.put_tree(tmp_path / "b")
    _tree(tmp_path / "c")
    (tmp_path / "c" / "frame_0001.png").rename(tmp_path / "c" / "frame_0000.png")
    assert store.put_tree(tmp_path / "a") != store.put_tree(tmp_path / "c")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert store.path(store.put_tree(empty)).is_dir()


def test_corrupt_tree_member_is_caught_and_its_folder_rebuilt(
    store: ObjectStore, tmp_path: Path, damage
) -> None:
    _tree(tmp_path / "frames")
    digest = store.put_tree(tmp_path / "frames")
    store.path(digest)
    member = store.manifest(digest)["frame_0001.png"]
    damage(store.path(member))
    with pytest.raises(CorruptObject):
        store.path(digest, verify=True)
    assert not store.has(digest)
    assert store.verify() == []
    assert store.materialised_trees() == []
    assert store.put_tree(tmp_path / "frames") == digest
    assert (store.path(digest, verify=True) / "frame_0001.png").read_bytes() == b"one"


def test_verify_drops_a_materialised_tree_holding_a_corrupt_member(
    store: ObjectStore, tmp_path: Path, damage
) -> None:
    _tree(tmp_path / "frames")
    digest = store.put_tree(tmp_path / "frames")
    store.path(digest)
    member = store.manifest(digest)["meta/info.json"]
    damage(store.path(member))
    assert store.verify() == [member]
    assert store.materialised_trees() == []


_KILLED_PUT = """
import sys
from pathlib import Path
from ffpipe.cache.objects import ObjectStore
ObjectStore(Path(sys.argv[1])).put_file(Path(sys.argv[2]))
"""


def _open_writer(fifo: Path, reader: subprocess.Popen[bytes]) -> int:
    """Open the FIFO for writing once the child has it open for reading (bounded wait)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            assert reader.poll() is None, "the child died before reading"
            assert time.monotonic() < deadline, "the child never opened the FIFO"
            time.sleep(0.01)
            continue
        os.set_blocking(descriptor, True)
        return descriptor


def test_a_writer_killed_mid_put_leaves_no_object(store: ObjectStore, tmp_path: Path) -> None:
    # A FIFO feeds the child exactly as much as we choose, so it is surely mid-write when killed.
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    child = subprocess.Popen([sys.executable, "-c", _KILLED_PUT, str(store.root), str(fifo)])
    try:
        writer = _open_writer(fifo, child)
        written = 0
        chunk = os.urandom(1 << 16)
        while written < 3 << 20:
            written += os.write(writer, chunk)
        deadline = time.monotonic() + 30
        while sum(p.stat().st_size for p in store.tmp_dir.iterdir()) < 2 << 20:
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        os.close(writer)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert list(store.iter_objects()) == []
    assert list(store.tmp_dir.iterdir()), "the partial write stays in tmp/, outside the store"
    digest = store.put_file(ASTRONAUT)
    assert store.verify() == []
    assert store.path(digest, verify=True).read_bytes() == ASTRONAUT.read_bytes()
    store.clear_scratch()
    assert list(store.tmp_dir.iterdir()) == []


def _put_everything(root: str, source: str) -> list[str]:
    store = ObjectStore(Path(root))
    digests = [store.put_bytes(f"object {n}".encode() * (n + 1) * 500) for n in range(40)]
    digests.append(store.put_file(Path(source) / "frame_0001.png"))
    tree = store.put_tree(Path(source))
    store.path(tree)
    digests.append(tree)
    return digests


@pytest.mark.slow
def test_two_processes_writing_the_same_objects_agree(store: ObjectStore, tmp_path: Path) -> None:
    _tree(tmp_path / "frames")
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = [
            pool.submit(_put_everything, str(store.root), str(tmp_path / "frames"))
            for _ in range(4)
        ]
        results = [future.result(timeout=120) for future in futures]
    assert all(result == results[0] for result in results)
    assert store.verify() == []
    assert all(store.has(digest) for digest in results[0])
    assert list(store.tmp_dir.iterdir()) == []
    assert (store.path(results[0][-1]) / "meta" / "info.json").read_bytes() == b"{}"


def test_moving_a_file_with_other_names_copies_it_and_leaves_them_alone(
    store: ObjectStore, tmp_path: Path
) -> None:
    original = _write(tmp_path / "user" / "input.jpg", b"user's photo")
    linked = tmp_path / "work" / "output.jpg"
    linked.parent.mkdir()
    os.link(original, linked)
    digest = store.put_file(linked, move=True)
    assert not linked.exists()
    assert original.read_bytes() == b"user's photo"
    assert original.stat().st_mode & 0o200, "the user's file must stay writable"
    assert store.path(digest).stat().st_ino != original.stat().st_ino


def test_moving_a_symlink_stores_its_target_not_the_link(
    store: ObjectStore, tmp_path: Path
) -> None:
    target = _write(tmp_path / "user" / "input.jpg", b"pointed at")
    link = tmp_path / "work" / "output.jpg"
    link.parent.mkdir()
    link.symlink_to(target)
    digest = store.put_file(link, move=True)
    assert not store.path(digest).is_symlink()
    assert store.path(digest).read_bytes() == b"pointed at"
    assert target.exists() and not link.exists()


def test_moving_a_stored_object_onto_itself_keeps_it(store: ObjectStore, tmp_path: Path) -> None:
    # A backend that passes its input through may hand back a hard link to the stored object.
    digest = store.put_bytes(b"passed through")
    passthrough = tmp_path / "work" / "output.jpg"
    passthrough.parent.mkdir()
    os.link(store.path(digest), passthrough)
    assert store.put_file(passthrough, move=True) == digest
    assert store.put_file(store.path(digest), move=True) == digest
    assert store.path(digest, verify=True).read_bytes() == b"passed through"
