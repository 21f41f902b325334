"""Placing outputs: inside the output folder only, replaced whole, linked or copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.run.outputs import OutputPathError, destination, place


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

    monkeypatch.setattr("ffpipe.run.outputs._link_or_copy", copy_then_ctrl_c)
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
