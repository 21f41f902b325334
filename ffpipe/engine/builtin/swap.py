"""Face swap by a landmark-driven piecewise-affine warp of the source face.

The source face's 68 landmarks plus an estimated forehead are triangulated once (Delaunay). Each
target face gets the same triangles on its own jaw line and forehead, with the source's eyes,
brows, nose and mouth fitted into it (a similarity fit of the landmarks); every target pixel inside
them is mapped back into the source through its triangle's affine transform (one dense remap), the
warped skin is colour matched to the target's in LAB, and the result is feathered into the target
inside the face outline. The work happens on a crop whose face region is ``pixel_boost`` pixels
across.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ffpipe.engine.builtin import exact
from ffpipe.engine.builtin.faces import Face, face_region_points

# Landmark groups (iBUG 68) left out of the skin statistics: eyes, eyebrows and the mouth.
_FEATURES = (range(17, 22), range(22, 27), range(36, 42), range(42, 48), range(48, 60))
# Landmarks that take the source's layout (eyebrows, nose, eyes, mouth); the jaw line stays the
# target's so the swapped region keeps the target's outline. Moving the features is what carries
# most of the identity: on the sample portraits it cuts the embedding distance to the source
# by a third to a half.
_INNER = slice(17, 68)
# A margin around the face region in the working crop, as a fraction of the region's size.
_CROP_MARGIN = 0.1
# Feather of the face outline, as a fraction of the region's size.
_SEAM = 0.12
# Limits on how much the colour transfer may stretch the source's contrast.
_STD_RATIO = (0.5, 2.0)


@dataclass(frozen=True)
class SourceFace:
    """The source face, prepared once: its pixels, points and the triangulation on them."""

    image: np.ndarray
    """The source image, (H, W, 3) uint8 RGB."""
    landmarks: np.ndarray
    """(68, 2) float32 landmarks of the source face."""
    points: np.ndarray
    """(78, 2) float32: landmarks and forehead, in source image pixels."""
    triangles: np.ndarray
    """(T, 3) int32 indices into ``points``."""


def prepare_source(image_rgb: np.ndarray, face: Face) -> SourceFace:
    """Triangulate the source face's points for :func:`swap_face`."""
    points = face_region_points(face.landmarks)
    return SourceFace(
        image=image_rgb,
        landmarks=face.landmarks.astype(np.float32),
        points=points,
        triangles=_triangulate(points),
    )


def _triangulate(points: np.ndarray) -> np.ndarray:
    import cv2

    low = points.min(axis=0) - 2.0
    high = points.max(axis=0) + 2.0
    subdivision = cv2.Subdiv2D(
        (int(low[0]), int(low[1]), int(high[0] - low[0]) + 2, int(high[1] - low[1]) + 2)
    )
    for x, y in points:
        subdivision.insert((float(x), float(y)))
    lookup = {(round(float(x), 3), round(float(y), 3)): i for i, (x, y) in enumerate(points)}
    triangles = []
    for triangle in subdivision.getTriangleList():
        corners = [
            (round(float(triangle[k]), 3), round(float(triangle[k + 1]), 3)) for k in (0, 2, 4)
        ]
        if all(corner in lookup for corner in corners):
            triangles.append([lookup[corner] for corner in corners])
    return np.array(sorted(triangles), dtype=np.int32)


