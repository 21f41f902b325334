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

from ffpipe.engine.builtin import exact

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


def colour_bins(lab: np.ndarray) -> np.ndarray:
    """The histogram bin of every pixel of ``lab`` (..., 3), as one flat int per pixel."""
    flat = np.zeros(lab.shape[:-1], dtype=np.intp)
    for channel, (bins, (low, high)) in enumerate(zip(_BINS, _RANGES, strict=True)):
        scaled = np.floor((lab[..., channel] - low) * (bins / (high - low)))
        flat = flat * bins + np.clip(scaled, 0, bins - 1).astype(np.intp)
    return flat


@dataclass(frozen=True)
class ColourModel:
    """How common each Lab colour is in one sample of pixels (a histogram summing to 1)."""

    density: np.ndarray
    """Flat, indexed by :func:`colour_bins`."""

    @classmethod
    def of(cls, bins: np.ndarray) -> ColourModel | None:
        """The model of a sample given by its pixels' :func:`colour_bins`; None for fewer than a
        handful of pixels."""
        if bins.size < _MIN_PIXELS:
            return None
        counts = np.bincount(bins.ravel(), minlength=_BIN_COUNT).astype(np.float32)
        smooth = counts.reshape(_BINS)
        for axis, blur in enumerate(_BLURS):
            smooth = _smooth_along(blur, smooth, axis)
        return cls((smooth / max(float(smooth.sum()), 1e-12)).ravel())

    def __call__(self, bins: np.ndarray) -> np.ndarray:
        """Per-pixel density (float32) of pixels given by their :func:`colour_bins`."""
        return self.density[bins]


def skin_sample_area(shape: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    """(H, W) bool: the cheek and nose polygons whose pixels give a face's skin colour."""
    area = np.zeros(shape[:2], dtype=np.uint8)
    for group in _SKIN_SAMPLES:
        polygon = np.round(np.asarray(landmarks)[list(group)]).astype(np.int32)
        cv2.fillConvexPoly(area, cv2.convexHull(polygon), 1)
    return area.astype(bool)


def _smooth_along(blur: np.ndarray, values: np.ndarray, axis: int) -> np.ndarray:
    """``blur`` (a bins x bins matrix) applied along ``axis``, summed in a fixed order (a
    tensordot would go through BLAS, whose rounding depends on the processor)."""
    moved = np.moveaxis(values, axis, 0)
    column = (slice(None),) + (None,) * (moved.ndim - 1)
    result = blur[:, 0][column] * moved[0][None]
    for k in range(1, blur.shape[1]):
        result = result + blur[:, k][column] * moved[k][None]
    return np.moveaxis(result, 0, axis)


def _blur_matrix(bins: int) -> np.ndarray:
    """Gaussian smoothing over ``bins`` histogram bins as a matrix (mass beyond the ends lost)."""
    offsets = np.arange(bins)[:, None] - np.arange(bins)[None, :]
    return exact.exp(-0.5 * (offsets / _SMOOTHING) ** 2).astype(np.float32) / float(
        np.sqrt(2.0 * np.pi) * _SMOOTHING
    )


_BIN_COUNT = int(np.prod(_BINS))
_BLURS = tuple(_blur_matrix(bins) for bins in _BINS)
