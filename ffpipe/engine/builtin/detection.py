"""Where the faces of an image are: YuNet (OpenCV's ``FaceDetectorYN``) at the size asked.

As in FaceFusion, the image is shrunk (never enlarged) to fit ``detector_size`` and laid in the
top-left corner of a black ``detector_size`` square, and the network runs once on that square.
A face's score is the network's class score times its box-quality score, as FaceFusion's
``face_detector_score`` reads it (OpenCV reports the square root of that product).

YuNet's floor is a face of about 10-15 px in the square. In a photograph much larger than the
square (a class photo at 640) faces fall under it; when the first pass finds small faces in such
a photo, a second pass looks at the image at :data:`TILE_ZOOM` times the working scale, in
overlapping ``detector_size`` tiles, and adds the small faces it finds there. Overlapping
detections of both passes are merged by non-maximum suppression, keeping the strongest.

YuNet finds heads at any roll, but reads their five points as if upright; a face scoring low is
looked at again in a crop turned by :data:`ORIENTATIONS` (see :func:`_oriented`), so its points,
and the landmarks they seed, follow the head.

Boxes, the five points and scores are rounded to fixed grids (:data:`GRID`, :data:`SCORE_GRID`)
before anything downstream uses them, so that the last bits of the network's floating point,
which may differ between CPUs, rarely reach landmarks, alignment or output pixels.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from ffpipe.engine.builtin.models import YUNET_DETECTOR, model

# OpenCV's detector objects keep their input size: one call at a time.
_DETECT_LOCK = threading.Lock()

# Suppression inside one network pass (OpenCV's own NMS) and across passes.
_NMS_IOU = 0.3
_SAME_FACE_IOU = 0.3
_TOP_K = 5000

TILE_ZOOM = 2.0
"""The tiled pass looks at the image at this many times the working scale."""
TILE_FROM = 2.0
"""The tiled pass runs when the image's longest side is at least this many times
``detector_size`` (below it, faces under the floor would be under about 30 px in the image)..."""
SMALL_FACE = 32.0
"""...and the whole pass found a face under this many pixels at the working scale: a group of
small faces, some of them at the floor, the rest likely under it. A video frame or a photo whose
faces are large (or absent) costs one pass."""
_TILE_OVERLAP = 0.25
# Faces of the tiled pass larger than this fraction of a tile were seen by the whole pass.
_TILE_FACE_LARGEST = 0.2

GRID = 0.25
"""Boxes and points are rounded to this many image pixels."""
SCORE_GRID = 1e-4

# A working image whose gray levels spread less than this (standard deviation) is flat, a black or
# faded frame: no face shows at any angle, so it is not searched.
_FLAT = 1.0

ORIENT_BELOW = 0.8
"""Faces scoring below this have their five points read again at :data:`ORIENTATIONS`: an upright
face scores above it, a strongly rolled head below (YuNet finds it, at a lower score)."""
ORIENTATIONS: tuple[float, ...] = (0.0, 45.0, -45.0, 90.0, -90.0, 135.0, -135.0, 180.0)
_ORIENT_CROP = 160
_ORIENT_SPAN = 2.0
_ORIENT_SCORE = 0.1

Box = tuple[float, float, float, float]
Points = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Detection:
    """One face found: its box in the image's pixels, its score (0.0-1.0), YuNet's five points
    (the face's right eye, left eye, nose tip, right and left mouth corners, as they appear from
    the viewer's left to right for the eyes) and the rotation (degrees, counter-clockwise) of the
    image it was found in; 0.0 is upright."""

    box: Box
    score: float
    points: Points = field(default=())
    angle: float = 0.0


def working_scale(shape: tuple[int, ...], detector_size: int) -> float:
    """Factor that brings the image's longest side down to ``detector_size``; 1.0 for an image
    already within it (as FaceFusion, which pads a smaller frame instead of enlarging it)."""
    return min(1.0, detector_size / float(max(shape[0], shape[1])))


def find_faces(
    image_rgb: np.ndarray, *, score: float = 0.5, detector_size: int = 640
) -> list[Detection]:
    """Faces of an 8-bit RGB image at ``face_detector_score`` ``score``, strongest first."""
    import cv2

    bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    scale = working_scale(bgr.shape, detector_size)
    working = _resized(bgr, scale)
    if float(working.std()) < _FLAT:
        return []
    found = _search(bgr, working, scale, score, detector_size)
    found = [_oriented(bgr, item) if item.score < ORIENT_BELOW else item for item in found]
    return [_on_grid(item) for item in found]


def _search(
    bgr: np.ndarray, working: np.ndarray, scale: float, score: float, detector_size: int
) -> list[Detection]:
    whole = _run(working, score, detector_size)
    found = [_scaled(item, 0.0, 0.0, scale) for item in whole]
    small = any(_side(item.box) < SMALL_FACE for item in whole)
    if small and max(bgr.shape[:2]) >= TILE_FROM * detector_size:
        found += _tiled(bgr, min(1.0, scale * TILE_ZOOM), score, detector_size)
    return _suppress(found)


def _tiled(bgr: np.ndarray, scale: float, score: float, detector_size: int) -> list[Detection]:
    """Small faces of the image seen at ``scale``, in overlapping ``detector_size`` tiles."""
    finer = _resized(bgr, scale)
    height, width = finer.shape[:2]
    stride = max(1, round(detector_size * (1 - _TILE_OVERLAP)))
    largest = detector_size * _TILE_FACE_LARGEST
    found = []
    for y0 in _starts(height, detector_size, stride):
        for x0 in _starts(width, detector_size, stride):
            tile = finer[y0 : y0 + detector_size, x0 : x0 + detector_size]
            for item in _run(tile, score, detector_size):
                if _side(item.box) <= largest:
                    found.append(_scaled(item, x0, y0, scale))
    return found


def _starts(length: int, size: int, stride: int) -> list[int]:
    """Tile origins covering ``length``, the last one flush with the end."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size, stride))
    return [*starts, length - size]


def _resized(bgr: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale >= 1.0:
        return bgr
    size = (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale)))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


