"""Render media/clip.mp4: a slow pan and zoom over astronaut.jpg with a 440 Hz tone.

Run it from anywhere: `python media/make_clip.py` (re-creates clip.mp4 next to this file).
The same `render_clip` function makes the test videos (other sizes, rates, codecs), so every video
the project uses is reproducible from the two public-domain photographs.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
AUDIO_RATE = 48_000
AUDIO_CODEC_FOR = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}


def pan_zoom_frame(image: np.ndarray, t: float, width: int, height: int) -> np.ndarray:
    """One RGB frame of the pan/zoom at progress t (0..1): the crop shrinks and drifts right.

    The crop keeps the output's aspect ratio and stays inside the image, so the face (in the
    upper-middle of both sample photos) stays in view while it grows.
    """
    warp = pan_zoom_warp(image.shape, t, width, height)
    return cv2.warpAffine(image, warp, (width, height), flags=cv2.INTER_LINEAR)


def pan_zoom_warp(shape: tuple[int, ...], t: float, width: int, height: int) -> np.ndarray:
    """The 2x3 affine map from the photo (of ``shape``) to the frame at progress t."""
    img_h, img_w = shape[:2]
    aspect = width / height
    full_w = min(img_w, img_h * aspect)
    crop_w = full_w * (1.0 - 0.2 * t)
    crop_h = crop_w / aspect
    x0 = (img_w - crop_w) * (0.25 + 0.5 * t)
    y0 = (img_h - crop_h) * 0.2
    src = np.float32([[x0, y0], [x0 + crop_w, y0], [x0, y0 + crop_h]])
    dst = np.float32([[0, 0], [width, 0], [0, height]])
    return cv2.getAffineTransform(src, dst)


def render_clip(
    image_path: Path,
    out_path: Path,
    *,
    width: int = 640,
    height: int = 360,
    fps: float | Fraction = 30,
    seconds: float = 6.0,
    tone_hz: float | None = 440.0,
    codec: str = "libx264",
    crf: int = 30,
) -> Path:
    """Write a pan/zoom video of `image_path` to `out_path`; `tone_hz=None` leaves out audio.

    The container follows the extension of `out_path`; audio is AAC, or Opus in .webm.
    """
    bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(image_path)
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rate = Fraction(fps).limit_denominator(1001)
    n_frames = round(seconds * rate)
    with av.open(str(out_path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        # Odd sizes need a format without chroma subsampling (the lossless ffv1 takes any size).
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        video.options = {"crf": str(crf)} if codec != "ffv1" else {}
        if codec == "libx264":
            video.options |= {"preset": "veryfast"}
        elif codec == "libx265":
            video.options |= {"preset": "veryfast", "x265-params": "log-level=error"}
        elif codec == "libvpx-vp9":
            video.options |= {"b": "0", "deadline": "realtime", "cpu-used": "8"}
        audio = None
        if tone_hz is not None:
            audio_codec = AUDIO_CODEC_FOR.get(out_path.suffix.lower(), "aac")
            audio = container.add_stream(audio_codec, rate=AUDIO_RATE)
            audio.layout = "mono"
        for i in range(n_frames):
            t = i / max(1, n_frames - 1)
            frame = av.VideoFrame.from_ndarray(pan_zoom_frame(image, t, width, height), "rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            _write_tone(container, audio, tone_hz, seconds)
    return out_path


def _write_tone(container: av.container.OutputContainer, stream, hz: float, seconds: float) -> None:
    total = round(seconds * AUDIO_RATE)
    chunk = 1024
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        t = (np.arange(start, start + n) / AUDIO_RATE).astype(np.float64)
        samples = (0.3 * np.sin(2 * math.pi * hz * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


if __name__ == "__main__":
    written = render_clip(HERE / "astronaut.jpg", HERE / "clip.mp4")
    print(f"wrote {written} ({written.stat().st_size} bytes)")
