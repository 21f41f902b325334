"""Frames as numbered image files (extracted frames and kept temp frames)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ffpipe.engine.api import EngineError


def frame_name(index: int, image_format: str) -> str:
    """``frame_000042.png``: zero-padded so names sort in frame order."""
    return f"frame_{index:06d}.{image_format}"


def encode_image(frame_rgb: np.ndarray, image_format: str, quality: int) -> bytes:
    """An RGB frame as jpg (at ``quality`` 1-100), png or bmp bytes; png and bmp are lossless,
    so ``quality`` applies to jpg only."""
    params: list[int] = []
    if image_format == "jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif image_format == "png":
        # Lossless either way; level 1 trades a little size for much faster writing.
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    elif image_format != "bmp":
        raise EngineError(f"unknown frame format {image_format!r}; use jpg, png or bmp")
    ok, data = cv2.imencode(f".{image_format}", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise EngineError(f"could not encode a frame as {image_format}")
    return data.tobytes()


def write_image(path: Path, frame_rgb: np.ndarray, image_format: str, quality: int) -> None:
    """Write an RGB frame to ``path`` (see :func:`encode_image`)."""
    path.write_bytes(encode_image(frame_rgb, image_format, quality))
