"""``ffpipe.media``: what a file is, by content, on the project's own sample media."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ffpipe.media import UnreadableMedia, is_video, probe

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
