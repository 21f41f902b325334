"""Encoder availability and the documented quality and preset mappings."""

from __future__ import annotations

import pytest

from ffpipe.catalog.video import VIDEO_PRESETS
from ffpipe.engine.api import UnsupportedError
from ffpipe.engine.video.encoding import (
    VP9_PRESETS,
    audio_codec_for,
    check_container,
    encoder_settings,
    encoders,
    quality_to_crf,
)


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
    assert encoder_settings("libx264", "ultrafast", 100).options == {
        "crf": "0",
        "preset": "ultrafast",
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
