"""Faces: YuNet's boxes and five points, dlib's 68-point landmarks and 128-d embeddings.

dlib's shape predictor was trained on the boxes of dlib's own HOG detector, which are square and
centred between the eyes and the mouth; YuNet's boxes are taller and reach the forehead. So the
predictor is given a box built from YuNet's five points (see :func:`landmark_box`), turned upright
by the eye line's roll when the head is tilted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np

from ffpipe.engine.builtin import exact
from ffpipe.engine.builtin.detection import GRID, Detection, find_faces
from ffpipe.engine.builtin.models import LANDMARKER, RECOGNIZER, model

# dlib's models are not documented as thread-safe; one call at a time each.
_SHAPE_LOCK = threading.Lock()
_EMBED_LOCK = threading.Lock()

# How far above the eyebrows the forehead is taken to reach, as a fraction of brow-to-chin height.
_FOREHEAD_RISE = 0.18

# dlib's HOG box, measured against YuNet's points on faces both detectors find: a square this many
# times the eyes-to-mouth distance, centred halfway between the eyes' and the mouth's midpoints.
_BOX_PER_EYES_TO_MOUTH = 2.3
# Heads rolled less than this (degrees) go to the predictor as they are.
_UPRIGHT_ROLL = 10.0
# Rolls are rounded to whole degrees so the rotation behind the landmarks is the same everywhere.
_ROLL_GRID = 1.0


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
    angle: float = 0.0
    """Rotation (degrees, counter-clockwise) that turns the face upright (from the eye line of the
    detector's five points, whole degrees): 0.0 for a head rolled less than 10 degrees."""
    points: np.ndarray | None = None
    """(5, 2) float32 detector points: eyes (viewer's left, right), nose tip, mouth corners
    (viewer's left, right); ``None`` for a face not from the detector."""

    @property
    def profile(self) -> bool:
        """Seen from the side: the nose tip lies beyond an eye (see :func:`nose_beyond_eyes`)."""
        if self.points is not None:
            return nose_beyond_eyes(self.points[0], self.points[1], self.points[2])
        marks = self.landmarks
        return nose_beyond_eyes(marks[36:42].mean(axis=0), marks[42:48].mean(axis=0), marks[30])

    @property
    def center(self) -> tuple[float, float]:
        left, top, right, bottom = self.box
        return (left + right) / 2.0, (top + bottom) / 2.0


def detect_faces(
    image_rgb: np.ndarray,
    *,
    score: float = 0.5,
    detector_size: int = 640,
    with_embeddings: bool = True,
) -> list[Face]:
    """Faces of an 8-bit RGB image, ordered left to right (then top to bottom).

    Detection (see :mod:`ffpipe.engine.builtin.detection`) runs YuNet on the image fitted to
    ``detector_size`` (the catalog's ``face_detector_size``), adds a tiled pass for small faces
    in large images, and reads the five points of a rolled head where it looks upright.
    Landmarks and embeddings are computed at full resolution.
    Embeddings cost about 80 ms per face, so callers that do not compare identities can skip
    them.
    """
    found = find_faces(image_rgb, score=score, detector_size=detector_size)
    faces = [_describe(image_rgb, item, with_embeddings) for item in found]
    return sorted(faces, key=lambda face: (face.box[0], face.box[1]))


def _describe(image_rgb: np.ndarray, found: Detection, with_embeddings: bool) -> Face:
    points = np.array(found.points, dtype=np.float32).reshape(5, 2)
    roll = eye_roll(points)
    angle = roll if abs(roll) >= _UPRIGHT_ROLL else 0.0
    landmarks = _landmarks(image_rgb, landmark_box(points), angle)
    face = Face(
        box=tuple(round(value) for value in found.box),
        score=found.score,
        landmarks=landmarks,
        embedding=None,
        angle=angle,
        points=points,
    )
    return with_embedding(image_rgb, face) if with_embeddings else face


def nose_beyond_eyes(left_eye: np.ndarray, right_eye: np.ndarray, nose: np.ndarray) -> bool:
    """Whether the nose tip, projected on the eye line, falls outside the segment between the
    eyes: the head is turned so far that its far cheek is hidden (frontal faces put it near the
    middle, three-quarter views between the middle and an eye)."""
    eyes = np.asarray(right_eye, np.float64) - np.asarray(left_eye, np.float64)
    length = float(eyes @ eyes)
    if length == 0.0:
        return True
    along = float((np.asarray(nose, np.float64) - left_eye) @ eyes) / length
    return not 0.0 <= along <= 1.0


def eye_roll(points: np.ndarray) -> float:
    """Degrees (counter-clockwise, whole) that bring the eye line of five points level."""
    (left_x, left_y), (right_x, right_y) = points[0], points[1]
    degrees = float(np.degrees(np.arctan2(right_y - left_y, right_x - left_x)))
    return float(round(degrees / _ROLL_GRID) * _ROLL_GRID)


def landmark_box(points: np.ndarray) -> tuple[int, int, int, int]:
    """The square box dlib's shape predictor expects for a face with these five points."""
    eyes = points[:2].astype(np.float64).mean(axis=0)
    mouth = points[3:5].astype(np.float64).mean(axis=0)
    half = float(np.linalg.norm(mouth - eyes)) * _BOX_PER_EYES_TO_MOUTH / 2
    half = max(round(half / GRID) * GRID, 1.0)
    cx, cy = (eyes + mouth) / 2
    return (round(cx - half), round(cy - half), round(cx + half), round(cy + half))


def _landmarks(image_rgb: np.ndarray, box: tuple[int, int, int, int], angle: float) -> np.ndarray:
    """The 68 points of the face in ``box``; a tilted face is turned upright for the predictor
    (which expects one) and its points turned back."""
    import cv2
    import dlib

    if not angle:
        with _SHAPE_LOCK:
            shape = model(LANDMARKER)(image_rgb, dlib.rectangle(*box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    left, top, right, bottom = box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = round(max(right - left, bottom - top) * 1.5)
    turn = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    turn[0, 2] += half - cx
    turn[1, 2] += half - cy
    upright = exact.warp_affine(image_rgb, turn, (2 * half, 2 * half))
    inner = dlib.rectangle(
        round(half - (cx - left)),
        round(half - (cy - top)),
        round(half + (right - cx)),
        round(half + (bottom - cy)),
    )
    with _SHAPE_LOCK:
        shape = model(LANDMARKER)(upright, inner)
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return exact.transform(points, exact.invert_affine(turn)).astype(np.float32)


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
    its embedding dropped. A face found rotated is turned upright for the predictor again."""
    box = face.box if face.points is None else landmark_box(face.points)
    landmarks = _landmarks(image_rgb, box, face.angle)
    return replace(face, landmarks=landmarks, embedding=None)


def embedding_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Euclidean distance between two face embeddings."""
    return exact.norm(np.asarray(first) - np.asarray(second))


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