def swap_face(
    frame_rgb: np.ndarray, target: Face, source: SourceFace, pixel_boost: int
) -> np.ndarray:
    """``frame_rgb`` with ``source``'s face put onto ``target``; pixels outside the face outline
    are returned unchanged."""
    import cv2

    target_points = face_region_points(_with_source_features(target.landmarks, source.landmarks))
    left, top, right, bottom = _crop_box(target_points, frame_rgb.shape)
    region = frame_rgb[top:bottom, left:right]
    scale = pixel_boost / float(max(right - left, bottom - top))
    work_size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    work = cv2.resize(
        region, work_size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    work_points = (target_points - (left, top)) * scale
    warped, inside = _warp(source, work_points, work_size)
    matched = _match_colour(warped, work, _skin_mask(inside, work_points))
    alpha = _feather(inside, _SEAM * pixel_boost)
    if scale != 1.0:
        size = (right - left, bottom - top)
        matched = cv2.resize(matched, size, interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
    blended = region.astype(np.float32) + alpha[..., None] * (matched - region.astype(np.float32))
    result = frame_rgb.copy()
    result[top:bottom, left:right] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return result


def _with_source_features(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Target landmarks whose inner features are the source's, fitted onto the target."""
    scale, rotation, offset = similarity_fit(source, target)
    aligned = exact.transform(source, rotation) * scale + offset
    points = target.astype(np.float32).copy()
    points[_INNER] = aligned[_INNER]
    return points


def similarity_fit(moving: np.ndarray, fixed: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares scale, rotation (2x2) and offset taking ``moving`` points onto ``fixed``.

    In the plane the fit has a closed form (Umeyama's, without reflections): with the points
    centred, the rotation's cosine and sine are proportional to the sums of their dot and cross
    products. Sums, not an SVD through LAPACK, so the bits do not depend on the processor.
    """
    first = moving.astype(np.float64)
    second = fixed.astype(np.float64)
    first_mean, second_mean = first.mean(axis=0), second.mean(axis=0)
    first_centred, second_centred = first - first_mean, second - second_mean
    (x1, y1), (x2, y2) = first_centred.T, second_centred.T
    dot = float((x1 * x2 + y1 * y2).sum())
    cross = float((x1 * y2 - y1 * x2).sum())
    length = float(np.sqrt(dot * dot + cross * cross))
    if length == 0.0:
        rotation = np.eye(2)
    else:
        cos, sin = dot / length, cross / length
        rotation = np.array([[cos, -sin], [sin, cos]])
    scale = length / max(float((first_centred**2).sum()), 1e-9)
    offset = second_mean - exact.transform(first_mean, rotation) * scale
    return scale, rotation, offset


def _crop_box(points: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    low = points.min(axis=0)
    high = points.max(axis=0)
    margin = _CROP_MARGIN * float(max(high - low))
    left = max(0, int(np.floor(low[0] - margin)))
    top = max(0, int(np.floor(low[1] - margin)))
    right = min(shape[1], int(np.ceil(high[0] + margin)) + 1)
    bottom = min(shape[0], int(np.ceil(high[1] + margin)) + 1)
    return left, top, right, bottom


def _warp(
    source: SourceFace, points: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Source pixels remapped onto ``points`` and the (H, W) bool map of pixels covered."""
    import cv2

    width, height = size
    owner = np.full((height, width), -1, dtype=np.int32)
    transforms = np.zeros((len(source.triangles), 2, 3), dtype=np.float64)
    shift = 4
    for number, triangle in enumerate(source.triangles):
        destination = points[triangle].astype(np.float32)
        transforms[number] = cv2.getAffineTransform(destination, source.points[triangle])
        corners = np.rint(destination * (1 << shift)).astype(np.int32)
        cv2.fillConvexPoly(owner, corners, number, lineType=cv2.LINE_8, shift=shift)
    inside = owner >= 0
    ys, xs = np.nonzero(inside)
    chosen = transforms[owner[ys, xs]]
    map_x = np.full((height, width), -1.0, dtype=np.float32)
    map_y = np.full((height, width), -1.0, dtype=np.float32)
    map_x[ys, xs] = chosen[:, 0, 0] * xs + chosen[:, 0, 1] * ys + chosen[:, 0, 2]
    map_y[ys, xs] = chosen[:, 1, 0] * xs + chosen[:, 1, 1] * ys + chosen[:, 1, 2]
    warped = cv2.remap(
        source.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return warped, inside


def _skin_mask(inside: np.ndarray, points: np.ndarray) -> np.ndarray:
    import cv2

    skin = inside.astype(np.uint8)
    for group in _FEATURES:
        hull = cv2.convexHull(np.rint(points[list(group)]).astype(np.int32))
        cv2.fillConvexPoly(skin, hull, 0)
    return skin.astype(bool)


def _match_colour(warped: np.ndarray, target: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``warped`` (uint8 RGB) with its skin's LAB mean and spread moved to the target's, float32."""
    import cv2

    if int(skin.sum()) < 16:
        return warped.astype(np.float32)
    source_lab = cv2.cvtColor(warped.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    target_lab = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    source_skin = source_lab[skin]
    target_skin = target_lab[skin]
    mean_s, std_s = source_skin.mean(axis=0), source_skin.std(axis=0) + 1e-3
    mean_t, std_t = target_skin.mean(axis=0), target_skin.std(axis=0) + 1e-3
    ratio = np.clip(std_t / std_s, *_STD_RATIO)
    moved = (source_lab - mean_s) * ratio + mean_t
    rgb = cv2.cvtColor(moved.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0, 0.0, 255.0)


def _feather(inside: np.ndarray, width: float) -> np.ndarray:
    """1.0 deep inside, ramping to 0.0 at the edge of ``inside`` over ``width`` pixels."""
    import cv2

    distance = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
    ramp = np.clip(distance / max(width, 1.0), 0.0, 1.0)
    return (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)
