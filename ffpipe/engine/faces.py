"""Face detection, 68-point landmarks and 128-d embeddings on dlib."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np

from ffpipe.engine.models import HOG_DETECTOR, LANDMARKER, RECOGNIZER, model

# dlib's models are not documented as thread-safe; one call at a time each.
_DETECT_LOCK = threading.Lock()
_SHAPE_LOCK = threading.Lock()
_EMBED_LOCK = threading.Lock()

# The HOG detector's raw score is an SVM margin, about -1 (weak) to 3 (strong) on portraits. The
# catalog's 0.0-1.0 threshold maps linearly onto margins -1.0..3.0, so 0.25 accepts everything the
# detector proposes at margin 0, its own default, and the default 0.5 asks for margin 1.0: the
# sample portraits score 1.2-1.6 there, the astronaut's mission patch about -0.1.
_MARGIN_LOW = -1.0
_MARGIN_HIGH = 3.0

# How far above the eyebrows the forehead is taken to reach, as a fraction of brow-to-chin height.
_FOREHEAD_RISE = 0.18


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixel coordinates of the image it was found in."""

    box: tuple[int, int, int, int]
    """left, top, right, bottom."""
    score: float
    """Detector confidence mapped onto 0.0-1.0."""
    landmarks: np.ndarray
    """(68, 2) float32, dlib/iBUG 68-point order."""
    embedding: np.ndarray | None
    """(128,) float64 identity descriptor; same person: distance below about 0.6. ``None`` when
    detected with ``with_embeddings=False`` (see :func:`with_embedding`)."""

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


def working_scale(shape: tuple[int, ...], detector_size: int) -> float:
    """Factor that brings the image's longest side to ``detector_size`` (up or down)."""
    return detector_size / float(max(shape[0], shape[1]))


def detect_faces(
    image_rgb: np.ndarray,
    *,
    score: float = 0.5,
    detector_size: int = 640,
    with_embeddings: bool = True,
) -> list[Face]:
    """Faces of an 8-bit RGB image, ordered left to right (then top to bottom).

    The image is resized so its longest side is ``detector_size`` for detection (the catalog's
    ``face_detector_size``: larger finds smaller faces, slower); landmarks and embeddings are
    computed at full resolution. Embeddings cost about 80 ms per face, so callers that do not
    compare identities can skip them.
    """
    import cv2
    import dlib

    scale = working_scale(image_rgb.shape, detector_size)
    small = image_rgb
    if scale != 1.0:
        size = (
            max(1, round(image_rgb.shape[1] * scale)),
            max(1, round(image_rgb.shape[0] * scale)),
        )
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        small = cv2.resize(image_rgb, size, interpolation=interpolation)
    threshold = score_to_margin(score)
    with _DETECT_LOCK:
        rects, margins, _ = model(HOG_DETECTOR).run(small, 0, min(threshold, _MARGIN_LOW))
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
        faces.append(_describe(image_rgb, box, margin, with_embeddings))
    return sorted(faces, key=lambda face: (face.box[0], face.box[1]))


def _describe(image_rgb: np.ndarray, box: object, margin: float, with_embeddings: bool) -> Face:
    with _SHAPE_LOCK:
        shape = model(LANDMARKER)(image_rgb, box)
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    embedding = _embed(image_rgb, shape) if with_embeddings else None
    return Face(
        box=(box.left(), box.top(), box.right(), box.bottom()),
        score=margin_to_score(margin),
        landmarks=landmarks,
        embedding=embedding,
    )


def _embed(image_rgb: np.ndarray, shape: object) -> np.ndarray:
    with _EMBED_LOCK:
        return np.array(model(RECOGNIZER).compute_face_descriptor(image_rgb, shape))


def with_embedding(image_rgb: np.ndarray, face: Face) -> Face:
    """``face`` with its embedding computed from its landmarks (unchanged if it has one)."""
    if face.embedding is not None:
        return face
    import dlib

    left, top, right, bottom = face.box
    parts = [dlib.point(round(float(x)), round(float(y))) for x, y in face.landmarks]
    shape = dlib.full_object_detection(dlib.rectangle(left, top, right, bottom), parts)
    return replace(face, embedding=_embed(image_rgb, shape))


def refresh_landmarks(image_rgb: np.ndarray, face: Face) -> Face:
    """``face`` with landmarks found again in ``image_rgb`` (after an op moved its features) and
    its embedding dropped."""
    import dlib

    with _SHAPE_LOCK:
        shape = model(LANDMARKER)(image_rgb, dlib.rectangle(*face.box))
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    return replace(face, landmarks=landmarks, embedding=None)


def embedding_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Euclidean distance between two face embeddings."""
    return float(np.linalg.norm(first - second))


def face_region_points(landmarks: np.ndarray) -> np.ndarray:
    """The 68 landmarks followed by 10 estimated forehead points above the eyebrows, float32.

    dlib's landmarks stop at the eyebrows; the forehead points lift each eyebrow point along the
    chin-to-brow direction so that a face region built from them covers the forehead too.
    """
    points = landmarks.astype(np.float32)
    brows = points[17:27]
    chin = points[8]
    up = brows.mean(axis=0) - chin
    forehead = brows + up * _FOREHEAD_RISE
    return np.concatenate([points, forehead.astype(np.float32)])


def face_outline(landmarks: np.ndarray) -> np.ndarray:
    """Convex hull of :func:`face_region_points` as an (N, 2) float32 polygon."""
    import cv2

    return cv2.convexHull(face_region_points(landmarks)).reshape(-1, 2)
