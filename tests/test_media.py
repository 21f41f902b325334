"""``ffpipe.media``: what a file is, by content, on the project's own sample media."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ffpipe.media import (
    ASYNC_VIDEO_SECONDS,
    AVI,
    JPEG,
    MKV,
    MOV,
    MP4,
    PNG,
    WEBM,
    MediaType,
    UnreadableMedia,
    is_video,
    name_for,
    probe,
    requires_job,
    sniff,
    sniff_file,
    type_of_name,
)

MEDIA = Path(__file__).resolve().parent.parent / "media"


def test_the_sample_clip_is_a_video_with_audio() -> None:
    info = probe(MEDIA / "clip.mp4")
    assert is_video(MEDIA / "clip.mp4")
    assert (info.width, info.height, info.audio) == (640, 360, True)
    assert info.frames == round(info.duration * info.fps)


def test_photos_and_text_are_not_videos(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert not is_video(MEDIA / "astronaut.jpg")
    assert not is_video(text)
    with pytest.raises(UnreadableMedia, match=r"notes\.mp4"):
        probe(text)
    with pytest.raises(UnreadableMedia, match="not a video"):
        probe(MEDIA / "astronaut.jpg")


def test_importing_it_does_not_load_pyav() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, ffpipe.media; print('av' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"


def _still_video(path: Path, seconds: int, fps: int = 2) -> Path:
    """A small video of the astronaut standing still, ``seconds`` long."""
    import av
    import cv2

    image = cv2.resize(cv2.imread(str(MEDIA / "astronaut.jpg")), (64, 64))
    frame = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(seconds * fps):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, "rgb24")))
        container.mux(stream.encode())
    return path


def test_only_videos_over_ten_seconds_require_a_job(tmp_path: Path) -> None:
    assert ASYNC_VIDEO_SECONDS == 10.0
    assert requires_job(_still_video(tmp_path / "long.mp4", seconds=12))
    assert not requires_job(_still_video(tmp_path / "short.mp4", seconds=3))
    assert not requires_job(MEDIA / "astronaut.jpg")
    (tmp_path / "junk.mp4").write_bytes(b"junk")
    assert not requires_job(tmp_path / "junk.mp4")


def test_images_are_told_by_their_first_bytes_without_pyav(tmp_path: Path) -> None:
    clip = _still_video(tmp_path / "clip.mp4", seconds=1)
    renamed = tmp_path / "movie.jpg"
    renamed.write_bytes(clip.read_bytes())
    assert is_video(renamed), "a video named like a photo is a video"
    probe_script = (
        "import sys\n"
        "from ffpipe.media import is_video\n"
        "print(is_video(sys.argv[1]), is_video(sys.argv[2]), 'av' in sys.modules)"
    )
    photo = tmp_path / "photo.mp4"
    photo.write_bytes((MEDIA / "astronaut.jpg").read_bytes())
    answered = subprocess.run(
        [sys.executable, "-c", probe_script, str(photo), str(MEDIA / "astronaut.jpg")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert answered.stdout.split() == ["False", "False", "False"]


def _images(tmp_path: Path) -> dict[str, bytes]:
    import cv2
    from PIL import Image

    pixels = cv2.imread(str(MEDIA / "astronaut.jpg"))[:64, :64]
    suffixes = (".png", ".bmp", ".tif", ".webp")
    encoded = {suffix: cv2.imencode(suffix, pixels)[1].tobytes() for suffix in suffixes}
    gif = tmp_path / "a.gif"
    Image.fromarray(pixels[:, :, ::-1]).save(gif)
    return {**encoded, ".jpg": (MEDIA / "astronaut.jpg").read_bytes(), ".gif": gif.read_bytes()}


def test_images_are_recognised_by_their_bytes(tmp_path: Path) -> None:
    for suffix, content in _images(tmp_path).items():
        assert sniff(content) == type_of_name(f"x{suffix}"), suffix
        assert sniff(content).kind == "image"


@pytest.mark.parametrize(
    ("name", "codec", "expected"),
    [
        ("a.mp4", "libx264", MP4),
        ("a.mov", "libx264", MOV),
        ("a.mkv", "libx264", MKV),
        ("a.webm", "libvpx-vp9", WEBM),
        ("a.avi", "mpeg4", AVI),
    ],
)
def test_videos_are_recognised_by_their_bytes(
    tmp_path: Path, name: str, codec: str, expected: MediaType
) -> None:
    import av
    import numpy as np

    path = tmp_path / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for number in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * number, np.uint8))
            frame.pts = number
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    blob = tmp_path / "blob"
    blob.write_bytes(path.read_bytes())
    assert sniff_file(blob) == expected
    assert expected.kind == "video"


def test_unknown_content_is_none(tmp_path: Path) -> None:
    assert sniff(b"") is None
    assert sniff(b"hello, world") is None
    assert sniff(b"BM" + b"\0" * 40) is None  # "BM" alone is not enough for a bitmap
    assert sniff(b"RIFF\0\0\0\0WAVEfmt ") is None
    assert sniff_file(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("name", "media", "expected"),
    [
        ("blob", PNG, "blob.png"),
        ("photo.jpg", PNG, "photo.png"),
        ("photo.JPEG", JPEG, "photo.JPEG"),
        ("my.holiday", JPEG, "my.holiday.jpg"),
        ("clip.mkv", WEBM, "clip.webm"),
        ("clip", MP4, "clip.mp4"),
        ("notes.txt", None, "notes.txt"),
    ],
)
def test_names_are_made_to_agree_with_the_content(
    name: str, media: MediaType | None, expected: str
) -> None:
    assert name_for(name, media) == expected
