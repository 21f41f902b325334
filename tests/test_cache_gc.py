"""Garbage collection by age and by size, sparing what is kept and what is still referenced."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ffpipe.cache.errors import WorkspaceBusy
from ffpipe.cache.gc import collect
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace

DAY = 86400.0


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    with Workspace(tmp_path / ".ffpipe") as opened:
        yield opened


def _keys(workspace: Workspace) -> set[str]:
    return {entry.instance_id for entry in workspace.steps.entries()}


def _outputs_stored(workspace: Workspace, entry: StepEntry) -> bool:
    return all(workspace.objects.has(digest) for digest in entry.outputs.values())


def test_gc_by_age_drops_old_entries_and_only_their_own_objects(
    workspace: Workspace, store_entry
) -> None:
    now = time.time()
    old = store_entry(
        workspace, "old", {"output": b"old", "mask": b"shared"}, last_used=now - 10 * DAY
    )
    recent = store_entry(
        workspace, "recent", {"output": b"recent", "mask": b"shared"}, last_used=now - DAY
    )
    report = collect(workspace, older_than=7 * DAY)
    assert [entry.key for entry in report.removed_entries] == [old.key]
    assert _keys(workspace) == {"recent"}
    assert not workspace.objects.has(old.outputs["output"])
    assert _outputs_stored(workspace, recent)
    assert report.removed_objects == 1 and report.freed_bytes == len(b"old")
    assert report.remaining_entries == 1


def test_gc_by_size_drops_least_recently_used_first(workspace: Workspace, store_entry) -> None:
    now = time.time()
    entries = [
        store_entry(workspace, f"step{n}", {"output": bytes([n]) * 1000}, last_used=now - 100 + n)
        for n in range(3)
    ]
    report = collect(workspace, max_size=2100)
    assert [entry.instance_id for entry in report.removed_entries] == ["step0"]
    assert report.remaining_bytes == 2000 and report.freed_bytes == 1000
    assert not _outputs_stored(workspace, entries[0])
    assert all(_outputs_stored(workspace, entry) for entry in entries[1:])
    assert collect(workspace, max_size=0).remaining_entries == 0
    assert list(workspace.objects.iter_objects()) == []


def test_keep_spares_entries_and_objects(workspace: Workspace, store_entry) -> None:
    now = time.time()
    kept = store_entry(workspace, "kept", {"output": b"kept"}, last_used=now - 30 * DAY)
    store_entry(workspace, "dropped", {"output": b"dropped"}, last_used=now - 30 * DAY)
    loose = workspace.objects.put_bytes(b"downloaded input")
    report = collect(workspace, max_size=0, older_than=DAY, keep={kept.key, loose})
    assert _keys(workspace) == {"kept"}
    assert _outputs_stored(workspace, kept)
    assert workspace.objects.has(loose)
    assert [entry.instance_id for entry in report.removed_entries] == ["dropped"]


def test_gc_removes_unreferenced_objects_and_scratch(workspace: Workspace, store_entry) -> None:
    entry = store_entry(workspace, "swap", {"output": b"swapped"})
    orphan = workspace.objects.put_bytes(b"left by a crashed run")
    (workspace.objects.tmp_dir / "put-partial").write_bytes(b"half")
    (workspace.tmp_dir / "step-workdir").mkdir()
    report = collect(workspace)
    assert report.removed_entries == [] and report.removed_objects == 1
    assert not workspace.objects.has(orphan)
    assert _outputs_stored(workspace, entry)
    assert list(workspace.objects.tmp_dir.iterdir()) == []
    assert list(workspace.tmp_dir.iterdir()) == []


def test_gc_drops_the_named_views_of_the_objects_it_removes(
    workspace: Workspace, store_entry
) -> None:
    kept = store_entry(workspace, "swap", {"output": b"swapped"}).outputs["output"]
    orphan = workspace.objects.put_bytes(b"no entry uses this")
    views = {}
    for digest in (kept, orphan):
        folder = workspace.names_dir / digest.removeprefix("sha256:")
        folder.mkdir(parents=True)
        views[digest] = folder / "photo.jpg"
        views[digest].symlink_to(workspace.objects.path(digest))
    collect(workspace)
    assert views[kept].read_bytes() == b"swapped"
    assert not views[orphan].parent.exists()


def test_gc_keeps_tree_members_used_by_a_surviving_entry(
    workspace: Workspace, tmp_path: Path, store_entry
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0001.png").write_bytes(b"frame one")
    (frames / "0002.png").write_bytes(b"frame two")
    tree = workspace.objects.put_tree(frames)
    workspace.objects.path(tree)
    now = time.time()
    workspace.steps.put(
        "sha256:frames",
        StepEntry("sha256:frames", "clip", "extract", {"frames": tree}, last_used=now - 30 * DAY),
    )
    survivor = store_entry(workspace, "swap", {"output": b"frame one"}, last_used=now)
    collect(workspace, older_than=DAY)
    assert not workspace.objects.has(tree)
    assert workspace.objects.materialised_trees() == []
    assert _outputs_stored(workspace, survivor)
    assert len(list(workspace.objects.iter_objects())) == 1


def test_gc_waits_for_running_pipelines(workspace: Workspace) -> None:
    with workspace.lock(shared=True), pytest.raises(WorkspaceBusy):
        collect(workspace, lock_timeout=0.2)
