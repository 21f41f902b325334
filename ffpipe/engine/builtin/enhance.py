"""The builtin engine's face enhancer: classical restoration in place of the catalog's networks.

Each pass crops the face aligned to a fixed five-point template at the named model's working
resolution, denoises it with a self-guided filter (edge-preserving), lifts its mid-scale detail
(base/detail split with a wider guided filter), sharpens it with an unsharp mask and pastes the
change back through a feathered oval. Only the change is resampled back into the frame, so the
original pixels are not blurred by a round trip through the working resolution. The result is
mixed with the input by ``face_enhancer_blend`` and the pass is repeated
``face_enhancer_iterations`` times. Filter sizes are fractions of the working resolution, so every
model sees the same face structures; the models differ in resolution and in how hard they denoise
and sharpen.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from ffpipe.catalog.enhance import Enhancement
from ffpipe.engine.builtin import exact
from ffpipe.engine.builtin.faces import Face
from ffpipe.engine.builtin.restorations import RESTORATIONS, Restoration

# Where eye centres, nose tip and mouth corners sit in the aligned crop, as fractions of its side
# (the usual layout of 512-pixel face restoration crops).
_TEMPLATE = np.array([[0.377, 0.469], [0.623, 0.469], [0.5, 0.614], [0.393, 0.725], [0.611, 0.725]])
# The oval, in crop fractions, whose inside is restored: forehead to chin, cheek to cheek.
_OVAL_CENTRE = (0.5, 0.56)
_OVAL_AXES = (0.33, 0.40)
_OVAL_FEATHER = 0.04
# Values the boosted detail may take before sharpening (the crop is 0-1): the range of the blur's
# fixed point.
_DETAIL_RANGE = (-1.0, 2.0)


def _five_points(landmarks: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            landmarks[36:42].mean(axis=0),
            landmarks[42:48].mean(axis=0),
            landmarks[30],
            landmarks[48],
            landmarks[54],
        ]
    ).astype(np.float64)


def similarity_to(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, shift) from points to template."""
    source_mean, target_mean = points.mean(axis=0), template.mean(axis=0)
    source, target = points - source_mean, template - target_mean
    source_c = source[:, 0] + 1j * source[:, 1]
    target_c = target[:, 0] + 1j * target[:, 1]
    factor = (np.conj(source_c) * target_c).sum() / (np.abs(source_c) ** 2).sum()
    linear = np.array([[factor.real, -factor.imag], [factor.imag, factor.real]])
    shift = target_mean - exact.transform(source_mean, linear)
    return np.hstack([linear, shift[:, None]])


def restore(crop: np.ndarray, spec: Restoration) -> np.ndarray:
    """One classical restoration pass over an aligned float32 RGB crop (0-1)."""
    side = crop.shape[0]
    denoised = exact.guided_filter(crop, max(1, round(side / 256)), spec.denoise**2)
    base = exact.guided_filter(denoised, max(2, round(side / 32)), 0.01)
    detailed = base + (denoised - base) * (1.0 + spec.detail)
    blurred = exact.gaussian_blur(detailed, side / 300.0, *_DETAIL_RANGE)
    return np.clip(detailed + (detailed - blurred) * spec.sharpen, 0.0, 1.0)


@cache
def _oval(side: int) -> np.ndarray:
    """Weights of the restored oval in a crop of ``side`` pixels: 1 inside, 0 outside, feathered."""
    position = (np.arange(side, dtype=np.float32) + 0.5) / side
    across = ((position - _OVAL_CENTRE[0]) / _OVAL_AXES[0])[None, :]
    down = ((position - _OVAL_CENTRE[1]) / _OVAL_AXES[1])[:, None]
    radius = np.sqrt(across**2 + down**2)
    # Feather width in oval radii, from the feather's share of the crop.
    feather = _OVAL_FEATHER / min(_OVAL_AXES)
    t = np.clip((1.0 + feather - radius) / (2.0 * feather), 0.0, 1.0)
    weights = t * t * (3.0 - 2.0 * t)
    weights.flags.writeable = False
    return weights


def _paste_box(inverse: np.ndarray, side: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    corners = np.array([[0, 0], [side, 0], [0, side], [side, side]], dtype=np.float64)
    mapped = exact.transform(corners, inverse)
    left, top = np.floor(mapped.min(axis=0)).astype(int)
    right, bottom = np.ceil(mapped.max(axis=0)).astype(int) + 1
    return max(left, 0), max(top, 0), min(right, shape[1]), min(bottom, shape[0])


def _enhance_once(
    frame: np.ndarray, landmarks: np.ndarray, spec: Restoration, blend: float
) -> np.ndarray:
    side = spec.resolution
    forward = similarity_to(_five_points(landmarks), _TEMPLATE * side)
    inverse = exact.invert_affine(forward)
    left, top, right, bottom = _paste_box(inverse, side, frame.shape)
    if right <= left or bottom <= top:
        return frame
    crop = exact.warp_affine(frame, forward, (side, side), border=cv2.BORDER_REFLECT_101).astype(
        np.float32
    )
    crop /= 255.0
    change = np.concatenate([restore(crop, spec) - crop, _oval(side)[:, :, None]], axis=2)
    # The inverse map into the paste box only: shift it so the box's corner is its origin.
    into_box = inverse.copy()
    into_box[:, 2] -= (left, top)
    pasted = exact.warp_affine(change, into_box, (right - left, bottom - top))
    weight = pasted[:, :, 3:] * blend
    window = (slice(top, bottom), slice(left, right))
    mixed = frame[window].astype(np.float32) / 255.0 + pasted[:, :, :3] * weight
    result = frame.copy()
    inside = weight[:, :, 0] > 0
    result[window][inside] = np.clip(np.round(mixed[inside] * 255.0), 0, 255).astype(np.uint8)
    return result


def enhance_face(frame_rgb: np.ndarray, face: Face, params: Enhancement) -> np.ndarray:
    """``frame_rgb`` (uint8 RGB) with ``face`` restored as ``params`` ask; a new array.

    ``face_enhancer_blend`` 0.0 returns an identical copy. Pixels outside the restored oval
    (about forehead to chin, cheek to cheek) are never changed.
    """
    if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise ValueError(
            f"expected an 8-bit RGB frame (H, W, 3), got {frame_rgb.dtype} {frame_rgb.shape}"
        )
    result = frame_rgb.copy()
    if params.face_enhancer_blend == 0.0:
        return result
    spec = RESTORATIONS[params.face_enhancer_model]
    landmarks = np.asarray(face.landmarks, dtype=np.float64)
    for _ in range(params.face_enhancer_iterations):
        result = _enhance_once(result, landmarks, spec, params.face_enhancer_blend)
    return result
