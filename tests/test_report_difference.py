"""Difference figures (MAD, PSNR, SSIM) and heat maps on the sample photos and changes of them."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFilter

from ffpipe.report.difference import compare_arrays, compare_files, heat_map, load_rgb

MEDIA = Path(__file__).resolve().parent.parent / "media"
ASTRONAUT = MEDIA / "astronaut.jpg"
GRACE = MEDIA / "grace_hopper.jpg"


def test_a_photo_against_itself_is_equal() -> None:
    difference = compare_files(ASTRONAUT, ASTRONAUT)
    assert difference is not None
    assert difference.mad == 0.0 and math.isinf(difference.psnr)
    assert difference.ssim == pytest.approx(1.0)
    assert "PSNR inf dB" in difference.describe()


def test_small_change_scores_between_equal_and_a_different_photo(tmp_path: Path) -> None:
    blurred = tmp_path / "blurred.png"
    Image.open(ASTRONAUT).filter(ImageFilter.GaussianBlur(1.5)).save(blurred)
    near = compare_files(ASTRONAUT, blurred)
    far = compare_files(ASTRONAUT, GRACE)
    assert near is not None and far is not None
    assert 0.3 < near.ssim < 0.99
    assert far.ssim < near.ssim - 0.2
    assert 0 < near.mad < far.mad
    assert far.psnr < near.psnr
    assert "resized" in far.note  # the two photos are not the same size


def test_heat_map_is_dark_where_equal_and_bright_where_changed() -> None:
    photo = load_rgb(ASTRONAUT)
    edited = photo.copy()
    edited[:50, :50] = 255 - edited[:50, :50]
    heat = heat_map(photo, edited)
    assert heat.shape == photo.shape
    assert heat[100:, 100:].max() < 20
    assert heat[:50, :50].mean() > 150
    figure = compare_arrays(photo, edited)
    assert figure.ssim < 1.0 and figure.mad > 0


def _video(path: Path, photo: Path, frames: int, darken: int = 0) -> Path:
    pixels = np.asarray(Image.open(photo).convert("RGB").resize((160, 120)))
    pixels = np.clip(pixels.astype(np.int16) - darken, 0, 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_videos_are_compared_frame_by_frame(tmp_path: Path) -> None:
    plain = _video(tmp_path / "a.mp4", ASTRONAUT, 12)
    darker = _video(tmp_path / "b.mp4", ASTRONAUT, 12, darken=40)
    difference = compare_files(plain, darker)
    assert difference is not None and difference.frames == 8
    assert 20 < difference.mad < 60
    assert compare_files(plain, ASTRONAUT) is None  # a video and an image: no figure
