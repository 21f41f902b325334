"""Placing outputs: inside the output folder only, replaced whole, linked or copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline
from _run_support import CountingBackend, copy_photos

from ffpipe.cache.workspace import Workspace
from ffpipe.pipeline import load_pipeline
from ffpipe.run.outputs import OutputPathError, destination, place
from ffpipe.run.runner import RunOptions, RunSummary, run_pipeline


@pytest.mark.parametrize("name", ["../up", "a/../../up", "/etc/passwd", "", "."])
def test_names_that_escape_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(OutputPathError):
        destination(tmp_path / "out", name, Path("x.jpg"))


def test_symlinked_folder_cannot_be_used_to_escape(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(tmp_path)
    with pytest.raises(OutputPathError):
        destination(out, "link/stolen.jpg", Path("x.jpg"))


def test_extension_comes_from_the_artifact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert destination(out, "portrait", Path("a/b.jpg")) == (out / "portrait.jpg").resolve()
    assert destination(out, "sub/p.png", Path("b.jpg")) == (out / "sub" / "p.png").resolve()


def test_place_replaces_files_and_folders(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.jpg"
    artifact.write_bytes(b"new")
    target = tmp_path / "out" / "p.jpg"
    target.parent.mkdir()
    target.write_bytes(b"old")
    place(artifact, target)
    assert target.read_bytes() == b"new"
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0001.png").write_bytes(b"f")
    place(frames, tmp_path / "out" / "frames")
    assert (tmp_path / "out" / "frames" / "0001.png").read_bytes() == b"f"
    place(frames, tmp_path / "out" / "frames")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["frames", "p.jpg"]


def test_placing_the_same_artifact_again_leaves_nothing_behind(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.jpg"
    artifact.write_bytes(b"same")
    target = tmp_path / "out" / "p.jpg"
    place(artifact, target)
    place(artifact, target)
    assert [p.name for p in target.parent.iterdir()] == ["p.jpg"]
    assert target.read_bytes() == b"same"


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_an_interrupted_placement_leaves_the_old_output_and_no_partial_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    artifact = tmp_path / "artifact"
    if kind == "file":
        artifact.write_bytes(b"new")
    else:
        artifact.mkdir()
        (artifact / "0001.png").write_bytes(b"new")
    target = tmp_path / "out" / "result"
    target.parent.mkdir()
    target.write_bytes(b"old")

    def copy_then_ctrl_c(source: str, destination: str) -> None:
        # Stands in for a Ctrl-C arriving halfway through copying a large file across disks.
        Path(destination).write_bytes(b"ne")
        raise KeyboardInterrupt

    monkeypatch.setattr("ffpipe.run.outputs._clone_or_copy", copy_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        place(artifact, target)
    assert [p.name for p in target.parent.iterdir()] == ["result"]
    assert target.read_bytes() == b"old"


def test_place_refuses_bytes_that_disagree_with_the_name(tmp_path: Path) -> None:
    photo = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
    target = tmp_path / "out" / "result.png"
    with pytest.raises(OutputPathError, match="named as PNG but the step wrote JPEG"):
        place(photo, target)
    assert not target.exists()
    place(photo, tmp_path / "out" / "result.jpeg")
    assert (tmp_path / "out" / "result.jpeg").read_bytes() == photo.read_bytes()


def _inode(path: Path) -> tuple[int, int]:
    info = path.stat()
    return (info.st_dev, info.st_ino)


def test_a_placed_file_never_shares_bytes_with_the_artifact(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.jpg"
    artifact.write_bytes(b"stored")
    artifact.chmod(0o444)
    target = tmp_path / "out" / "p.jpg"
    place(artifact, target)
    assert _inode(target) != _inode(artifact) and target.stat().st_nlink == 1
    with target.open("r+b") as handle:  # an in-place edit, as an editor saving over it would
        handle.write(b"EDITED")
    assert artifact.read_bytes() == b"stored"


def test_a_placed_folder_never_shares_bytes_with_the_artifact(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0001.png").write_bytes(b"frame")
    place(frames, tmp_path / "out" / "frames")
    placed = tmp_path / "out" / "frames" / "0001.png"
    assert _inode(placed) != _inode(frames / "0001.png")


def test_an_edited_output_is_restored_and_an_unchanged_one_left_alone(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.jpg"
    artifact.write_bytes(b"stored bytes")
    target = tmp_path / "out" / "p.jpg"
    assert place(artifact, target) is True
    before = target.stat()
    assert place(artifact, target) is False
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    with target.open("r+b") as handle:  # same size, same mtime: only the bytes tell
        handle.write(b"EDITED")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert place(artifact, target) is True
    assert target.read_bytes() == b"stored bytes"


def test_an_output_left_hard_linked_by_an_older_version_is_unlinked(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.jpg"
    artifact.write_bytes(b"stored")
    target = tmp_path / "out" / "p.jpg"
    target.parent.mkdir()
    os.link(artifact, target)
    place(artifact, target)
    assert _inode(target) != _inode(artifact) and target.read_bytes() == b"stored"


CHAIN = """
    version: 1
    name: chain
    params:
      age: {type: integer, default: 30}
    inputs:
      a: astronaut.jpg
    steps:
      enhance_a:
        uses: enhance
        with:
          target_media: "{{ inputs.a }}"
      edit_a:
        uses: edit
        with:
          target_media: "{{ steps.enhance_a.output }}"
          face_editor_age: "{{ params.age }}"
    outputs:
      enhanced: "{{ steps.enhance_a.output }}"
      a: "{{ steps.edit_a.output }}"
