"""The ffmpeg FaceFusion uses: missing programs named at once, FFmpeg 9's black videos caught.

FFmpeg 9 is the real one the ``imageio-ffmpeg`` wheel ships (9.0.x; a dev dependency); 6.0 is the
one ``make facefusion-env`` puts into FaceFusion's environment. FaceFusion 3.8.1 reads video
frames with ``-vsync 0``, which FFmpeg 9 rejects: unhandled, FaceFusion writes an all-black
video and reports success. The engine tests need FFPIPE_FACEFUSION(_PYTHON)
(tests/_facefusion_support.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from _facefusion_support import FaceFusionInstall, configured_facefusion, session_facefusion
from _video_support import decoded_frames, make_video

from ffpipe.engine.api import RunContext, UnsupportedError
from ffpipe.engine.facefusion import CheckoutError, FaceFusionEngine
from ffpipe.engine.facefusion import ffmpeg as ff_ffmpeg

MEDIA = Path(__file__).resolve().parents[1] / "media"
FFMPEG_9 = imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(
        tmp_path_factory.mktemp("clip") / "clip.mp4", fps=10, seconds=0.6, tone_hz=None
    )


@pytest.fixture(scope="module")
def on_ffmpeg_9(facefusion: FaceFusionInstall) -> Iterator[FaceFusionEngine]:
    engine = FaceFusionEngine(facefusion.root, facefusion.python, ffmpeg=FFMPEG_9)
    yield engine
    engine.close()


def test_the_wheel_ships_ffmpeg_9_and_facefusions_reads_fail_on_it(tmp_path: Path) -> None:
    assert ff_ffmpeg.ffmpeg_version(FFMPEG_9).startswith("9.")
    works, detail = ff_ffmpeg.reads_frames(FFMPEG_9, tmp_path)
    assert not works and "vsync" in detail
    shim = ff_ffmpeg.write_shim(tmp_path / "shim", FFMPEG_9)
    assert ff_ffmpeg.reads_frames(str(shim), tmp_path) == (True, "")


def test_every_missing_program_is_named_in_one_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ff_ffmpeg.MissingPrograms) as raised:
        ff_ffmpeg.require_programs(str(empty))
    assert "cannot find ffmpeg, ffprobe:" in str(raised.value)
    assert "FFmpeg 6, 7 or 8" in str(raised.value)
    (empty / "ffmpeg").symlink_to(FFMPEG_9)
    with pytest.raises(ff_ffmpeg.MissingPrograms, match=r"cannot find ffprobe:"):
        ff_ffmpeg.require_programs(str(empty))


def test_serve_without_ffmpeg_refuses_with_the_missing_programs(tmp_path: Path) -> None:
    """A FaceFusion environment without ffmpeg/ffprobe and none on PATH: one readable line."""
    checkout, python = configured_facefusion()
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(python)
    environment = {**os.environ, "PATH": str(tmp_path / "nothing")}
    answer = subprocess.run(
        [
            *(sys.executable, "-m", "ffpipe", "serve", "--engine", "facefusion"),
            *("--facefusion", str(checkout), "--facefusion-python", str(bare / "python")),
            *("--port", "19002"),  # refused before it listens
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert answer.returncode != 0
    assert "cannot find ffmpeg, ffprobe" in answer.stderr
    assert "TypeError" not in answer.stderr and "Traceback" not in answer.stderr


def test_ffmpeg_9_is_worked_around_and_says_so(
    on_ffmpeg_9: FaceFusionEngine, clip: Path, tmp_path: Path
) -> None:
    report = on_ffmpeg_9.capabilities()["ffmpeg"]
    assert report["version"].startswith("9.") and report["workaround"] == ff_ffmpeg.SHIM_NAME
    assert report["reads_video"] is True and report["problem"] is None
    output = on_ffmpeg_9.run(
        "swap",
        {"target_media": str(clip), "source_face": str(MEDIA / "grace_hopper.jpg")},
        RunContext(out_dir=tmp_path),
    )
    frames = decoded_frames(output.files["output"])
    assert len(frames) == 6
    # Black frames have mean 0; the pan over the photo is far brighter.
    assert min(float(np.mean(frame)) for frame in frames) > 40
    assert any("fps_mode passthrough" in line for line in output.result["emulated"])


def test_without_the_workaround_a_video_op_is_refused_up_front(
    facefusion: FaceFusionInstall, clip: Path, tmp_path: Path
) -> None:
    engine = FaceFusionEngine(
        facefusion.root, facefusion.python, ffmpeg=FFMPEG_9, ffmpeg_workaround=False
    )
    try:
        report = engine.capabilities()["ffmpeg"]
        assert report["reads_video"] is False and "all-black" in report["problem"]
        problems = engine.check([("video", {"target_media": str(clip)})])
        assert len(problems) == 1 and "FFmpeg 6, 7 or 8" in problems[0]
        with pytest.raises(UnsupportedError, match=r"cannot read video with ffmpeg 9\."):
            engine.run("video", {"target_media": str(clip)}, RunContext(out_dir=tmp_path))
        assert not list(tmp_path.iterdir())
        # Images never read video frames: they still run.
        image = engine.run(
            "enhance", {"target_media": str(MEDIA / "astronaut.jpg")}, RunContext(tmp_path)
        )
        assert image.files["output"].is_file()
    finally:
        engine.close()


def test_a_named_ffmpeg_that_is_no_program_is_one_error(
    facefusion: FaceFusionInstall, tmp_path: Path
) -> None:
    with pytest.raises(CheckoutError, match="is not an executable file"):
        FaceFusionEngine(facefusion.root, facefusion.python, ffmpeg=tmp_path / "nope")
