"""Encoder availability and the documented quality and preset mappings."""

from __future__ import annotations

import hashlib
import io

import av
import cv2
import numpy as np
import pytest
from _video_support import MEDIA

from ffpipe.catalog.video import VIDEO_PRESETS
from ffpipe.engine.api import UnsupportedError
from ffpipe.engine.builtin.video.encoding import (
    CONTAINER_OPTIONS,
    VP9_PRESETS,
    audio_codec_for,
    check_container,
    encoder_settings,
    encoders,
    quality_to_crf,
)

pytestmark = pytest.mark.slow  # encodes videos end to end


def test_software_encoders_are_available_and_gpu_ones_are_not_listed() -> None:
    assert encoders() == ["libx264", "libx265", "libvpx-vp9"]


@pytest.mark.parametrize(("encoder", "top"), [("libx264", 51), ("libx265", 51), ("libvpx-vp9", 63)])
def test_quality_maps_linearly_onto_crf(encoder: str, top: int) -> None:
    crfs = [quality_to_crf(encoder, quality) for quality in range(101)]
    assert crfs[0] == top and crfs[100] == 0
    assert crfs == sorted(crfs, reverse=True)
    assert quality_to_crf(encoder, 80) == round(top * 0.2)


def test_x264_and_x265_take_presets_as_they_are() -> None:
    settings = encoder_settings("libx265", "slow", 50)
    assert settings.options["preset"] == "slow" and settings.options["crf"] == "26"
    options = encoder_settings("libx264", "ultrafast", 100).options
    assert {key: options[key] for key in ("crf", "preset", "flags")} == {
        "crf": "0",
        "preset": "ultrafast",
        "flags": "+bitexact",
    }


def test_vp9_maps_every_preset_to_deadline_and_cpu_used() -> None:
    assert set(VP9_PRESETS) == set(VIDEO_PRESETS)
    speeds = [VP9_PRESETS[preset] for preset in VIDEO_PRESETS]  # fastest to slowest
    order = {"realtime": 0, "good": 1, "best": 2}
    ranks = [(order[deadline], -cpu_used) for deadline, cpu_used in speeds]
    assert ranks == sorted(ranks)
    options = encoder_settings("libvpx-vp9", "medium", 80).options
    assert options["b"] == "0" and options["crf"] == "13"
    assert (options["deadline"], options["cpu-used"]) == ("good", "2")


@pytest.mark.parametrize("encoder", ["h264_nvenc", "hevc_nvenc"])
def test_nvenc_needs_a_gpu(encoder: str) -> None:
    with pytest.raises(UnsupportedError, match=f"{encoder} needs an NVIDIA GPU"):
        encoder_settings(encoder, "fast", 80)


def test_containers() -> None:
    assert check_container(".MP4", "libvpx-vp9") == "mp4"
    assert check_container(".mkv", "libx265") == "matroska"
    assert check_container(".webm", "libvpx-vp9") == "webm"
    with pytest.raises(
        UnsupportedError, match=r"use output_path ending in \.mp4 or \.mov or \.mkv"
    ):
        check_container(".webm", "libx264")
    with pytest.raises(UnsupportedError, match=r"cannot write a \.gif video"):
        check_container(".gif", "libx264")
    assert audio_codec_for(".webm") == "libopus" and audio_codec_for(".mov") == "aac"


def _pan(count: int, width: int, height: int) -> list[np.ndarray]:
    photo = cv2.cvtColor(cv2.imread(str(MEDIA / "astronaut.jpg")), cv2.COLOR_BGR2RGB)
    frames = []
    for number in range(count):
        turn = cv2.getRotationMatrix2D((256.0, 256.0), number * 1.5, 1.0 + number * 0.02)
        frames.append(cv2.resize(cv2.warpAffine(photo, turn, (512, 512)), (width, height)))
    return frames


def _encoded(frames: list[np.ndarray], encoder: str, muxer: str) -> str:
    settings = encoder_settings(encoder, "veryfast", 80)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer, container_options=CONTAINER_OPTIONS) as output:
        stream = output.add_stream(settings.codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = (
            frames[0].shape[1],
            frames[0].shape[0],
            "yuv420p",
        )
        stream.options = settings.options
        for number, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = number
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.mark.parametrize(
    ("encoder", "muxer"), [("libx264", "mp4"), ("libx265", "matroska"), ("libvpx-vp9", "webm")]
)
def test_encoder_settings_give_the_same_bytes_every_time(encoder: str, muxer: str) -> None:
    # With its AVX-512 code, libx264 gave several different encodings of these very frames over
    # a dozen tries (mostly the first ones in a process); WebM differed on every try.
    frames = _pan(12, 160, 120)
    assert len({_encoded(frames, encoder, muxer) for _ in range(12)}) == 1
