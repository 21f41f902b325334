"""Apparent age, classically: smoother skin for younger; lines, texture and grey for older.

The builtin engine has no age estimator. It assumes every face looks :data:`APPARENT_AGE` years
old: ``direction="auto"`` makes the face older when the target age is above that and younger when
below, and the strength of the change grows with the distance between the two ages
(:func:`age_change`). An explicit direction is followed even when the target age lies on the
other side of the assumption.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["APPARENT_AGE", "AgeDirection", "age_change", "age_face"]

import cv2
import numpy as np

from ffpipe.engine.builtin import exact
from ffpipe.engine.builtin.edit_hair import from_lab, head_colours, to_lab, within
from ffpipe.engine.builtin.edit_landmarks import (
    BROW_LEFT,
    BROW_RIGHT,
    EYE_LEFT,
    EYE_RIGHT,
    JAW,
    MOUTH,
    FaceFrame,
    face_frame,
)
from ffpipe.engine.builtin.edit_scope import APPARENT_AGE
from ffpipe.engine.builtin.edit_warp import Region, region_around

AGE_SPAN = 40.0
"""Years between the assumed and the target age that give the full effect."""

_TOUCHED = 0.01
# Younger skin: the edge-preserving smoothing's contrast scale (a guided filter's epsilon, the
# square of the colour difference, on 0-1 channels) below which detail is smoothed away.
_SMOOTH_EPSILON = (40.0 / 255.0) ** 2
"""Mask weight below which a pixel is not written (the change there is under a tenth of a level)."""

AgeDirection = Literal["younger", "older", "auto"]


def age_change(target_age: int, direction: AgeDirection) -> tuple[str, float]:
    """The way (``"younger"`` or ``"older"``) and strength (0.0-1.0) of an age edit."""
    difference = target_age - APPARENT_AGE
    way = direction if direction != "auto" else ("older" if difference > 0 else "younger")
    return way, min(abs(difference) / AGE_SPAN, 1.0)


def _mask(shape: tuple[int, ...], polygons: list[np.ndarray], blur: float) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=np.float32)
    for polygon in polygons:
        hull = cv2.convexHull(np.round(polygon).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1.0)
    return exact.gaussian_blur(mask, blur) if blur > 0 else mask


def _skin_mask(
    shape: tuple[int, ...], landmarks: np.ndarray, frame: FaceFrame, skin_colour: np.ndarray
) -> np.ndarray:
    """Soft mask of the face's skin: from the jaw line up to the forehead above the brows, where
    the colour is this face's own skin (``skin_colour``, a probability per pixel), so a cap, a
    glasses frame, hair over the forehead or the background inside that outline is left out."""
    brows = landmarks[np.concatenate([BROW_LEFT, BROW_RIGHT])]
    forehead = frame.to_pixels(frame.to_local(brows) + np.array([0.0, -0.6]))
    outline = _mask(shape, [np.concatenate([landmarks[JAW], forehead])], 0.0)
    soft = exact.gaussian_blur(outline * skin_colour, max(frame.unit / 40.0, 0.5))
    return soft * within(skin_colour)


def _feature_mask(shape: tuple[int, ...], landmarks: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """Soft mask of the eyes, brows and mouth, which smoothing must leave sharp."""
    margins = {0.12: (EYE_LEFT, EYE_RIGHT), 0.1: (MOUTH,), 0.08: (BROW_LEFT, BROW_RIGHT)}
    polygons = [
        frame.to_pixels(_grow(frame.to_local(landmarks[group]), margin))
        for margin, groups in margins.items()
        for group in groups
    ]
    return _mask(shape, polygons, frame.unit / 20.0)


def _grow(points: np.ndarray, margin: float) -> np.ndarray:
    centre = points.mean(axis=0)
    offsets = points - centre
    lengths = np.maximum(np.linalg.norm(offsets, axis=1, keepdims=True), 1e-6)
    return centre + offsets * (1.0 + margin / lengths)


def _wrinkle_lines(landmarks: np.ndarray, frame: FaceFrame) -> list[np.ndarray]:
    """Polylines (face coordinates) of forehead lines, crow's feet and folds, from landmarks."""
    local = frame.to_local(landmarks)
    brow_top = min(local[BROW_LEFT, 1].min(), local[BROW_RIGHT, 1].min())
    lines = []
    xs = np.linspace(-0.55, 0.55, 12)
    for row in (0.12, 0.24, 0.36):
        lines.append(np.stack([xs, brow_top - row + 0.1 * (xs / 0.55) ** 2], axis=1))
    for corner, side in ((local[36], -1.0), (local[45], 1.0)):
        for angle in (-25.0, 0.0, 25.0):
            direction = np.array([side * np.cos(np.radians(angle)), np.sin(np.radians(angle))])
            start = corner + direction * 0.07
            lines.append(np.stack([start, start + direction * 0.17]))
    for wing, mouth_corner, side in ((local[31], local[48], -1.0), (local[35], local[54], 1.0)):
        top = wing + np.array([side * 0.1, -0.03])
        middle = np.array([mouth_corner[0] + side * 0.12, (wing[1] + mouth_corner[1]) / 2.0])
        bottom = mouth_corner + np.array([side * 0.1, 0.12])
        lines.append(np.stack([top, middle, bottom]))
        marionette = np.array([[side * 0.03, 0.05], [side * 0.06, 0.3]])
        lines.append(mouth_corner + marionette)
    for inner, outer in ((local[39], local[36]), (local[42], local[45])):
        xs_eye = np.linspace(outer[0], inner[0], 6)
        sag = 0.13 + 0.03 * np.sin(np.linspace(0.0, np.pi, 6))
        lines.append(np.stack([xs_eye, (outer[1] + inner[1]) / 2.0 + sag], axis=1))
    return lines


