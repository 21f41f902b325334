"""A variable-frame-rate source (as phones record): what becomes of its frames, said plainly.

The clip is made here with PyAV from the sample portrait: 72 frames whose gaps alternate between
short and long (irregular pts, as a phone's .mov has), in a container whose header gives one rate.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from ffpipe.catalog.ops import VideoParams
from ffpipe.engine.api import RunContext
from ffpipe.engine.builtin.video import process_video

MEDIA = Path(__file__).resolve().parent.parent / "media"
FRAMES = 72
# Gaps in 1/600 s: 10 (60 fps), then 30 (20 fps), then 20 (30 fps), repeating: 30 fps on average.
GAPS = (10, 30, 20)


def _vfr_clip(path: Path, gaps: tuple[int, ...]) -> Path:
    portrait = cv2.cvtColor(cv2.imread(str(MEDIA / "astronaut.jpg")), cv2.COLOR_BGR2RGB)
    portrait = cv2.resize(portrait, (256, 256))
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 600)
        pts = 0
        for number in range(FRAMES):
            # Each frame differs (a moving bar) so no encoder merges them.
            image = portrait.copy()
            image[:, (number * 3) % 256] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 600)
            output.mux(stream.encode(frame))
            pts += gaps[number % len(gaps)]
        output.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = _vfr_clip(tmp_path_factory.mktemp("vfr") / "phone.mov", GAPS)
    with av.open(str(clip)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    gaps = np.diff(times)
    assert len(times) == FRAMES and gaps.max() > 2.5 * gaps.min(), "the clip is not irregular"
    return clip


def _run(target: Path, out: Path, **params) -> dict:
    settings = VideoParams(target_media=str(target), output_path="out.mp4", **params)
    return process_video(target, None, settings, RunContext(out)).result


def test_resampling_a_variable_rate_source_is_said_with_its_counts(vfr_clip, tmp_path):
    result = _run(vfr_clip, tmp_path)
    assert result["frames_in"] == FRAMES
    warnings = result.get("warnings", [])
    assert len(warnings) == 1, result
    line = warnings[0]
    assert "variable frame rate" in line and "phone.mov" in line and "output_video_fps" in line
    assert f"its {FRAMES} frames" in line and f"({result['frames_out']} out)" in line
    assert "shown at another time" in line


def test_a_regular_source_is_not_warned_about(tmp_path):
    clip = _vfr_clip(tmp_path / "even.mov", (20,))
    result = _run(clip, tmp_path / "out")
    assert result["frames_in"] == result["frames_out"] == FRAMES
    assert "warnings" not in result


def test_an_asked_rate_is_not_warned_about(vfr_clip, tmp_path):
    result = _run(vfr_clip, tmp_path, output_video_fps=25)
    assert "warnings" not in result
