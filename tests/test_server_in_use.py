"""The registry of files in-flight requests hold (ffpipe.server.in_use)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.server.in_use import InUse


def test_a_path_held_by_two_requests_stays_held_until_both_end(tmp_path: Path) -> None:
    upload = tmp_path / "uploads" / "abc" / "photo.jpg"
    in_use = InUse()
    with in_use.claim(upload):
        with in_use.claim(upload):
            assert in_use.holds(upload.parent)
        assert in_use.holds(upload.parent), "the first request still reads it"
    assert not in_use.holds(upload.parent)


def test_paths_added_while_a_request_runs_end_with_it(tmp_path: Path) -> None:
    in_use = InUse()
    with pytest.raises(OSError), in_use.claim() as claim:
        claim.add(tmp_path / "outputs" / "r1")
        assert in_use.holds(tmp_path / "outputs" / "r1" / "out.png")
        raise OSError("disk full")
    assert not in_use.holds(tmp_path / "outputs" / "r1")


def test_a_relative_or_linked_folder_names_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real"
    (real / "uploads" / "abc").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    monkeypatch.chdir(tmp_path)
    in_use = InUse()
    with in_use.claim(real / "uploads" / "abc" / "photo.jpg"):
        assert in_use.holds(Path("link") / "uploads" / "abc")
        assert not in_use.holds(Path("link") / "uploads" / "abd")


def test_what_a_watched_queue_holds_counts_at_every_check(tmp_path: Path) -> None:
    queued: list[Path] = []
    in_use = InUse()
    in_use.watch(lambda: list(queued))
    upload = tmp_path / "uploads" / "abc"
    assert not in_use.holds(upload)
    queued.append(upload / "photo.jpg")
    assert in_use.holds(upload)
    with in_use.unless_in_use(upload) as free:
        assert not free
    queued.clear()
    with in_use.unless_in_use(upload) as free:
        assert free


def test_the_uploads_folder_of_two_siblings_is_not_one_of_them(tmp_path: Path) -> None:
    in_use = InUse()
    with in_use.claim(tmp_path / "uploads" / "abc"):
        assert not in_use.holds(tmp_path / "uploads" / "abcd")
        assert in_use.holds(tmp_path / "uploads")
