"""Where the faces of an image are: dlib's HOG detector over an image pyramid, retried rotated.

dlib's frontal detector slides an 80x80 window over a pyramid that only shrinks the image, so on
its own it misses faces smaller than about 70 px. A neural detector at the catalog's 640x640
finds faces down to about 20 px, so the search here runs in two passes on the image shrunk to
fit ``detector_size`` (its working size; a smaller image is not enlarged):

1. The whole working image, upsampled to twice its size (dlib's ``upsample_num_times=1``):
   faces from about 35 px up, each at its best pyramid level.
2. Weak candidates of that pass at its finest level (where faces of 20-35 px show up, too small
   for the window to score them well) are looked at again in a crop enlarged four times, where
   such a face fills the window. At most :data:`MAX_PROPOSALS` crops, strongest first, so the
   cost stays bounded on cluttered images.

When neither pass finds a face, the image is searched again rotated by
:data:`RETRY_ANGLES` (FaceFusion's ``face_detector_angles``), and boxes are mapped back into the
upright image. Overlapping detections from all levels and angles are merged by non-maximum
suppression, keeping the strongest.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ffpipe.engine.builtin.models import HOG_DETECTOR, model

# dlib's models are not documented as thread-safe; one call at a time.
_DETECT_LOCK = threading.Lock()

# The catalog's face_detector_score (0.0-1.0) maps onto the detector's SVM margin piecewise
# linearly through these (score, margin) points: see score_to_margin.
_CALIBRATION = ((0.0, -0.1), (0.5, 0.1), (1.0, 2.0))

# Pass 1 upsamples the working image this many times by 2 (dlib's argument: its own
# interpolation scores small faces better than a plain linear resize).
_COARSE_UPSAMPLE = 1
# Pass 2: crops are upsampled so a face of SMALLEST_FACE px fills dlib's 80 px window.
SMALLEST_FACE = 20
_WINDOW = 80
_FINE_FACTOR = _WINDOW / SMALLEST_FACE
# Pass-1 candidates worth a second look: at least this margin, no larger than this many working
# pixels (larger faces are scored well by pass 1 already), at most this many per image.
_PROPOSAL_MARGIN = -1.0
_PROPOSAL_LARGEST = 40.0
MAX_PROPOSALS = 8
# A crop around a candidate spans this many times its box.
_CROP_SPAN = 1.5
# Two detections overlapping more than this (intersection over union) are the same face.
_SAME_FACE_IOU = 0.3

# A working image whose gray levels spread less than this (standard deviation) is flat, a black or
# faded frame: no face shows at any angle, so it is not searched.
_FLAT = 1.0

RETRY_ANGLES: tuple[tuple[float, ...], ...] = ((15.0, -15.0), (30.0, -30.0))
"""Rotations tried, a group at a time, when the upright image shows no face."""

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """One face found: its box in the image's pixels, the detector's margin and the rotation
    (degrees, counter-clockwise) of the image it was found in; 0.0 is upright."""

    box: Box
    margin: float
    angle: float = 0.0


def score_to_margin(score: float) -> float:
    """The detector margin that the catalog's ``face_detector_score`` stands for.

    Calibrated on the generated hard set (``bench/hardset.py``): at margin 0.0 (score 0.5) the
    detector keeps nearly every placed face and nearly no clutter. Clutter and weak faces share
    the margins just below, which scores 0.0-0.5 spread out; clear faces run up to margin 2 and
    beyond, which scores 0.5-1.0 cover.
    """
    scores, margins = zip(*_CALIBRATION, strict=True)
    return float(np.interp(score, scores, margins))


def margin_to_score(margin: float) -> float:
    """Inverse of :func:`score_to_margin`, clipped to 0.0-1.0."""
    scores, margins = zip(*_CALIBRATION, strict=True)
    return float(np.interp(margin, margins, scores))


def working_scale(shape: tuple[int, ...], detector_size: int) -> float:
    """Factor that brings the image's longest side down to ``detector_size``; 1.0 for an image
    already within it (as FaceFusion, which pads a smaller frame instead of enlarging it)."""
    return min(1.0, detector_size / float(max(shape[0], shape[1])))


def find_faces(
    image_rgb: np.ndarray,
    *,
    score: float = 0.5,
    detector_size: int = 640,
    retry_angles: Sequence[Sequence[float]] = RETRY_ANGLES,
) -> list[Detection]:
    """Faces of an 8-bit RGB image at ``face_detector_score`` ``score``, strongest first.

    ``retry_angles``: groups of rotations tried in turn while no face is found (empty: none).
    """
    import cv2

    scale = working_scale(image_rgb.shape, detector_size)
    gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    if float(gray.std()) < _FLAT:
        return []
    threshold = score_to_margin(score)
    found = _search(gray, threshold)
    for angles in retry_angles:
        if found:
            break
        for angle in angles:
            found += _search_rotated(gray, threshold, angle)
        found = _suppress(found)
    return [_scaled(item, 0.0, 0.0, scale) for item in found]


def _search(gray: np.ndarray, threshold: float) -> list[Detection]:
    coarse = _run(gray, min(threshold, _PROPOSAL_MARGIN), upsample=_COARSE_UPSAMPLE)
    accepted = [item for item in coarse if item.margin >= threshold]
    proposals = [
        item
        for item in coarse
        if item.margin < threshold
        and _side(item.box) <= _PROPOSAL_LARGEST
        and not any(_overlaps(item.box, face.box) for face in accepted)
    ]
    for proposal in _suppress(proposals)[:MAX_PROPOSALS]:
        accepted += _look_closer(gray, proposal, threshold)
    return _suppress(accepted)


def _look_closer(gray: np.ndarray, proposal: Detection, threshold: float) -> list[Detection]:
    left, top, right, bottom = proposal.box
    half = _side(proposal.box) * _CROP_SPAN / 2
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0, y0 = max(0, round(cx - half)), max(0, round(cy - half))
    x1, y1 = min(gray.shape[1], round(cx + half)), min(gray.shape[0], round(cy + half))
    crop = gray[y0:y1, x0:x1]
    if crop.size == 0:
        return []
    found = _run(_zoom(crop, _FINE_FACTOR), threshold)
    return [_scaled(item, x0, y0, _FINE_FACTOR) for item in found if item.margin >= threshold]


def _zoom(gray: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)


def _scaled(item: Detection, x0: float, y0: float, factor: float) -> Detection:
    """A detection in a crop cut at (x0, y0) and zoomed by ``factor``, in the image's pixels."""
    left, top, right, bottom = item.box
    box = (x0 + left / factor, y0 + top / factor, x0 + right / factor, y0 + bottom / factor)
    return Detection(box, item.margin, item.angle)


