"""Incoming file references stay inside the server's folders; directory outputs are zipped."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ffpipe.server.files import (
    FILE_DATA_MARK,
    FileRejected,
    allowed_path,
    call_objects,
    incoming_path,
    is_file_data,
    named_by_content,
    pack_outputs,
    referenced_files,
)

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    uploads, outputs = tmp_path / "uploads", tmp_path / "outputs"
    uploads.mkdir()
    outputs.mkdir()
    return [uploads, outputs]


def test_a_file_in_the_upload_folder_is_accepted(roots: list[Path]) -> None:
    inside = roots[0] / "abc" / "face.jpg"
    inside.parent.mkdir()
    inside.write_bytes(b"x")
    assert incoming_path("target_media", {"path": str(inside)}, roots) == inside.resolve()


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/../etc/passwd"])
def test_a_path_outside_the_folders_is_refused(roots: list[Path], path: str) -> None:
    with pytest.raises(FileRejected, match="not a file uploaded to this server"):
        incoming_path("target_media", {"path": path}, roots)


def test_dot_dot_out_of_the_upload_folder_is_refused(roots: list[Path], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    sneaky = f"{roots[0]}/../secret.txt"
    with pytest.raises(FileRejected, match="not a file uploaded"):
        incoming_path("source_face", {"path": sneaky}, roots)


def test_a_symlink_leading_out_is_refused(roots: list[Path], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    link = roots[0] / "innocent.jpg"
    link.symlink_to(secret)
    with pytest.raises(FileRejected, match="not a file uploaded"):
        incoming_path("target_media", {"path": str(link)}, roots)


def test_plain_strings_and_urls_are_refused_with_advice(roots: list[Path]) -> None:
    with pytest.raises(FileRejected, match=r"plain path.*handle_file"):
        incoming_path("target_media", "/home/me/face.jpg", roots)
    with pytest.raises(FileRejected, match="a URL"):
        incoming_path("target_media", "http://example.invalid/a.jpg", roots)
    with pytest.raises(FileRejected, match="does not fetch URLs"):
        incoming_path("target_media", {"path": "https://example.invalid/a.jpg"}, roots)
    with pytest.raises(FileRejected, match="FileData"):
        incoming_path("target_media", 42, roots)


def test_a_url_is_refused_saying_to_download_it_and_send_the_file(roots: list[Path]) -> None:
    """gradio_client's ``handle_file(URL)`` sends the URL for the server to fetch: it must
    fetch it itself and send the file."""
    for value in ("https://example.invalid/a.jpg", {"path": "https://example.invalid/a.jpg"}):
        with pytest.raises(FileRejected, match=r"download it.*handle_file\(local_path\)"):
            incoming_path("target_media", value, roots)


def test_a_path_no_file_system_takes_is_refused_not_raised(roots: list[Path]) -> None:
    with pytest.raises(FileRejected, match="not a file uploaded"):
        allowed_path("target_media", {"path": f"{roots[0]}/face\x00.jpg"}, roots)
    with pytest.raises(FileRejected, match="does not exist"):
        allowed_path("target_media", {"path": str(roots[0] / ("a" * 5000))}, roots)
    loop = roots[0] / "loop"
    loop.symlink_to(loop)
    with pytest.raises(FileRejected):
        allowed_path("target_media", {"path": str(loop / "x.jpg")}, roots)


def test_a_missing_upload_is_reported(roots: list[Path]) -> None:
    with pytest.raises(FileRejected, match="does not exist"):
        incoming_path("target_media", {"path": str(roots[0] / "gone.jpg")}, roots)


def test_directory_outputs_are_zipped_deterministically(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(3):
        (frames / f"frame_{index:06d}.png").write_bytes(bytes([index]) * 10)
    single = tmp_path / "out.png"
    single.write_bytes(b"png")
    first = pack_outputs({"output": single, "frames": frames}, tmp_path / "a")
    assert first["output"] == single
    archive = first["frames"]
    assert archive.name == "frames.zip"
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == [f"frame_{i:06d}.png" for i in range(3)]
        assert bundle.read("frame_000002.png") == b"\x02" * 10
    again = pack_outputs({"frames": frames}, tmp_path / "b")
    assert again["frames"].read_bytes() == archive.read_bytes()


def test_an_upload_named_blob_is_worked_on_under_its_content_name(roots: list[Path]) -> None:
    folder = roots[0] / "3f2a"
    folder.mkdir()
    blob = folder / "blob"
    blob.write_bytes(ASTRONAUT.read_bytes())
    typed = incoming_path("target_media", {"path": str(blob)}, roots)
    assert typed == blob.resolve().with_name("blob.jpg")
    assert typed.read_bytes() == blob.read_bytes()
    # A second request for the same upload reuses the copy.
    assert incoming_path("target_media", {"path": str(blob)}, roots) == typed


def test_a_misnamed_upload_gets_the_right_extension(roots: list[Path]) -> None:
    photo = roots[0] / "photo.png"
    photo.write_bytes(ASTRONAUT.read_bytes())
    assert named_by_content(photo) == photo.with_name("photo.jpg")


def test_another_file_under_the_content_name_is_left_alone(roots: list[Path]) -> None:
    blob = roots[0] / "blob"
    blob.write_bytes(ASTRONAUT.read_bytes())
    other = roots[0] / "blob.jpg"
    other.write_bytes(b"someone else's")
    typed = named_by_content(blob)
    assert typed.parent == roots[0] and typed.suffix == ".jpg" and typed != other
    assert typed.read_bytes() == blob.read_bytes()
    assert other.read_bytes() == b"someone else's"


def test_unknown_content_keeps_its_name(roots: list[Path]) -> None:
    notes = roots[0] / "notes"
    notes.write_text("not media")
    assert named_by_content(notes) == notes


def test_an_output_folder_named_like_the_archives_folder_is_zipped_whole(tmp_path: Path) -> None:
    import zipfile

    frames = tmp_path / ".archives"  # what extract_frames with output_path ".archives" writes
    frames.mkdir()
    for index in range(3):
        (frames / f"frame_{index:06d}.png").write_bytes(b"frame %d" % index)
    packed = pack_outputs({"output": frames}, tmp_path)
    with zipfile.ZipFile(packed["output"]) as bundle:
        assert bundle.namelist() == [f"frame_{index:06d}.png" for index in range(3)]
        assert bundle.testzip() is None


def test_referenced_files_are_the_server_files_a_request_names(roots: list[Path]) -> None:
    upload = roots[0] / "abc" / "face.jpg"
    values = [
        {"path": str(upload), "meta": {"_type": "gradio.FileData"}},
        None,
        [{"nested": {"path": str(roots[1] / "r1" / "out.png")}}],
        {"path": "/etc/passwd"},  # not a server file: it holds nothing
        {"path": str(roots[0])},  # the upload folder itself would hold every upload
        {"path": "bad\x00name"},
        {"path": 7},
    ]
    assert sorted(referenced_files(values, roots)) == sorted(
        [upload.resolve(), (roots[1] / "r1" / "out.png").resolve()]
    )


def test_call_objects_walk_as_gradio_does_and_stop_only_at_file_data() -> None:
    marked = {"path": "a", "meta": {"_type": FILE_DATA_MARK}, "x": {"hidden": 1}}
    inner = {"path": "b", "meta": {"_type": FILE_DATA_MARK}}
    unmarked_meta = {"_type": "x", "in": [inner]}
    unmarked = {"path": "c", "meta": unmarked_meta}
    found = list(call_objects([marked, {"k": unmarked}, "text", None]))
    assert found == [marked, {"k": unmarked}, unmarked, unmarked_meta, inner]
    assert is_file_data(marked) and is_file_data(inner)
    assert not is_file_data(unmarked) and not is_file_data({"path": "a", "meta": None})
