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


def make_chirp_video(
    path: Path, *, seconds: float = 3.0, fps: int = 24, start_hz: float = 200.0, rise: float = 400.0
) -> Path:
    """Plain grey frames with a rising tone: at time t the pitch is ``start_hz + rise * t`` Hz,
    so the pitch of any stretch of output audio tells which source time it came from."""
    rate = 48_000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        grey = np.full((120, 160, 3), 128, np.uint8)
        for number in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(grey, format="rgb24")
            frame.pts = number
            container.mux(video.encode(frame))
        container.mux(video.encode())
        t = np.arange(round(seconds * rate)) / rate
        phase = 2 * np.pi * (start_hz * t + rise * t * t / 2)
        samples = (0.4 * np.sin(phase)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[None, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


def pitch_at(path: Path, start: float, length: float = 0.1) -> float:
    """The dominant frequency (Hz) of ``path``'s audio from ``start`` seconds on."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        samples = np.concatenate(
            [frame.to_ndarray()[0] for frame in container.decode(stream)]
        ).astype(np.float64)
    window = samples[round(start * rate) : round((start + length) * rate)]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.fft.rfftfreq(len(window), 1 / rate)[int(np.argmax(spectrum))])
