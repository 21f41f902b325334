"""How different two renders are: mean absolute difference, PSNR and SSIM of two images (or of
frames sampled alike from two videos), and a heat map of where they differ.

Pixels are compared at the first picture's size; a second picture of another size is resized to
it first, and the figure says so. SSIM is Wang et al.'s structural similarity (2004) with its
usual constants: an 11-pixel Gaussian window of sigma 1.5 over the luma channel, computed here
with OpenCV's filters (scikit-image's structural_similarity follows the same definition).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageOps

from ffpipe import media

VIDEO_FRAMES = 8
"""Frames compared of two videos, spread over their first seconds."""
VIDEO_SPAN = 120
HEAT_GAIN = 4.0
"""A difference of 64 of 255 is shown at full heat: fixed, so two heat maps read alike."""
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2


@dataclass(frozen=True)
class Difference:
    """The difference of two pictures; ``ssim`` 1.0 and ``mad`` 0.0 mean equal pixels."""

    mad: float
    """Mean absolute difference per channel, on the 0-255 scale."""
    psnr: float
    """Peak signal-to-noise ratio in dB; ``inf`` for equal pixels."""
    ssim: float
    frames: int = 1
    note: str = ""

    def describe(self) -> str:
        """One line: ``MAD 3.21, PSNR 34.5 dB, SSIM 0.962``."""
        psnr = "inf" if math.isinf(self.psnr) else f"{self.psnr:.1f}"
        text = f"MAD {self.mad:.2f}, PSNR {psnr} dB, SSIM {self.ssim:.3f}"
        if self.frames > 1:
            text += f" (mean of {self.frames} frames)"
        return text + (f"; {self.note}" if self.note else "")

    def to_dict(self) -> dict[str, object]:
        psnr = None if math.isinf(self.psnr) else round(self.psnr, 3)
        return {
            "mad": round(self.mad, 4),
            "psnr": psnr,
            "ssim": round(self.ssim, 5),
            "frames": self.frames,
            "note": self.note,
        }


def picture_kind(path: Path) -> str | None:
    """``image`` or ``video`` by the file's bytes; None for anything else."""
    if not path.is_file():
        return None
    sniffed = media.sniff_file(path)
    return sniffed.kind if sniffed is not None and sniffed.kind in ("image", "video") else None


def load_rgb(path: Path) -> np.ndarray:
    """An image file as an H x W x 3 uint8 RGB array (EXIF orientation applied)."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def video_frames(path: Path, count: int = VIDEO_FRAMES) -> list[np.ndarray]:
    """``count`` RGB frames spread over a video's first :data:`VIDEO_SPAN` frames."""
    decoded: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            decoded.append(frame.to_ndarray(format="rgb24"))
            if len(decoded) >= VIDEO_SPAN:
                break
    if len(decoded) <= count:
        return decoded
    step = len(decoded) / count
    return [decoded[int(index * step)] for index in range(count)]


def first_frame(path: Path, kind: str) -> np.ndarray:
    """The picture that stands for a file: the image, or a video's first frame."""
    if kind == "image":
        return load_rgb(path)
    frames = video_frames(path, 1)
    if not frames:
        raise ValueError(f"{path.name}: no video frame could be decoded")
    return frames[0]


def compare_files(path_a: Path, path_b: Path) -> Difference | None:
    """The difference of two images or two videos; None when they are not both one kind."""
    kind = picture_kind(path_a)
    if kind is None or picture_kind(path_b) != kind:
        return None
    if kind == "image":
        return compare_arrays(load_rgb(path_a), load_rgb(path_b))
    frames_a, frames_b = video_frames(path_a), video_frames(path_b)
    pairs = list(zip(frames_a, frames_b, strict=False))
    if not pairs:
        return None
    each = [compare_arrays(a, b) for a, b in pairs]
    note = "" if len(frames_a) == len(frames_b) else "the videos differ in length"
    notes = {d.note for d in each if d.note}
    return Difference(
        mad=float(np.mean([d.mad for d in each])),
        psnr=_psnr(float(np.mean([_mse(a, match_size(b, a)[0]) for a, b in pairs]))),
        ssim=float(np.mean([d.ssim for d in each])),
        frames=len(each),
        note="; ".join(sorted(notes | ({note} if note else set()))),
    )


def compare_arrays(a: np.ndarray, b: np.ndarray) -> Difference:
    """The difference of two RGB arrays, ``b`` resized to ``a``'s size when they differ."""
    b, original = match_size(b, a)
    note = ""
    if original is not None:
        note = f"B resized from {original[0]}x{original[1]} to {a.shape[1]}x{a.shape[0]}"
    mad = float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))
    return Difference(mad=mad, psnr=_psnr(_mse(a, b)), ssim=ssim(a, b), note=note)


def match_size(b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, tuple[int, int] | None]:
    """``b`` at ``a``'s size, and ``b``'s own (width, height) when it had to be resized."""
    if b.shape[:2] == a.shape[:2]:
        return b, None
    resized = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    return resized, (b.shape[1], b.shape[0])


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of the luma of two same-sized RGB arrays."""
    x = _luma(a)
    y = _luma(b)

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (11, 11), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    mean_x, mean_y = blur(x), blur(y)
    var_x = blur(x * x) - mean_x**2
    var_y = blur(y * y) - mean_y**2
    covariance = blur(x * y) - mean_x * mean_y
    numerator = (2 * mean_x * mean_y + SSIM_C1) * (2 * covariance + SSIM_C2)
    denominator = (mean_x**2 + mean_y**2 + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return float(np.mean(numerator / denominator))


def heat_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where two RGB arrays differ, as an RGB picture at ``a``'s size: dark where equal, bright
    (inferno colours) where they differ, on a fixed scale (:data:`HEAT_GAIN`)."""
    b, _ = match_size(b, a)
    difference = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)
    scaled = np.clip(difference * HEAT_GAIN, 0, 255).astype(np.uint8)
    coloured = cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO)
    return cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
