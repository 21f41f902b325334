"""The builtin engine's face editor: landmark-driven warps, classical ageing and hair recolouring.

One call edits one face. The geometric controls move the face's points
(:mod:`ffpipe.engine.builtin.edit_landmarks`) and the picture follows through a thin-plate spline
warp
(:mod:`ffpipe.engine.builtin.edit_warp`) pinned by a ring of fixed points around the head, so the
background stays where it is. Then age (:mod:`ffpipe.engine.builtin.edit_age`) and hair colour
(:mod:`ffpipe.engine.builtin.edit_hair`) are applied to the moved face.

``face_editor_blend`` scales the edit rather than cross-fading two pictures: at 0.5 every point
moves half way and age and hair colour are mixed in at half strength, so a half edit never shows a
double image.
"""

from __future__ import annotations

import numpy as np

from ffpipe.catalog.edit import EXPRESSION_FIELDS, Editing, FeatureModification
from ffpipe.engine.api import UnsupportedError
from ffpipe.engine.builtin.edit_age import age_face
from ffpipe.engine.builtin.edit_hair import recolour_hair
from ffpipe.engine.builtin.edit_landmarks import anchor_ring, edited_points, face_frame, face_points
from ffpipe.engine.builtin.edit_scope import UNSUPPORTED
from ffpipe.engine.builtin.edit_warp import region_around, warp_points
from ffpipe.engine.builtin.faces import Face

GEOMETRY_FIELDS: tuple[str, ...] = (
    *EXPRESSION_FIELDS,
    *(name for name in FeatureModification.model_fields if not name.startswith("face_editor_hair")),
)
"""Controls carried out by moving the face's points."""


def _is_default(params: Editing, name: str) -> bool:
    return getattr(params, name) == Editing.model_fields[name].default


def check_supported(params: Editing) -> None:
    """Raise :class:`UnsupportedError` naming the first unsupported parameter that is set."""
    for name, reason in UNSUPPORTED.items():
        if not _is_default(params, name):
            raise UnsupportedError(
                f"{name}={getattr(params, name)!r} is not available on the builtin engine: "
                f"{reason}. Leave it unset, or run this step on a server with a real face editor."
            )


def _check_frame(frame_rgb: np.ndarray) -> None:
    if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise ValueError(
            f"expected an 8-bit RGB frame (H, W, 3), got {frame_rgb.dtype} {frame_rgb.shape}"
        )


def _warp(
    frame_rgb: np.ndarray, landmarks: np.ndarray, params: Editing
) -> tuple[np.ndarray, np.ndarray]:
    """The frame with the geometric controls applied, and the face's moved 68 landmarks."""
    frame = face_frame(landmarks)
    points = face_points(landmarks, frame)
    moved = edited_points(points, params)
    moved = points + (moved - points) * params.face_editor_blend
    anchors = anchor_ring(np.concatenate([points, moved]))
    sources = frame.to_pixels(np.concatenate([points, anchors]))
    targets = frame.to_pixels(np.concatenate([moved, anchors]))
    region = region_around(frame.to_pixels(anchors), 0.3 * frame.unit, frame_rgb.shape)
    # The spline is smooth, so a grid of about ten nodes per eye distance renders it faithfully.
    grid_step = int(np.clip(round(frame.unit / 10.0), 2, 12))
    warped = warp_points(frame_rgb, sources, targets, region, grid_step)
    return warped, targets[:68]


def edit_face(frame_rgb: np.ndarray, face: Face, params: Editing) -> np.ndarray:
    """``frame_rgb`` (uint8 RGB) with ``face`` edited as ``params`` ask; a new array.

    Neutral parameters (ratios 1.0, others 0.0, no age, no hair colour) or a blend of 0.0 return
    an identical copy. Pixels away from the face and the hair above it are never changed. Which
    way each control moves is documented on
    :func:`ffpipe.engine.builtin.edit_landmarks.edited_points`; age on
    :mod:`ffpipe.engine.builtin.edit_age`.
    Raises :class:`UnsupportedError` for the parameters in :data:`UNSUPPORTED`.
    """
    check_supported(params)
    _check_frame(frame_rgb)
    blend = params.face_editor_blend
    geometric = any(not _is_default(params, name) for name in GEOMETRY_FIELDS)
    if blend == 0.0:
        return frame_rgb.copy()
    result = frame_rgb.copy()
    landmarks = np.asarray(face.landmarks, dtype=np.float64)
    if geometric:
        result, landmarks = _warp(result, landmarks, params)
    if params.face_editor_age is not None:
        result = age_face(
            result, landmarks, params.face_editor_age, params.face_editor_age_direction, blend
        )
    if params.face_editor_hair_color is not None:
        result = recolour_hair(result, landmarks, params.face_editor_hair_color, blend)
    return result
