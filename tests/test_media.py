"""``ffpipe.media``: what a file is, by content, on the project's own sample media."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ffpipe.media import ASYNC_VIDEO_SECONDS, UnreadableMedia, is_video, probe, requires_job

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
