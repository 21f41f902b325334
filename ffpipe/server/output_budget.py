"""How many bytes a request may write, checked before the engine writes any.

``extract_frames`` turns a small upload into one image per frame: 88 kB of video asked for BMP
frames is gigabytes. The worst case is known from the video's headers before decoding (output
frames x width x height x the format's most bytes per pixel, twice for the archive the server
packs the folder into), so a request over the server's budget is refused up front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ffpipe import media
from ffpipe.server.settings import DEFAULT_MAX_OUTPUT_BYTES, format_size

__all__ = ["DEFAULT_MAX_OUTPUT_BYTES", "OutputTooLarge", "check_output_budget"]
_WORST_BYTES_PER_PIXEL = {"bmp": 3.0, "png": 3.1, "jpg": 1.5, "jpeg": 1.5, "webp": 1.5}
_ARCHIVE_COPIES = 2
"""The frames, and the zip of their folder made for the answer."""


class OutputTooLarge(Exception):
    """A request whose output would exceed the budget; the message is for the user."""


def predicted_output_bytes(op: str, params: Any) -> int:
    """The most ``op`` can write for ``params`` (0 when it is bounded by its inputs)."""
    if op != "extract_frames":
        return 0
    info = media.probe(Path(params.target_media))
    start = params.trim_frame_start or 0
    end = params.trim_frame_end if params.trim_frame_end is not None else info.frames
    frames = max(min(end, info.frames) - start, 1)
    fps = params.output_video_fps
    if fps and info.fps > 0:
        frames = int(frames * max(fps / info.fps, 1.0)) + 1
    per_pixel = _WORST_BYTES_PER_PIXEL.get(str(params.extract_frame_format).lower(), 4.0)
    return int(frames * info.width * info.height * per_pixel) * _ARCHIVE_COPIES


def check_output_budget(op: str, params: Any, limit: int | None) -> None:
    """Raise :class:`OutputTooLarge` when ``op`` could write more than ``limit`` bytes."""
    if limit is None:
        return
    predicted = predicted_output_bytes(op, params)
    if predicted > limit:
        shown = format_size(predicted // 1000 * 1000)
        raise OutputTooLarge(
            f"{op} could write up to {shown} (frames x frame size, and its archive),"
            f" over this server's limit of {format_size(limit)} per request: trim the"
            " video (trim_frame_start/end), lower output_video_fps or choose jpg"
        )
