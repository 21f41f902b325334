"""Face detection, 68-point landmarks and 128-d embeddings on dlib."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ffpipe.engine.models import HOG_DETECTOR, LANDMARKER, RECOGNIZER, model

# dlib's models are not documented as thread-safe; one call at a time each.
_DETECT_LOCK = threading.Lock()
_SHAPE_LOCK = threading.Lock()
_EMBED_LOCK = threading.Lock()

# The HOG detector's raw score is an SVM margin, about -1 (weak) to 3 (strong) on portraits. The
# catalog's 0.0-1.0 threshold maps linearly onto margins -1.0..3.0, so 0.25 accepts everything the
# detector proposes at margin 0, its own default.
_MARGIN_LOW = -1.0
_MARGIN_HIGH = 3.0


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixel coordinates of the image it was found in."""

    box: tuple[int, int, int, int]
    """left, top, right, bottom."""
    score: float
    """Detector confidence mapped onto 0.0-1.0."""
    landmarks: np.ndarray
    """(68, 2) float32, dlib/iBUG 68-point order."""
    embedding: np.ndarray
    """(128,) float64 identity descriptor; same person: distance below about 0.6."""

    @property
    def center(self) -> tuple[float, float]:
        left, top, right, bottom = self.box
        return (left + right) / 2.0, (top + bottom) / 2.0


def score_to_margin(score: float) -> float:
    """The detector margin that the catalog's ``face_detector_score`` stands for."""
    return _MARGIN_LOW + score * (_MARGIN_HIGH - _MARGIN_LOW)


def margin_to_score(margin: float) -> float:
    """Inverse of :func:`score_to_margin`, clipped to 0.0-1.0."""
    return float(np.clip((margin - _MARGIN_LOW) / (_MARGIN_HIGH - _MARGIN_LOW), 0.0, 1.0))


def _working_scale(shape: tuple[int, ...], detector_size: int) -> float:
    longest = max(shape[0], shape[1])
    return min(1.0, detector_size / float(longest))


def detect_faces(
    image_rgb: np.ndarray, *, score: float = 0.5, detector_size: int = 640
) -> list[Face]:
    """Faces of an 8-bit RGB image, ordered left to right (then top to bottom).

    The image is scaled so its longest side is at most ``detector_size`` for detection; landmarks
    and embeddings are computed at full resolution.
    """
    import cv2
    import dlib

    scale = _working_scale(image_rgb.shape, detector_size)
    small = image_rgb
    if scale < 1.0:
        size = (round(image_rgb.shape[1] * scale), round(image_rgb.shape[0] * scale))
        small = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
    upsample = 1 if max(small.shape[:2]) < 800 else 0
    with _DETECT_LOCK:
        rects, margins, _ = model(HOG_DETECTOR).run(small, upsample, _MARGIN_LOW)
    threshold = score_to_margin(score)
    faces = []
    for rect, margin in zip(rects, margins, strict=True):
        if margin < threshold:
            continue
        box = dlib.rectangle(
            round(rect.left() / scale),
            round(rect.top() / scale),
            round(rect.right() / scale),
            round(rect.bottom() / scale),
        )
        faces.append(_describe(image_rgb, box, margin))
    return sorted(faces, key=lambda face: (face.box[0], face.box[1]))


def _describe(image_rgb: np.ndarray, box: object, margin: float) -> Face:
    with _SHAPE_LOCK:
        shape = model(LANDMARKER)(image_rgb, box)
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    with _EMBED_LOCK:
        embedding = np.array(model(RECOGNIZER).compute_face_descriptor(image_rgb, shape))
    return Face(
        box=(box.left(), box.top(), box.right(), box.bottom()),
        score=margin_to_score(margin),
        landmarks=landmarks,
        embedding=embedding,
    )


def embedding_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Euclidean distance between two face embeddings."""
    return float(np.linalg.norm(first - second))
