"""process_video on real videos generated from the sample photos, encoded and decoded with PyAV."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from ffpipe.catalog.ops import VideoParams
from ffpipe.engine.api import CancelledError, EngineError, MediaError, RunContext, UnsupportedError
from ffpipe.engine.builtin.video import probe, process_video

pytestmark = pytest.mark.slow  # videos through the engine end to end

MEDIA = Path(__file__).resolve().parent.parent / "media"

FPS = 24
SECONDS = 2.0
FRAMES = 48


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, make_video) -> Path:
    """2 s, 24 fps, 320x240, with a 440 Hz tone."""
    return make_video(tmp_path_factory.mktemp("src") / "pan.mp4", fps=FPS, seconds=SECONDS)


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory: pytest.TempPathFactory, make_video) -> Path:
    return make_video(
        tmp_path_factory.mktemp("src") / "silent.mp4", fps=30, seconds=1.0, tone_hz=None
    )


def run(target: Path, out_dir: Path, frame_fn=None, **params) -> tuple[dict, dict[str, Path]]:
    output = process_video(
        target, frame_fn, VideoParams(target_media=str(target), **params), RunContext(out_dir)
    )
    return output.result, output.files


def test_identity_keeps_frames_rate_size_and_audio(
    clip: Path, tmp_path: Path, stream_codecs, audio_seconds, decoded_frames
) -> None:
    result, files = run(clip, tmp_path)
    info = probe(files["output"])
    assert files["output"] == tmp_path / "pan.mp4"
    assert (info.frames, info.fps, info.width, info.height) == (FRAMES, FPS, 320, 240)
    assert result["frames_in"] == result["frames_out"] == FRAMES
    assert result["resolution"] == "320x240" and result["audio"] is True
    assert stream_codecs(files["output"]) == {"video": "h264", "audio": "aac"}
    assert audio_seconds(files["output"]) == pytest.approx(SECONDS, abs=0.05)
    source, output = decoded_frames(clip), decoded_frames(files["output"])
    # Default quality 80 is CRF 10: close to the source, and in the same colour order.
    assert (
        max(
            np.abs(a.astype(int) - b.astype(int)).mean()
            for a, b in zip(source, output, strict=True)
        )
        < 3
    )


def test_trim_resample_and_resize(clip: Path, tmp_path: Path, audio_seconds) -> None:
    result, files = run(
        clip,
        tmp_path,
        trim_frame_start=6,
        trim_frame_end=42,
        output_video_fps=12,
        output_video_resolution="160x120",
    )
    info = probe(files["output"])
    # 36 frames kept = 1.5 s, at 12 fps = 18 frames.
    assert (info.frames, info.fps, info.width, info.height) == (18, 12, 160, 120)
    assert (result["frames_in"], result["frames_out"], result["duration"]) == (36, 18, 1.5)
    assert audio_seconds(files["output"]) == pytest.approx(1.5, abs=0.05)


@pytest.mark.parametrize(("fps", "frames"), [(30, 60), (48, 96), (10, 20), (29.97, 60)])
def test_output_fps_resamples_by_time(clip: Path, tmp_path: Path, fps: float, frames: int) -> None:
    result, files = run(clip, tmp_path, output_video_fps=fps, skip_audio=True)
    info = probe(files["output"])
    assert info.frames == result["frames_out"] == frames
    assert info.fps == pytest.approx(fps, rel=1e-3)


def test_doubling_the_rate_repeats_each_frame(clip: Path, tmp_path: Path) -> None:
    seen: list[int] = []

    def record(frame: np.ndarray, index: int) -> np.ndarray:
        seen.append(index)
        return frame

    result, _ = run(clip, tmp_path, record, output_video_fps=48, trim_frame_start=10)
    # Each kept source frame is processed once, whatever the repeats.
    assert seen == list(range(10, FRAMES))
    assert result["frames_out"] == 2 * len(seen)


def test_lower_rate_skips_dropped_frames(clip: Path, tmp_path: Path) -> None:
    seen: list[int] = []

    def record(frame: np.ndarray, index: int) -> np.ndarray:
        seen.append(index)
        return frame

    run(clip, tmp_path, record, output_video_fps=12)
    assert seen == list(range(0, FRAMES, 2))


def test_skip_audio_and_silent_sources(
    clip: Path, silent_clip: Path, tmp_path: Path, stream_codecs
) -> None:
    result, files = run(clip, tmp_path / "a", skip_audio=True)
    assert result["audio"] is False and "audio" not in stream_codecs(files["output"])
    result, files = run(silent_clip, tmp_path / "b")
    assert result["audio"] is False and "audio" not in stream_codecs(files["output"])
    assert probe(files["output"]).frames == 30


@pytest.mark.parametrize(
    ("encoder", "name", "codecs"),
    [
        ("libx264", "out.mp4", {"video": "h264", "audio": "aac"}),
        ("libx264", "out.mov", {"video": "h264", "audio": "aac"}),
        ("libx265", "out.mkv", {"video": "hevc", "audio": "aac"}),
        ("libvpx-vp9", "out.webm", {"video": "vp9", "audio": "opus"}),
        ("libvpx-vp9", "out.mp4", {"video": "vp9", "audio": "aac"}),
    ],
)
def test_encoder_and_container(
    clip: Path,
    tmp_path: Path,
    encoder: str,
    name: str,
    codecs: dict[str, str],
    stream_codecs,
    audio_seconds,
) -> None:
    result, files = run(
        clip,
        tmp_path,
        output_video_encoder=encoder,
        output_video_preset="ultrafast",
        output_path=name,
        trim_frame_end=24,
    )
    assert files["output"].name == name
    assert stream_codecs(files["output"]) == codecs
    assert probe(files["output"]).frames == 24
    assert result["encoder"] == encoder
    assert audio_seconds(files["output"]) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    ("encoder", "name"),
    [
        ("libvpx-vp9", "out.webm"),
        ("libx264", "out.mkv"),
        ("libx265", "out.mkv"),
        ("libx264", "out.mov"),
        ("libx264", "out.mp4"),
        ("libx265", "out.mp4"),
    ],
)
def test_every_container_is_byte_identical_across_runs(
    clip: Path, tmp_path: Path, encoder: str, name: str
) -> None:
    # Three runs: Matroska's random segment UID differs on every run, libx264's macroblock-tree
    # drift only now and then. Each run writes through a fresh encoder and muxer.
    written = [
        run(
            clip,
            tmp_path / str(number),
            _marked,
            output_video_encoder=encoder,
            output_video_preset="ultrafast",
            output_path=name,
            trim_frame_end=24,
        )[1]["output"].read_bytes()
        for number in range(3)
    ]
    assert written[0] == written[1] == written[2]


@pytest.mark.parametrize("encoder", ["h264_nvenc", "hevc_nvenc"])
def test_gpu_encoders_are_refused(clip: Path, tmp_path: Path, encoder: str) -> None:
    with pytest.raises(UnsupportedError, match="needs an NVIDIA GPU, not available"):
        run(clip, tmp_path, output_video_encoder=encoder)
    assert list(tmp_path.iterdir()) == []


def test_container_that_cannot_hold_the_codec(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError, match=r"\.webm file cannot hold libx264"):
        run(clip, tmp_path, output_path="out.webm")
    with pytest.raises(UnsupportedError, match=r"cannot write a \.avi video"):
        run(clip, tmp_path, output_path="out.avi")


@pytest.mark.parametrize("encoder", ["libx264", "libvpx-vp9"])
def test_higher_quality_makes_bigger_files(clip: Path, tmp_path: Path, encoder: str) -> None:
    sizes, crfs = [], []
    for quality in (10, 50, 90):
        result, files = run(
            clip,
            tmp_path / str(quality),
            output_video_encoder=encoder,
            output_video_quality=quality,
            output_video_preset="ultrafast",
            output_path="q.mkv",
            skip_audio=True,
        )
        sizes.append(files["output"].stat().st_size)
        crfs.append(result["crf"])
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    assert crfs == sorted(crfs, reverse=True)


@pytest.mark.parametrize("fmt", ["jpg", "png", "bmp"])
def test_keep_temp_writes_the_processed_frames(
    clip: Path, tmp_path: Path, fmt: str, decoded_frames
) -> None:
    def darken(frame: np.ndarray, index: int) -> np.ndarray:
        return frame // 2

    result, files = run(
        clip, tmp_path, darken, keep_temp=True, temp_frame_format=fmt, trim_frame_end=5
    )
    folder = files["frames"]
    assert result["frames_dir"] == str(folder) and folder.is_dir()
    names = sorted(path.name for path in folder.iterdir())
    assert names == [f"frame_{number:06d}.{fmt}" for number in range(5)]
    expected = decoded_frames(clip)[3] // 2
    image = cv2.cvtColor(cv2.imread(str(folder / names[3])), cv2.COLOR_BGR2RGB)
    assert image.shape == expected.shape
    if fmt == "jpg":
        assert np.abs(image.astype(int) - expected).mean() < 2
    else:
        assert np.array_equal(image, expected)


def test_no_temp_frames_without_keep_temp(clip: Path, tmp_path: Path) -> None:
    _, files = run(clip, tmp_path, trim_frame_end=5)
    assert "frames" not in files
    assert [path.name for path in tmp_path.iterdir()] == ["pan.mp4"]


def _marked(frame: np.ndarray, index: int) -> np.ndarray:
    """A deterministic, index-dependent change, so order mistakes show."""
    out = 255 - frame
    out[: 8 + index % 32, :16] = (index * 5) % 256
    return out


def test_memory_strategies_give_identical_frames(
    clip: Path, tmp_path: Path, decoded_frames
) -> None:
    # The frames handed to the encoder are compared exactly (kept as lossless png). The encoded
    # files only loosely: libx264 from the PyAV wheel is not bit-reproducible between runs.
    kept, outputs = {}, {}
    for strategy, workers in (("strict", 1), ("moderate", 1), ("tolerant", 3)):
        result, files = run(
            clip,
            tmp_path / strategy,
            _marked,
            video_memory_strategy=strategy,
            execution_queue_count=workers,
            output_video_fps=30,
            keep_temp=True,
        )
        assert result["frames_out"] == 60
        kept[strategy] = [cv2.imread(str(path)) for path in sorted(files["frames"].iterdir())]
        outputs[strategy] = np.stack(decoded_frames(files["output"])).astype(int)
    reference = np.stack(kept["strict"])
    for strategy in ("moderate", "tolerant"):
        assert np.array_equal(np.stack(kept[strategy]), reference), strategy
        assert np.abs(outputs[strategy] - outputs["strict"]).mean() < 1.0


class FrameFailure(RuntimeError):
    pass


@pytest.mark.parametrize("strategy", ["strict", "moderate", "tolerant"])
@pytest.mark.parametrize("keep_temp", [False, True])
def test_error_in_frame_fn_leaves_no_output(
    clip: Path, tmp_path: Path, strategy: str, keep_temp: bool
) -> None:
    def fail_at_20(frame: np.ndarray, index: int) -> np.ndarray:
        if index == 20:
            raise FrameFailure("no face in frame 20")
        return frame

    before = threading.active_count()
    with pytest.raises(FrameFailure, match="no face in frame 20"):
        run(
            clip,
            tmp_path,
            fail_at_20,
            video_memory_strategy=strategy,
            execution_queue_count=2,
            keep_temp=keep_temp,
        )
    assert list(tmp_path.iterdir()) == []
    assert threading.active_count() == before


def test_failing_before_commit_discards_the_output(clip: Path, tmp_path: Path) -> None:
    def no_faces_seen() -> None:
        raise EngineError("no face in any frame")

    params = VideoParams(target_media=str(clip), trim_frame_end=4)
    with pytest.raises(EngineError, match="no face in any frame"):
        process_video(clip, None, params, RunContext(tmp_path), before_commit=no_faces_seen)
    assert list(tmp_path.iterdir()) == []


def test_frame_fn_must_return_an_image(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="frame 0: the frame function must return an RGB"):
        run(clip, tmp_path, lambda frame, index: frame.astype(np.float32))
    assert list(tmp_path.iterdir()) == []


def test_progress_reaches_one_in_frames(clip: Path, tmp_path: Path) -> None:
    reports: list[tuple[float, str]] = []
    params = VideoParams(target_media=str(clip))
    process_video(
        clip, None, params, RunContext(tmp_path, progress=lambda f, s: reports.append((f, s)))
    )
    fractions = [fraction for fraction, _ in reports]
    assert {stage for _, stage in reports} == {"frames"}
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len(reports) > 10


def test_cancel_stops_and_cleans_up(clip: Path, tmp_path: Path) -> None:
    cancel = threading.Event()

    def cancel_midway(frame: np.ndarray, index: int) -> np.ndarray:
        if index == 10:
            cancel.set()
        return frame

    params = VideoParams(target_media=str(clip), video_memory_strategy="moderate")
    with pytest.raises(CancelledError):
        process_video(clip, cancel_midway, params, RunContext(tmp_path, cancel=cancel))
    assert list(tmp_path.iterdir()) == []


def test_trim_start_past_the_end(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"trim_frame_start 48 is past the end of pan\.mp4"):
        run(clip, tmp_path, trim_frame_start=48)


def test_trim_end_past_the_end_runs_to_the_end(clip: Path, tmp_path: Path) -> None:
    result, _ = run(clip, tmp_path, trim_frame_start=40, trim_frame_end=1000)
    assert result["frames_out"] == 8


def test_odd_resolution_is_refused(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="needs even width and height"):
        run(clip, tmp_path, output_video_resolution="161x120")


def test_odd_sized_source_is_rounded_down_to_even(tmp_path: Path, make_video) -> None:
    odd = tmp_path / "src" / "odd.mkv"
    odd.parent.mkdir()
    make_video(odd, width=321, height=241, seconds=0.5, tone_hz=None, codec="ffv1")
    result, files = run(odd, tmp_path / "out")
    info = probe(files["output"])
    assert (info.width, info.height) == (320, 240) and result["resolution"] == "320x240"


def test_output_never_overwrites_the_target(clip: Path) -> None:
    with pytest.raises(EngineError, match="would overwrite the target"):
        run(clip, clip.parent)


@pytest.mark.parametrize("damage", ["truncated", "junk", "image", "text"])
def test_unreadable_targets_are_media_errors(tmp_path: Path, clip: Path, damage: str) -> None:
    data = clip.read_bytes()
    bad = tmp_path / "bad.mp4"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "junk":
        bad.write_bytes(np.random.default_rng(0).bytes(20_000))
    elif damage == "image":
        bad = Path(__file__).resolve().parents[1] / "media" / "astronaut.jpg"
    else:
        bad.write_text("version: 1\nname: not a video\n")
    out = tmp_path / "out"
    with pytest.raises(MediaError, match=rf"{bad.name} (is not a|is not a readable) video"):
        run(bad, out)
    assert not out.exists() or list(out.iterdir()) == []


def test_truncated_streamable_video_is_a_media_error(tmp_path: Path, make_video) -> None:
    source = make_video(tmp_path / "whole.mkv", seconds=2.0)
    data = source.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "out"
    with pytest.raises(MediaError, match=r"cut.mkv is truncated or damaged: only \d+ of its 48"):
        run(cut, out, output_path="x.mp4")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("name", ["cut.mp4", "cut.webm"])
def test_audio_is_cut_to_the_kept_frames(
    tmp_path: Path, name: str, make_chirp_video, audio_seconds, pitch_at
) -> None:
    # Pitch rises 400 Hz per second: the output's audio must start at the first kept frame's
    # time (1.0 s -> 600 Hz) and end at the last one's (2.5 s -> 1200 Hz).
    source = make_chirp_video(tmp_path / "chirp.mp4", seconds=3.0, fps=24)
    encoder = "libvpx-vp9" if name.endswith(".webm") else "libx264"
    result, files = run(
        source,
        tmp_path / "out",
        trim_frame_start=24,
        trim_frame_end=60,
        output_path=name,
        output_video_encoder=encoder,
    )
    assert result["duration"] == 1.5
    assert audio_seconds(files["output"]) == pytest.approx(1.5, abs=0.05)
    assert pitch_at(files["output"], 0.05) == pytest.approx(200 + 400 * 1.1, abs=25)
    assert pitch_at(files["output"], 1.35) == pytest.approx(200 + 400 * 2.4, abs=25)
