"""The hair above a face, found classically, and its recolouring.

Where: a soft ellipse over the head, placed from the landmarks (in eye distances, see
:mod:`ffpipe.engine.edit_landmarks`), minus the face itself and fading out below the ears, so long
hair below the jaw is left alone. What: a three-colour model in CIE Lab. The skin colour is the
median of the cheeks, the background colour the median of a ring around the head, and the hair
colour the median of the non-skin pixels in a band over the forehead. Each pixel's hair
probability is a soft nearest-colour vote between the three, times the place prior. A hat in that
band is taken for hair: this engine has no notion of what hair is beyond its colour and place.
"""

from __future__ import annotations

import cv2
import numpy as np

from ffpipe.engine.edit_landmarks import FaceFrame, face_frame
from ffpipe.engine.edit_warp import Region, region_around

# Spread of each colour class in Lab units: a pixel this far from a prototype is one sigma off.
_COLOUR_SIGMA = 14.0
# A colour sample of fewer pixels than this is not trusted (see the fallbacks in _probability).
_MIN_SAMPLE_PIXELS = 20


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``'#RRGGBB'`` as an (r, g, b) tuple of 0-255 integers."""
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB to float Lab (L 0-100)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """Float Lab back to float RGB 0-255 (not rounded)."""
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB), 0.0, 1.0) * 255.0


def _local_grid(shape: tuple[int, ...], frame: FaceFrame) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1)
    return frame.to_local(pixels).reshape(shape[0], shape[1], 2)


def _polygon_mask(shape: tuple[int, ...], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def _median_lab(lab: np.ndarray, where: np.ndarray) -> np.ndarray | None:
    if where.sum() < _MIN_SAMPLE_PIXELS:
        return None
    return np.median(lab[where], axis=0)


def head_region(landmarks: np.ndarray, shape: tuple[int, ...]) -> Region:
    """The part of an image of ``shape`` that the hair model looks at."""
    frame = face_frame(landmarks)
    brow_top = float(frame.to_local(np.asarray(landmarks, dtype=np.float64))[17:27, 1].min())
    corners = np.array([[-2.4, brow_top - 2.5], [2.4, brow_top - 2.5], [-2.4, 1.0], [2.4, 1.0]])
    return region_around(frame.to_pixels(corners), 1.0, shape)


def hair_probability(image_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Per-pixel probability (float32, 0-1) that a pixel is hair of the face with ``landmarks``.

    Only the :func:`head_region` is examined; the rest of the map is zero.
    """
    region = head_region(landmarks, image_rgb.shape)
    offset = np.array([region.left, region.top], dtype=np.float64)
    crop = image_rgb[region.top : region.bottom, region.left : region.right]
    probability = np.zeros(image_rgb.shape[:2], dtype=np.float32)
    if crop.size:
        probability[region.top : region.bottom, region.left : region.right] = _probability(
            crop, np.asarray(landmarks, dtype=np.float64) - offset
        )
    return probability


def _probability(image_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    frame = face_frame(landmarks)
    lab = to_lab(image_rgb)
    local = _local_grid(image_rgb.shape, frame)
    x, y = local[:, :, 0], local[:, :, 1]
    brow_top = float(frame.to_local(np.asarray(landmarks, dtype=np.float64))[17:27, 1].min())

    head = ((x / 1.8) ** 2 + ((y - brow_top + 0.2) / 1.75) ** 2) <= 1.0
    below_ears = np.clip((y - 0.3) / 0.6, 0.0, 1.0)
    face = _polygon_mask(image_rgb.shape, np.asarray(landmarks)[0:27])
    prior = head.astype(np.float32) * (1.0 - below_ears).astype(np.float32) * ~face
    ring = (((x / 2.3) ** 2 + ((y - brow_top + 0.2) / 2.2) ** 2) <= 1.0) & ~head & (y < 0.3)
    cheeks = _polygon_mask(image_rgb.shape, np.asarray(landmarks)[[1, 2, 3, 31, 35, 13, 14, 15]])
    band = head & ~face & (y < brow_top - 0.15) & (y > brow_top - 1.3) & (np.abs(x) < 0.9)

    # Tiny or cut-off faces may leave a sample nearly empty: fall back to wider samples.
    whole = np.ones(face.shape, dtype=bool)
    skin = _median_lab(lab, cheeks)
    if skin is None:
        skin = _median_lab(lab, face)
    if skin is None:
        skin = np.median(lab[whole], axis=0)
    background = _median_lab(lab, ring)
    band_far_from_skin = band & (np.linalg.norm(lab - skin, axis=2) > 2.0 * _COLOUR_SIGMA)
    hair = _median_lab(lab, band_far_from_skin)
    if hair is None:
        hair = _median_lab(lab, band)
    if hair is None:
        hair = np.median(lab[whole], axis=0)
    prototypes = [hair, skin] + ([background] if background is not None else [])
    scores = np.stack(
        [
            -(np.linalg.norm(lab - proto, axis=2) ** 2) / (2 * _COLOUR_SIGMA**2)
            for proto in prototypes
        ]
    )
    scores -= scores.max(axis=0, keepdims=True)
    votes = np.exp(scores)
    probability = votes[0] / votes.sum(axis=0) * prior
    sigma = max(frame.unit / 30.0, 0.5)
    return cv2.GaussianBlur(probability.astype(np.float32), (0, 0), sigma)


def recolour_hair(
    image_rgb: np.ndarray, landmarks: np.ndarray, colour: str, strength: float = 1.0
) -> np.ndarray:
    """``image_rgb`` with the hair above the face recoloured to ``colour`` (``'#RRGGBB'``).

    The hair's own lightness texture is kept: lightness is rescaled around the target's, and the
    colour (a, b) is set to the target's plus half of the hair's own variation.
    """
    result = image_rgb.copy()
    region = head_region(landmarks, image_rgb.shape)
    window = (slice(region.top, region.bottom), slice(region.left, region.right))
    probability = hair_probability(image_rgb, landmarks)[window] * strength
    where = probability > 1e-3
    if not where.any():
        return result
    crop = image_rgb[window]
    lab = to_lab(crop)
    weights = probability[where]
    hair = (lab[where] * weights[:, None]).sum(axis=0) / weights.sum()
    target = to_lab(np.array([[hex_to_rgb(colour)]], dtype=np.uint8))[0, 0]
    gain = float(np.clip((target[0] + 15.0) / (hair[0] + 15.0), 0.4, 1.6))
    recoloured = lab.copy()
    recoloured[:, :, 0] = np.clip(target[0] + (lab[:, :, 0] - hair[0]) * gain, 0.0, 100.0)
    recoloured[:, :, 1:] = target[1:] + (lab[:, :, 1:] - hair[1:]) * 0.5
    original = crop.astype(np.float32)
    mixed = original + (from_lab(recoloured) - original) * probability[:, :, None]
    result[window][where] = np.round(mixed[where]).astype(np.uint8)
    return result
