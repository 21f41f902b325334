"""Test videos made in code from the sample photos (pans and zooms with a sine tone)."""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO / "media"

_spec = importlib.util.spec_from_file_location("ffpipe_media_make_clip", MEDIA / "make_clip.py")
assert _spec is not None and _spec.loader is not None
make_clip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_clip)


def make_video(
    path: Path,
    *,
    image: str = "astronaut.jpg",
    width: int = 320,
    height: int = 240,
    fps: float | Fraction = 24,
    seconds: float = 2.0,
    tone_hz: float | None = 440.0,
    codec: str = "libx264",
) -> Path:
    """A pan/zoom video of one of the sample photos; ``tone_hz=None``: no audio track."""
    return make_clip.render_clip(
        MEDIA / image,
        path,
        width=width,
        height=height,
        fps=fps,
        seconds=seconds,
        tone_hz=tone_hz,
        codec=codec,
        crf=28,
    )


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every video frame of ``path`` as RGB uint8 arrays."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def audio_seconds(path: Path) -> float:
    """Seconds of decoded audio in ``path`` (0.0 without an audio track)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def stream_codecs(path: Path) -> dict[str, str]:
    """Codec name by stream type, e.g. {"video": "h264", "audio": "aac"}."""
    with av.open(str(path)) as container:
        return {stream.type: stream.codec_context.name for stream in container.streams}
