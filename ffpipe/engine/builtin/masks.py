"""Where a processed face may change the frame: the catalog's box, occlusion and region masks.

* ``box``: the bounding box of the face region (the 68 landmarks and the estimated forehead, see
  :func:`ffpipe.engine.builtin.faces.face_region_points`), grown by ``face_mask_padding`` pixels
  (top,
  right, bottom, left).
* ``occlusion``: a classical stand-in for an occlusion model: inside the face outline, the pixels
  whose colour is close to the face's own skin (sampled on the cheeks and nose, compared in the
  Cr/Cb chroma plane), plus the eyes, eyebrows and mouth, cleaned of specks. Hands, hair or
  glasses of another colour in front of the face fall outside it.
* ``region``: the user's polygons, in coordinates normalized to that padded face box: (0, 0) is
  its top-left corner, (1, 1) its bottom-right, so one polygon fits every face of every frame.
  Parts that fall outside the image are cut off.

The masks listed are intersected; ``face_mask_blur`` then softens the edge inward, so the mask is
exactly 0.0 wherever any of them is 0.0 and nothing outside the box ever changes.
"""

from __future__ import annotations

import numpy as np

from ffpipe.catalog.swap import FaceMasking
from ffpipe.engine.builtin.faces import Face, face_outline, face_region_points

# face_mask_blur 1.0 feathers over this fraction of the box's smaller side.
_BLUR_REACH = 0.25
# Mahalanobis distance in Cr/Cb up to which a pixel counts as skin.
_SKIN_TOLERANCE = 3.0
# Smallest chroma spread assumed for skin, so that a flat-coloured face still admits its noise.
_CHROMA_FLOOR = 2.0
# Landmarks whose polygons sample the skin: both cheeks and the nose.
_SKIN_SAMPLES = ((1, 2, 3, 31, 29), (15, 14, 13, 35, 29), (27, 31, 33, 35))
_FEATURES = (range(17, 22), range(22, 27), range(36, 42), range(42, 48), range(48, 60))


def mask_box(
    shape: tuple[int, int], face: Face, padding: tuple[int, int, int, int], expand: float = 0.0
) -> tuple[int, int, int, int]:
    """The padded face box (left, top, right, bottom, right/bottom exclusive), not yet clipped.

    ``expand`` grows it further by that fraction of its width and height on every side (edits
    that move pixels beyond the face use it).
    """
    points = face_region_points(face.landmarks)
    low = np.floor(points.min(axis=0))
    high = np.ceil(points.max(axis=0)) + 1
    grow_x = expand * float(high[0] - low[0])
    grow_y = expand * float(high[1] - low[1])
    top, right, bottom, left = padding
    return (
        int(low[0] - left - grow_x),
        int(low[1] - top - grow_y),
        int(high[0] + right + grow_x),
        int(high[1] + bottom + grow_y),
    )


def build_mask(
    shape: tuple[int, int],
    face: Face,
    params: FaceMasking,
    *,
    frame_rgb: np.ndarray | None = None,
    expand: float = 0.0,
) -> np.ndarray:
    """(H, W) float32 mask, 0.0 (keep the original) to 1.0 (take the processed face).

    ``shape`` is the frame's (height, width); the occlusion mask samples ``frame_rgb``, which it
    therefore needs. ``expand`` grows the box (see :func:`mask_box`). The box bounds every mask,
    listed or not: region polygons are normalized to it and the face outline lies inside it.
    """
    height, width = shape[:2]
    box = mask_box(shape, face, params.face_mask_padding, expand)
    combined = np.zeros((height, width), dtype=np.uint8)
    left, top, right, bottom = _clip(box, width, height)
    combined[top:bottom, left:right] = 1
    if "occlusion" in params.face_mask_types:
        if frame_rgb is None:
            raise ValueError("the occlusion mask needs the frame's pixels (frame_rgb)")
        combined &= occlusion_mask(frame_rgb, face)
    if "region" in params.face_mask_types:
        combined &= region_mask((height, width), box, params.face_mask_regions)
    left, top, right, bottom = box
    reach = params.face_mask_blur * _BLUR_REACH * min(right - left, bottom - top)
    return feather(combined, reach)


def _clip(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    return max(0, left), max(0, top), min(width, right), min(height, bottom)


def region_mask(
    shape: tuple[int, int], box: tuple[int, int, int, int], polygons: list
) -> np.ndarray:
    """(H, W) uint8 0/1: the polygons (normalized to ``box``) filled; empty without polygons."""
    import cv2

    height, width = shape
    mask = np.zeros((height, width), dtype=np.uint8)
    left, top, right, bottom = box
    size = np.array([right - left, bottom - top], dtype=np.float64)
    shift = 4
    for polygon in polygons:
        corners = np.array(polygon, dtype=np.float64) * size + (left, top)
        cv2.fillPoly(mask, [np.rint(corners * (1 << shift)).astype(np.int32)], 1, shift=shift)
    return mask


def occlusion_mask(frame_rgb: np.ndarray, face: Face) -> np.ndarray:
    """(H, W) uint8 0/1: skin-coloured pixels and facial features inside the face outline."""
    import cv2

    height, width = frame_rgb.shape[:2]
    outline = np.zeros((height, width), dtype=np.uint8)
    cv2.fillConvexPoly(outline, np.rint(face_outline(face.landmarks)).astype(np.int32), 1)
    samples = np.zeros_like(outline)
    for group in _SKIN_SAMPLES:
        polygon = np.rint(face.landmarks[list(group)]).astype(np.int32)
        cv2.fillConvexPoly(samples, cv2.convexHull(polygon), 1)
    chroma = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2YCrCb)[:, :, 1:].astype(np.float64)
    sampled = chroma[samples.astype(bool)]
    if len(sampled) < 8:
        return outline
    # Median and median absolute deviation: an occluder inside the sampled cheeks is outvoted.
    centre = np.median(sampled, axis=0)
    spread = 1.4826 * np.median(np.abs(sampled - centre), axis=0) + _CHROMA_FLOOR
    distance = (((chroma - centre) / spread) ** 2).sum(axis=2)
    skin = (distance <= _SKIN_TOLERANCE**2).astype(np.uint8)
    for group in _FEATURES:
        polygon = np.rint(face.landmarks[list(group)]).astype(np.int32)
        cv2.fillConvexPoly(skin, cv2.convexHull(polygon), 1)
    size = max(3, int(0.04 * (face.box[2] - face.box[0])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    skin = cv2.morphologyEx(skin, cv2.MORPH_OPEN, kernel)
    skin = cv2.morphologyEx(skin, cv2.MORPH_CLOSE, kernel)
    return skin & outline


def feather(binary: np.ndarray, reach: float) -> np.ndarray:
    """float32 0..1 from a 0/1 mask: 1.0 deep inside, easing to 0.0 at its edge over ``reach``
    pixels, exactly 0.0 outside."""
    import cv2

    if reach < 1.0:
        return binary.astype(np.float32)
    # The image border is not an edge: a face cut off by the frame stays processed up to it.
    distance = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    ramp = np.clip(distance / reach, 0.0, 1.0)
    return (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)


def blend(original: np.ndarray, processed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 ``original`` where ``mask`` is 0.0, ``processed`` where 1.0, mixed in between."""
    weight = mask[..., None] if original.ndim == 3 else mask
    mixed = original.astype(np.float32) + weight * (
        processed.astype(np.float32) - original.astype(np.float32)
    )
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