"""


def _run(folder: Path, backend: CountingBackend, age: str = "30") -> RunSummary:
    pipeline = load_pipeline(folder / "pipe.yaml", {"age": age})
    return run_pipeline(
        pipeline, Workspace(folder / ".ffpipe"), backend, RunOptions(out_dir=folder / "out")
    )


def _blob_inodes(workspace: Path) -> set[tuple[int, int]]:
    return {_inode(path) for path in (workspace / "objects").rglob("*") if path.is_file()}


def _edit_in_place(path: Path) -> None:
    path.chmod(0o644)
    with path.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"EDITED BY HAND")


def test_editing_an_output_never_reaches_the_cache(tmp_path: Path) -> None:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, CHAIN)
    backend = CountingBackend()
    _run(tmp_path, backend)
    enhanced = tmp_path / "out" / "enhanced.jpg"
    good = enhanced.read_bytes()
    assert not {_inode(enhanced), _inode(tmp_path / "out" / "a.jpg")} & _blob_inodes(
        tmp_path / ".ffpipe"
    )
    _edit_in_place(enhanced)
    again = _run(tmp_path, backend)
    assert {outcome.status for outcome in again.steps.values()} == {"cached"}
    assert enhanced.read_bytes() == good  # restored from the cache
    _run(tmp_path, backend, age="60")  # the downstream step runs on the cached, unedited bytes
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    copy_photos(fresh)
    write_pipeline(fresh, CHAIN)
    _run(fresh, CountingBackend(), age="60")
    assert (tmp_path / "out" / "a.jpg").read_bytes() == (fresh / "out" / "a.jpg").read_bytes()


def test_a_cache_object_edited_through_an_old_hard_link_is_noticed(tmp_path: Path) -> None:
    """Workspaces written before outputs were copies may hold objects that were edited by hand."""
    copy_photos(tmp_path)
    write_pipeline(tmp_path, CHAIN)
    backend = CountingBackend()
    _run(tmp_path, backend)
    good = (tmp_path / "out" / "a.jpg").read_bytes()
    entry = Workspace(tmp_path / ".ffpipe")
    [digest] = [
        stored.outputs["output"]
        for stored in entry.steps.entries()
        if stored.instance_id == "enhance_a"
    ]
    blob = entry.objects.path(digest)
    stat = blob.stat()
    _edit_in_place(blob)
    os.utime(blob, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as `touch -r` would leave it
    entry.close()
    again = _run(tmp_path, backend)
    assert again.steps["enhance_a"].status == "ran"
    assert (tmp_path / "out" / "a.jpg").read_bytes() == good
