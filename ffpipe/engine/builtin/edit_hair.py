"""The hair around a face, found classically, and its recolouring.

Where to look: a soft ellipse over the head, placed from the landmarks (in eye distances, see
:mod:`ffpipe.engine.builtin.edit_landmarks`), minus the face itself and fading out below the ears,
so long
hair below the jaw is left alone. What to accept: colours of this face's own hair. Three colour
models in CIE Lab are built from the picture itself (smoothed histograms, so a backdrop of several
colours or hair with highlights is one model): the background from a ring around the head, the
skin from the cheeks (:mod:`ffpipe.engine.edit_skin`), and the hair from beside the face at the
temples and ears, where hair shows even under a hat, taking there only what is neither skin nor
background. Over the forehead is sampled only when the sides show no hair. A pixel is hair by a
vote between the three models and a uniform "anything else", so a cap, a glasses frame or a
backdrop colour that the hair sample does not contain stays out; and only hair connected to where
the sample was taken counts, so a hair-coloured patch beyond a cap is left alone.

A hat of the hair's own colour is taken for hair, and a head whose hair matches the backdrop has
none found (and none changed): colour and place are all this engine knows of hair.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ffpipe.engine.builtin import exact
from ffpipe.engine.builtin.edit_colours import (
    OTHER,
    UNIFORM,
    ColourModel,
    colour_bins,
    skin_sample_area,
)
from ffpipe.engine.builtin.edit_landmarks import FaceFrame, face_frame
from ffpipe.engine.builtin.edit_warp import Region, region_around

# A hair sample of fewer pixels than this is not trusted.
_MIN_SAMPLE_PIXELS = 20
# Colours this much more frequent than uniform among the skin or backdrop samples are not hair.
_COMMON = 3.0
# Rounds of growing the hair sample into similar colours next to it, and how common (over
# uniform) a colour must be in the sample so far to be taken in.
_GROWTH_ROUNDS = 3
_SIMILAR = 10.0
# Hair must cover at least this share of the sampled places beside the face to be trusted.
_MIN_SIDE_SHARE = 0.03


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
        probability[region.top : region.bottom, region.left : region.right] = head_colours(
            crop, np.asarray(landmarks, dtype=np.float64) - offset
        ).hair
    return probability


@dataclass(frozen=True)
class HeadColours:
    """Per-pixel probabilities (float32 0-1) over a picture of one head: skin and hair."""

    skin: np.ndarray
    """That a pixel has this face's skin colour (anywhere in the picture, no place prior)."""
    hair: np.ndarray
    """That a pixel is this face's hair: colour, place and connection to the sampled hair."""
    hair_colour: np.ndarray
    """That a pixel has the hair's colour (anywhere, no place prior): for brows and the like."""


def head_colours(image_rgb: np.ndarray, landmarks: np.ndarray) -> HeadColours:
    """Skin and hair probabilities of the face at ``landmarks`` in ``image_rgb``.

    ``image_rgb`` should show the whole :func:`head_region` (the backdrop is sampled around it).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    frame = face_frame(points)
    lab = to_lab(image_rgb)
    local = _local_grid(image_rgb.shape, frame)
    x, y = local[:, :, 0], local[:, :, 1]
    brow_top = float(frame.to_local(points)[17:27, 1].min())

    head = ((x / 1.8) ** 2 + ((y - brow_top + 0.2) / 1.75) ** 2) <= 1.0
    below_ears = np.clip((y - 0.3) / 0.6, 0.0, 1.0)
    face = _polygon_mask(image_rgb.shape, points[0:27])
    prior = head.astype(np.float32) * (1.0 - below_ears).astype(np.float32) * ~face
    ring = (((x / 2.3) ** 2 + ((y - brow_top + 0.2) / 2.2) ** 2) <= 1.0) & ~head & (y < 0.3)
    sides = head & ~face & (np.abs(x) > 0.9) & (np.abs(x) < 1.6) & (y > 0.0) & (y < 0.9)

    bins = colour_bins(lab)
    zero = np.zeros(face.shape, dtype=np.float32)
    skin = ColourModel.of(bins[skin_sample_area(lab.shape, points)])
    background = ColourModel.of(bins[ring])
    skin_density = skin(bins) if skin is not None else zero
    background_density = background(bins) if background is not None else zero
    # Hair is sampled beside the face where it is neither this face's skin nor a common backdrop
    # colour, without thin lines (glasses arms, poles, edges); then grown over the head into
    # colours like it that are likelier hair than skin, so a hat of another colour is never taken.
    open_colour = background_density < _COMMON * UNIFORM
    seeds = _without_thin_lines(
        sides & open_colour & (skin_density < _COMMON * UNIFORM), frame.unit
    )
    if seeds.sum() < max(_MIN_SAMPLE_PIXELS, _MIN_SIDE_SHARE * sides.sum()):
        seeds = np.zeros(face.shape, dtype=bool)
    hair = ColourModel.of(bins[seeds])
    for _ in range(_GROWTH_ROUNDS):
        if hair is None:
            break
        # Hair shades gradually (lit on top, shaded at the sides): take in the neighbouring
        # shades that touch the hair found so far, and learn their colours too.
        density = hair(bins)
        similar = head & ~face & open_colour & (density > _SIMILAR * UNIFORM)
        grown = seeds | _connected_to(similar & (density > skin_density), seeds)
        if grown.sum() <= seeds.sum():
            break
        seeds, hair = grown, ColourModel.of(bins[grown])
    total = skin_density + background_density + OTHER * UNIFORM
    if hair is None:
        skin_p = (skin_density / total).astype(np.float32)
        return HeadColours(skin=skin_p, hair=zero, hair_colour=zero)
    hair_density = hair(bins)
    total = total + hair_density
    skin_p = (skin_density / total).astype(np.float32)
    colour = hair_density / total
    hair_p = colour * prior * _connected_to(colour * prior > 0.5, seeds)
    # Softened at its edges, but never onto colours that are not hair (a cap's rim stays as is).
    soft = exact.gaussian_blur(hair_p.astype(np.float32), max(frame.unit / 30.0, 0.5))
    return HeadColours(
        skin=skin_p,
        hair=soft * within(colour),
        hair_colour=colour.astype(np.float32),
    )


def within(colour_probability: np.ndarray) -> np.ndarray:
    """A gate (float32 0-1) that keeps a softened mask off pixels of another colour class: 1 where
    the colour is at least even odds, falling to 0 where it has none."""
    return np.clip(2.0 * colour_probability, 0.0, 1.0).astype(np.float32)


def _without_thin_lines(mask: np.ndarray, unit: float) -> np.ndarray:
    size = max(3, round(unit / 12.0) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)


def _connected_to(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (bool) that touch ``seeds``."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, dtype=bool)
    touching = np.unique(labels[seeds & mask])
    return np.isin(labels, touching[touching > 0])


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
