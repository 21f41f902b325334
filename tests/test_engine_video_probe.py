"""Recognising videos by content and reading their properties."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.engine.api import MediaError
from ffpipe.engine.builtin.video import is_video, probe

MEDIA = Path(__file__).resolve().parent.parent / "media"


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory, make_video) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("probe")
    return {
        "mp4": make_video(folder / "a.mp4", fps=25, seconds=1.2, width=320, height=240),
        "webm": make_video(
            folder / "b.webm", fps=15, seconds=1.0, width=160, height=120, codec="libvpx-vp9"
        ),
        "mkv": make_video(folder / "c.mkv", fps=30, seconds=0.5, tone_hz=None, codec="libx265"),
    }


def test_probe_reads_what_was_written(videos: dict[str, Path]) -> None:
    info = probe(videos["mp4"])
    assert (info.frames, info.fps, info.width, info.height) == (30, 25.0, 320, 240)
    assert (info.codec, info.audio) == ("h264", True)
    assert info.duration == pytest.approx(1.2, abs=0.01)
    webm = probe(videos["webm"])
    assert (webm.frames, webm.fps, webm.codec, webm.audio) == (15, 15.0, "vp9", True)
    mkv = probe(videos["mkv"])
    assert (mkv.frames, mkv.codec, mkv.audio) == (15, "hevc", False)


def test_the_sample_clip(tmp_path: Path) -> None:
    info = probe(MEDIA / "clip.mp4")
    assert (info.frames, info.fps, info.width, info.height, info.audio) == (180, 30, 640, 360, True)
    assert (MEDIA / "clip.mp4").stat().st_size < 1_000_000


def test_is_video_judges_content_not_names(videos: dict[str, Path], tmp_path: Path) -> None:
    assert all(is_video(path) for path in videos.values())
    disguised = tmp_path / "photo.mp4"
    disguised.write_bytes((MEDIA / "astronaut.jpg").read_bytes())
    renamed = tmp_path / "movie.jpg"
    renamed.write_bytes(videos["mp4"].read_bytes())
    text = tmp_path / "notes.mp4"
    text.write_text("hello\n")
    assert not is_video(MEDIA / "astronaut.jpg")
    assert not is_video(disguised)
    assert is_video(renamed)
    assert not is_video(text)
    assert not is_video(tmp_path / "missing.mp4")


def test_probe_errors_are_media_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"missing\.mp4: no such file"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(MediaError, match=r"astronaut\.jpg is not a video"):
        probe(MEDIA / "astronaut.jpg")
