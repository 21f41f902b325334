"""extract_frames: the kept frames of a real video as numbered images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ffpipe.catalog.ops import ExtractFramesParams
from ffpipe.engine.api import EngineError, MediaError, RunContext
from ffpipe.engine.builtin.video import extract_frames

MEDIA = Path(__file__).resolve().parent.parent / "media"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, make_video) -> Path:
    """1.5 s at 20 fps (30 frames), 320x240."""
    return make_video(tmp_path_factory.mktemp("src") / "walk.mp4", fps=20, seconds=1.5)


def extract(clip: Path, out_dir: Path, **params):
    return extract_frames(
        clip, ExtractFramesParams(target_media=str(clip), **params), RunContext(out_dir)
    )


@pytest.mark.parametrize("fmt", ["jpg", "png", "bmp"])
def test_every_frame_in_the_asked_format(
    clip: Path, tmp_path: Path, fmt: str, decoded_frames
) -> None:
    output = extract(clip, tmp_path, extract_frame_format=fmt)
    folder = output.files["output"]
    assert folder == tmp_path / "walk_frames" and folder.is_dir()
    names = sorted(path.name for path in folder.iterdir())
    assert names == [f"frame_{number:06d}.{fmt}" for number in range(30)]
    assert output.result["frames"] == 30 and output.result["format"] == fmt
    source = decoded_frames(clip)
    image = cv2.cvtColor(cv2.imread(str(folder / names[17])), cv2.COLOR_BGR2RGB)
    if fmt == "jpg":
        assert np.abs(image.astype(int) - source[17]).mean() < 3
    else:
        assert np.array_equal(image, source[17])


def test_trim_and_rate(clip: Path, tmp_path: Path, decoded_frames) -> None:
    output = extract(clip, tmp_path, trim_frame_start=4, trim_frame_end=24, output_video_fps=10)
    folder = output.files["output"]
    assert len(list(folder.iterdir())) == 10 == output.result["frames"]
    assert output.result["frames_in"] == 20
    first = cv2.cvtColor(cv2.imread(str(folder / "frame_000000.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(first, decoded_frames(clip)[4])


def test_quality_shrinks_jpgs(clip: Path, tmp_path: Path) -> None:
    def total_size(quality: int) -> int:
        folder = extract(
            clip,
            tmp_path / str(quality),
            extract_frame_format="jpg",
            extract_frame_quality=quality,
            trim_frame_end=5,
        ).files["output"]
        return sum(path.stat().st_size for path in folder.iterdir())

    assert total_size(20) < total_size(60) < total_size(95)


@pytest.mark.parametrize("strategy", ["strict", "moderate", "tolerant"])
def test_strategies_write_the_same_frames(
    clip: Path, tmp_path: Path, strategy: str, decoded_frames
) -> None:
    folder = extract(clip, tmp_path, video_memory_strategy=strategy, execution_queue_count=3).files[
        "output"
    ]
    frames = decoded_frames(clip)
    for number in (0, 13, 29):
        image = cv2.imread(str(folder / f"frame_{number:06d}.png"))
        assert np.array_equal(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), frames[number])


def test_output_path_names_the_folder(clip: Path, tmp_path: Path) -> None:
    output = extract(clip, tmp_path, output_path="stills", trim_frame_end=2)
    assert output.files["output"] == tmp_path / "stills"


def test_not_a_video_leaves_nothing(tmp_path: Path) -> None:
    text = tmp_path / "fake.mp4"
    text.write_text("not a video")
    with pytest.raises(MediaError, match=r"fake\.mp4 is not a"):
        extract(text, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_trim_past_the_end(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="trim_frame_start 30 is past the end"):
        extract(clip, tmp_path, trim_frame_start=30)
    assert list(tmp_path.iterdir()) == []
