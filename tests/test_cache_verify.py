"""Verifying a workspace drops exactly the entries whose objects went bad or missing."""

from __future__ import annotations

from pathlib import Path

from ffpipe.cache.steps import StepEntry
from ffpipe.cache.verify import verify_workspace
from ffpipe.cache.workspace import Workspace


def test_a_clean_workspace_verifies_clean(tmp_path: Path, store_entry) -> None:
    with Workspace(tmp_path / ".ffpipe") as workspace:
        store_entry(workspace, "swap", {"output": b"swapped"})
        report = verify_workspace(workspace)
        assert report.clean and report.checked == 1
        assert len(list(workspace.steps.entries())) == 1


def test_corruption_drops_the_entries_that_used_it(tmp_path: Path, store_entry, damage) -> None:
    with Workspace(tmp_path / ".ffpipe") as workspace:
        hit = store_entry(workspace, "swap", {"output": b"swapped", "mask": b"mask"})
        also = store_entry(workspace, "edit", {"output": b"aged", "mask": b"mask"})
        fine = store_entry(workspace, "enhance", {"output": b"enhanced"})
        damage(workspace.objects.path(hit.outputs["mask"]))
        report = verify_workspace(workspace)
        assert not report.clean
        assert report.corrupt == [hit.outputs["mask"]]
        assert {entry.key for entry in report.dropped} == {hit.key, also.key}
        assert [entry.key for entry in workspace.steps.entries()] == [fine.key]
        assert verify_workspace(workspace).clean


def test_tree_members_and_missing_objects_are_caught(tmp_path: Path, store_entry, damage) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0001.png").write_bytes(b"frame one")
    with Workspace(tmp_path / ".ffpipe") as workspace:
        tree = workspace.objects.put_tree(frames)
        workspace.steps.put("sha256:t", StepEntry("sha256:t", "clip", "extract", {"frames": tree}))
        gone = store_entry(workspace, "swap", {"output": b"swapped"})
        workspace.objects.remove(gone.outputs["output"])
        damage(workspace.objects.path(workspace.objects.manifest(tree)["0001.png"]))
        report = verify_workspace(workspace)
        assert {entry.key for entry in report.dropped} == {"sha256:t", gone.key}
        assert report.missing == {gone.key: [gone.outputs["output"]]}
        assert list(workspace.steps.entries()) == []