def _line_map(shape: tuple[int, ...], lines: list[np.ndarray], frame: FaceFrame) -> np.ndarray:
    canvas = np.zeros(shape[:2], dtype=np.float32)
    thickness = max(1, round(frame.unit / 40.0))
    polylines = [np.round(frame.to_pixels(line) * 4).astype(np.int32) for line in lines]
    # Drawn with 2 fractional bits for sub-pixel placement; soft edges come from the blur below.
    cv2.polylines(canvas, polylines, False, 1.0, thickness, cv2.LINE_AA, shift=2)
    return exact.gaussian_blur(canvas, max(frame.unit / 60.0, 0.6))


def _older(
    crop: np.ndarray, landmarks: np.ndarray, frame: FaceFrame, strength: float
) -> tuple[np.ndarray, np.ndarray]:
    colours = head_colours(crop, landmarks)
    skin = _skin_mask(crop.shape, landmarks, frame, colours.skin)
    lab = to_lab(crop)
    lightness = lab[:, :, 0]
    # Band-pass detail: pores and creases are boosted, pixel noise and JPEG blocks are not.
    fine = exact.gaussian_blur(lightness, max(frame.unit / 70.0, 0.7), 0.0, 100.0)
    base = exact.gaussian_blur(lightness, frame.unit / 15.0, 0.0, 100.0)
    mean = float((lightness * skin).sum() / max(skin.sum(), 1e-6))
    lightness = (
        lightness + (fine - base) * 1.2 * strength * skin + (base - mean) * 0.15 * strength * skin
    )
    lines = _line_map(crop.shape, _wrinkle_lines(landmarks, frame), frame) * skin
    lightness *= 1.0 - 0.4 * strength * np.clip(lines, 0.0, 1.0)
    lab[:, :, 0] = np.clip(lightness, 0.0, 100.0)
    hair = colours.hair
    # Brows grey with the hair: only their hair-coloured pixels, never a glasses frame over them.
    brows = _brow_mask(crop, landmarks, frame) * within(colours.hair_colour)
    grey = strength * np.maximum(0.15 * skin, 0.85 * np.maximum(hair, 0.6 * brows))
    lab[:, :, 1:] *= (1.0 - grey)[:, :, None]
    whiten = strength * (0.55 * hair + 0.25 * brows)
    lab[:, :, 0] += (75.0 - lab[:, :, 0]) * np.clip(whiten, 0.0, 1.0)
    return from_lab(lab), (skin > _TOUCHED) | (hair > _TOUCHED) | (brows > _TOUCHED)


def _brow_mask(crop: np.ndarray, landmarks: np.ndarray, frame: FaceFrame) -> np.ndarray:
    polygons = [
        frame.to_pixels(_grow(frame.to_local(landmarks[group]), 0.06))
        for group in (BROW_LEFT, BROW_RIGHT)
    ]
    return _mask(crop.shape, polygons, frame.unit / 30.0)


def _younger(
    crop: np.ndarray, landmarks: np.ndarray, frame: FaceFrame, strength: float
) -> tuple[np.ndarray, np.ndarray]:
    skin = _skin_mask(crop.shape, landmarks, frame, head_colours(crop, landmarks).skin)
    features = _feature_mask(crop.shape, landmarks, frame)
    diameter = int(max(5, round(frame.unit / 6.0)) | 1)
    smooth = exact.guided_filter(crop.astype(np.float32) / 255.0, diameter // 2, _SMOOTH_EPSILON)
    smooth = exact.gaussian_blur(smooth, max(frame.unit / 40.0, 0.6)) * 255.0
    weight = (0.9 * strength * skin * (1.0 - features))[:, :, None]
    original = crop.astype(np.float32)
    mixed = original + (smooth - original) * weight
    lab = to_lab(np.clip(np.round(mixed), 0, 255).astype(np.uint8))
    lab[:, :, 0] += 3.0 * strength * skin
    lab[:, :, 1:] *= (1.0 + 0.08 * strength * skin)[:, :, None]
    return from_lab(lab), skin > _TOUCHED


def _face_region(landmarks: np.ndarray, frame: FaceFrame, shape: tuple[int, ...]) -> Region:
    local = frame.to_local(landmarks)
    corners = np.array(
        [[local[:, 0].min() - 2.0, local[:, 1].min() - 2.0], [local[:, 0].max() + 2.0, 2.2]]
    )
    return region_around(frame.to_pixels(corners), frame.unit, shape)


def age_face(
    image_rgb: np.ndarray,
    landmarks: np.ndarray,
    target_age: int,
    direction: AgeDirection,
    strength: float = 1.0,
) -> np.ndarray:
    """``image_rgb`` with the face at ``landmarks`` made to look nearer ``target_age``.

    ``strength`` (0.0-1.0) scales the whole effect, on top of :func:`age_change`.
    """
    way, amount = age_change(target_age, direction)
    amount *= strength
    result = image_rgb.copy()
    if amount <= 0.0:
        return result
    points = np.asarray(landmarks, dtype=np.float64)
    frame = face_frame(points)
    region = _face_region(points, frame, image_rgb.shape)
    window = (slice(region.top, region.bottom), slice(region.left, region.right))
    offset = np.array([region.left, region.top], dtype=np.float64)
    crop = image_rgb[window]
    crop_points = points - offset
    crop_frame = face_frame(crop_points)
    change = _older if way == "older" else _younger
    # Only pixels under one of the masks are written: elsewhere the Lab round trip could still
    # nudge a value by one.
    aged, touched = change(crop, crop_points, crop_frame, amount)
    result[window][touched] = np.clip(np.round(aged[touched]), 0, 255).astype(np.uint8)
    return result