def _run(gray: np.ndarray, threshold: float, *, upsample: int = 0) -> list[Detection]:
    with _DETECT_LOCK:
        rects, margins, _ = model(HOG_DETECTOR).run(gray, upsample, threshold)
    return [
        Detection((rect.left(), rect.top(), rect.right(), rect.bottom()), float(margin))
        for rect, margin in zip(rects, margins, strict=True)
    ]


def _search_rotated(gray: np.ndarray, threshold: float, angle: float) -> list[Detection]:
    import cv2

    height, width = gray.shape
    centre = ((width - 1) / 2, (height - 1) / 2)
    turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
    # Grow the canvas so no corner of the image is cut off.
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    new_width, new_height = round(width * cos + height * sin), round(width * sin + height * cos)
    turn[0, 2] += (new_width - width) / 2
    turn[1, 2] += (new_height - height) / 2
    rotated = cv2.warpAffine(gray, turn, (new_width, new_height), flags=cv2.INTER_LINEAR)
    back = cv2.invertAffineTransform(turn)
    found = []
    for item in _search(rotated, threshold):
        left, top, right, bottom = item.box
        cx, cy = back @ np.array([(left + right) / 2, (top + bottom) / 2, 1.0])
        half = _side(item.box) / 2
        found.append(Detection((cx - half, cy - half, cx + half, cy + half), item.margin, angle))
    return found


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
    for item in sorted(found, key=lambda item: (-item.margin, item.box)):
        if not any(_overlaps(item.box, other.box) for other in kept):
            kept.append(item)
    return kept