def _run(image_bgr: np.ndarray, score: float, detector_size: int) -> list[Detection]:
    """YuNet on ``image_bgr`` (at most ``detector_size`` square) laid on a black square."""
    height, width = image_bgr.shape[:2]
    square = np.zeros((detector_size, detector_size, 3), dtype=np.uint8)
    square[:height, :width] = image_bgr
    detector = model(YUNET_DETECTOR)
    with _DETECT_LOCK:
        detector.setInputSize((detector_size, detector_size))
        # OpenCV's score is the square root of FaceFusion's.
        detector.setScoreThreshold(math.sqrt(max(score, 0.0)))
        detector.setNMSThreshold(_NMS_IOU)
        detector.setTopK(_TOP_K)
        _, rows = detector.detect(square)
    if rows is None:
        return []
    found = []
    for row in rows.astype(np.float64):
        x, y, w, h = row[:4]
        points = tuple((float(row[i]), float(row[i + 1])) for i in range(4, 14, 2))
        found.append(Detection((x, y, x + w, y + h), float(row[14]) ** 2, points))
    return found


def _scaled(item: Detection, x0: float, y0: float, factor: float) -> Detection:
    """A detection in a crop cut at (x0, y0) of the image scaled by ``factor``, in the image's
    pixels."""
    left, top, right, bottom = item.box
    box = ((x0 + left) / factor, (y0 + top) / factor, (x0 + right) / factor, (y0 + bottom) / factor)
    points = tuple(((x0 + x) / factor, (y0 + y) / factor) for x, y in item.points)
    return Detection(box, item.score, points, item.angle)


def _oriented(bgr: np.ndarray, item: Detection) -> Detection:
    """``item`` with five points read where the face looks most upright.

    YuNet finds heads at any roll, but its five points stay where an upright face would have them.
    A crop around the face is searched at each of :data:`ORIENTATIONS`; the turn under which the
    face scores highest gives the points, turned back into the image."""
    import cv2

    left, top, right, bottom = item.box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    zoom = _ORIENT_CROP / (_ORIENT_SPAN * _side(item.box))
    centre = _ORIENT_CROP / 2
    best: tuple[float, np.ndarray, Detection] | None = None
    for angle in ORIENTATIONS:
        turn = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
        turn[0, 2] += centre - cx
        turn[1, 2] += centre - cy
        crop = cv2.warpAffine(bgr, turn, (_ORIENT_CROP, _ORIENT_CROP), flags=cv2.INTER_LINEAR)
        for candidate in _run(crop, _ORIENT_SCORE, _ORIENT_CROP):
            box = candidate.box
            near = abs((box[0] + box[2]) / 2 - centre) + abs((box[1] + box[3]) / 2 - centre)
            if near <= _ORIENT_CROP / 4 and (best is None or candidate.score > best[2].score):
                best = (angle, turn, candidate)
    if best is None:
        return item
    angle, turn, candidate = best
    back = cv2.invertAffineTransform(turn)
    points = tuple(
        tuple(float(v) for v in back @ np.array([x, y, 1.0])) for x, y in candidate.points
    )
    return Detection(item.box, item.score, points, angle)


def _on_grid(item: Detection) -> Detection:
    def snap(value: float) -> float:
        return round(value / GRID) * GRID

    box = (snap(item.box[0]), snap(item.box[1]), snap(item.box[2]), snap(item.box[3]))
    points = tuple((snap(x), snap(y)) for x, y in item.points)
    score = round(round(item.score / SCORE_GRID) * SCORE_GRID, 4)
    return Detection(box, score, points, item.angle)


def _side(box: Box) -> float:
    return ((box[2] - box[0]) + (box[3] - box[1])) / 2


def iou(first: tuple[float, ...], second: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    area = (first[2] - first[0]) * (first[3] - first[1])
    other = (second[2] - second[0]) * (second[3] - second[1])
    return inter / (area + other - inter)


def _overlaps(first: Box, second: Box) -> bool:
    """The same face: overlapping enough, or one box's centre inside the other."""
    if iou(first, second) > _SAME_FACE_IOU:
        return True
    for inner, outer in ((first, second), (second, first)):
        cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
        if outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]:
            return True
    return False


def _suppress(found: list[Detection]) -> list[Detection]:
    """Strongest first; a detection overlapping a stronger one is dropped."""
    kept: list[Detection] = []
    for item in sorted(found, key=lambda item: (-item.score, item.box)):
        if not any(_overlaps(item.box, other.box) for other in kept):
            kept.append(item)
    return kept
