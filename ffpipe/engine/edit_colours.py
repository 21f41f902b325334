"""Colour models sampled from the picture itself, for the age and hair edits.

A model is a smoothed CIE Lab histogram of one sample of pixels (the cheeks, a ring of backdrop,
the hair beside the temples): it says how common each colour is in that sample, several modes at
once (a striped flag, hair with highlights, a lit and a shaded cheek). Classes are told apart by
comparing the densities of their models at a pixel's colour, against a uniform density standing
for "anything else", so a colour none of the samples contains (a navy cap, a red scarf) belongs to
no class. Lab bins of 10 lightness and 4 colour units, smoothed by one bin, keep neighbouring
shades of one sample together and brown hair apart from fair skin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_BINS = (10, 32, 32)
"""Histogram bins per Lab channel."""
_RANGES = ((0.0, 100.0), (-64.0, 64.0), (-64.0, 64.0))
"""Lab range each channel's bins cover; colours beyond fall into the outermost bin."""
_SMOOTHING = 1.0
"""Gaussian smoothing of the histogram, in bins."""
UNIFORM = 1.0 / float(np.prod(_BINS))
"""The density of a colour model that knows nothing: every bin alike."""
OTHER = 2.0
"""Weight of "anything else" in a vote between models, as a multiple of :data:`UNIFORM`."""
_MIN_PIXELS = 20
# Landmark polygons sampled for the skin: both lower cheeks and the tip of the nose, places that
# hats, hair and glasses rarely cover.
_SKIN_SAMPLES = ((2, 3, 4, 48, 31), (14, 13, 12, 54, 35), (30, 31, 33, 35))


@dataclass(frozen=True)
class ColourModel:
    """How common each Lab colour is in one sample of pixels (a histogram summing to 1)."""

    density: np.ndarray

    @classmethod
    def of(cls, lab_pixels: np.ndarray) -> ColourModel | None:
        """The model of (N, 3) Lab pixels; None for fewer than a handful."""
        if len(lab_pixels) < _MIN_PIXELS:
            return None
        counts, _ = np.histogramdd(lab_pixels, bins=_BINS, range=_RANGES)
        smooth = counts.astype(np.float32)
        for axis in range(3):
            smooth = _smooth_along(smooth, axis)
        return cls(smooth / max(float(smooth.sum()), 1e-12))

    def __call__(self, lab: np.ndarray) -> np.ndarray:
        """Per-pixel density (float32) of the colours of ``lab`` (..., 3)."""
        return self.density[_bin_index(lab)]


def skin_sample_area(shape: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    """(H, W) bool: the cheek and nose polygons whose pixels give a face's skin colour."""
    area = np.zeros(shape[:2], dtype=np.uint8)
    for group in _SKIN_SAMPLES:
        polygon = np.round(np.asarray(landmarks)[list(group)]).astype(np.int32)
        cv2.fillConvexPoly(area, cv2.convexHull(polygon), 1)
    return area.astype(bool)


def _smooth_along(histogram: np.ndarray, axis: int) -> np.ndarray:
    taps = np.exp(-0.5 * (np.arange(-2, 3) / _SMOOTHING) ** 2)
    taps /= taps.sum()
    moved = np.moveaxis(histogram, axis, 0)
    padded = np.pad(moved, ((2, 2), (0, 0), (0, 0)))
    smooth = sum(tap * padded[offset : offset + moved.shape[0]] for offset, tap in enumerate(taps))
    return np.moveaxis(smooth, 0, axis)


def _bin_index(lab: np.ndarray) -> tuple[np.ndarray, ...]:
    index = []
    for channel, (bins, (low, high)) in enumerate(zip(_BINS, _RANGES, strict=True)):
        scaled = np.floor((lab[..., channel] - low) / (high - low) * bins)
        index.append(np.clip(scaled, 0, bins - 1).astype(np.intp))
    return tuple(index)
