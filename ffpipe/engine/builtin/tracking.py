"""Following faces from frame to frame of a video, so a face seen in neighbouring frames is kept.

A detector run on each frame alone drops a face whenever its score dips under the threshold for a
frame or two (a tilted head, motion blur, a fast zoom). :class:`FaceTracker` follows faces instead;
on every frame, in order:

1. Flow: the 68 landmarks of each followed face are carried into the new frame by pyramidal
   Lucas-Kanade optical flow, checked forward and backward; a similarity transform fitted to the
   points that survive (RANSAC) is the face's motion.
2. Confirmation: the face is cut out upright (turned by its own eye line, scaled to a fixed size),
   and the HOG detector looks for it there at a lenient margin. Turned upright, a tilted head
   looks frontal to the detector. Found: the 68 landmarks are fitted inside that box. Not found:
   they are fitted inside the box the flow predicts; a fit far from the prediction is not trusted
   and the flowed landmarks stand. A face unconfirmed for more than ``MAX_UNCONFIRMED`` frames in a
   row, or one that neither flow nor detector can find, is no longer reported.
   A face found again where the flow could not link it to the previous frame (after a black
   frame, a cut, a jump) counts as a new face: the person there may have changed.
3. Re-detection: the whole frame is searched with the caller's detector (the catalog's score and
   size) when nothing is followed, every ``REDETECT_EVERY`` frames, whenever a followed face was
   not confirmed, and after a gap in time (dropped frames, a cut). A detection overlapping a
   followed face confirms it; any other starts a new track. Only these detections start tracks,
   so ``face_detector_score`` still decides what counts as a face.
4. Smoothing: the measured landmarks of each track pass through a
   :class:`~ffpipe.engine.builtin.smoothing.LandmarkFilter`, motion-compensated by step 1.

:meth:`FaceTracker.trace_back` follows a new face backward through earlier frames the same way,
for the frames before the detector first saw it.

Everything runs in frame order on one thread and depends only on the frames, so results do not
depend on how many workers process the frames afterwards.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np

from ffpipe.engine.builtin import exact
from ffpipe.engine.builtin.detection import iou
from ffpipe.engine.builtin.faces import Face, refresh_landmarks
from ffpipe.engine.builtin.smoothing import LandmarkFilter, apply_motion, face_scale
from ffpipe.engine.builtin.swap import similarity_fit

Detector = Callable[[np.ndarray, float], list[Face]]
"""Finds the faces of a whole RGB frame scoring at least the given ``face_detector_score`` (the
catalog's detector size bound in)."""

REDETECT_EVERY = 8
"""Frames between whole-frame detections while faces are followed (new faces appear this late)."""
MAX_UNCONFIRMED = 8
"""Frames in a row a face may go unconfirmed by the detector before it is no longer reported."""
MAX_GAP_SECONDS = 0.25
"""Frames further apart than this are not linked by optical flow (dropped frames, a cut)."""

# Optical flow: window, pyramid levels, the forward-backward error allowed (fraction of the
# face's scale, at least one pixel) and how many landmarks must survive for a motion estimate.
_FLOW_WINDOW = (21, 21)
_FLOW_LEVELS = 3
_FLOW_CRITERIA = (3, 20, 0.03)  # cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT
_FB_TOLERANCE = 0.05
_MIN_FLOW_POINTS = 20
# The upright crop: the detector box becomes this many pixels wide, in a crop twice as wide. The
# HOG window is 80 pixels, so the face fills it without costly upsampling.
_CROP_FACE = 96
_CROP_SIDE = 2 * _CROP_FACE
# HOG margin that confirms a face already followed (the catalog's default score asks for 1.0).
_CONFIRM_MARGIN = -0.5
# Boxes overlapping at least this much (intersection over union) are the same face.
_SAME_FACE_IOU = 0.3
_DUPLICATE_IOU = 0.5
# A followed face the flow lost is picked up again by a detection of a similar size (within this
# factor) at most this many face sides per frame away from where it was last seen; the whole-frame
# detector then accepts faces scoring up to _REACQUIRE_SCORE_DROP below the caller's score, for
# faces already followed only.
_REACQUIRE_SCALE = 1.6
_REACQUIRE_REACH = 0.75
_REACQUIRE_SCORE_DROP = 0.25
# A landmark fit whose mean distance from the flowed landmarks exceeds this fraction of the
# face's scale has lost the face.
_FIT_TOLERANCE = 0.25

_CONFIRM_LOCK = threading.Lock()


@cache
def _confirm_detector() -> Any:
    # A detector of its own: the shared one in ffpipe.engine.builtin.faces is guarded by that
    # module's
    # lock, and confirmation runs alongside whole-frame detection of other jobs.
    import dlib

    return dlib.get_frontal_face_detector()


@dataclass(frozen=True)
class BoxShape:
    """Where the detector's box sits relative to the landmarks, in the face's upright frame and
    in units of the landmarks' scale: lets a box be placed on landmarks that flow moved."""

    offset: tuple[float, float]
    side: float

    @staticmethod
    def of(landmarks: np.ndarray, box: tuple[float, float, float, float]) -> BoxShape:
        centre, angle, scale = pose(landmarks)
        left, top, right, bottom = box
        delta = np.array([(left + right) / 2, (top + bottom) / 2]) - centre
        upright = exact.transform(delta, _rotation(-angle)) / scale
        side = ((right - left) + (bottom - top)) / 2 / scale
        return BoxShape((float(upright[0]), float(upright[1])), float(side))

    def place(self, landmarks: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Centre, side and angle (radians) of the box on ``landmarks``."""
        centre, angle, scale = pose(landmarks)
        offset = exact.transform(np.array(self.offset), _rotation(angle)) * scale
        return centre + offset, self.side * scale, angle


def pose(landmarks: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Centroid, roll angle (radians, of the line from the image-left eye to the other) and
    scale (see :func:`~ffpipe.engine.builtin.smoothing.face_scale`) of 68 landmarks."""
    points = landmarks.astype(np.float64)
    eyes = points[42:48].mean(axis=0) - points[36:42].mean(axis=0)
    return points.mean(axis=0), math.atan2(eyes[1], eyes[0]), face_scale(points)


def _rotation(angle: float) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    return np.array([[cos, -sin], [sin, cos]])


def _square(centre: np.ndarray, side: float) -> tuple[float, float, float, float]:
    half = side / 2
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


@dataclass
class Track:
    """One face followed through the video."""

    number: int
    """Tracks are numbered in order of appearance; the number is the face's identity."""
    landmarks: np.ndarray
    """Last measured (unsmoothed) landmarks, frame coordinates."""
    box_shape: BoxShape
    score: float
    smoothing: LandmarkFilter = field(default_factory=LandmarkFilter)
    unconfirmed: int = 0

    @property
    def box(self) -> tuple[float, float, float, float]:
        centre, side, _ = self.box_shape.place(self.landmarks)
        return _square(centre, side)


@dataclass(frozen=True)
class FollowedFace:
    """A face in one frame: its track number, and the face with smoothed landmarks."""

    track: int
    face: Face
    new: bool
    """This is the track's first frame."""
    measured: Face
    """The same face with the frame's own (unsmoothed) landmarks: for identity checks."""


@dataclass
class _Measure:
    track: Track
    motion: np.ndarray | None
    landmarks: np.ndarray | None = None
    confirmed: bool = False


class FaceTracker:
    """Follows the faces of consecutive frames; call :meth:`step` with each frame in order."""

    def __init__(self, detect: Detector, score: float) -> None:
        """``score``: the ``face_detector_score`` a face needs to start a track."""
        self._detect = detect
        self._score = score
        self._tracks: list[Track] = []
        self._next_number = 0
        self._gray: Any = None
        self._time: float | None = None
        self._since_detection = 0

    @property
    def alive(self) -> set[int]:
        """Numbers of the tracks still followed (reported this frame or briefly unconfirmed)."""
        return {track.number for track in self._tracks}

    def step(self, image_rgb: np.ndarray, time: float) -> list[FollowedFace]:
        """The faces of this frame (``time`` in seconds), ordered left to right."""
        import cv2

        gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        linked = (
            self._gray is not None and self._time is not None and time - self._time > 0
        ) and time - self._time <= MAX_GAP_SECONDS
        measures = [
            _measure(image_rgb, track, self._gray if linked else None, gray)
            for track in self._tracks
        ]
        self._gray, self._time = gray, time
        self._since_detection += 1
        must_detect = (
            not linked
            or not self._tracks
            or self._since_detection >= REDETECT_EVERY
            or any(not measure.confirmed for measure in measures)
        )
        new: list[Track] = []
        if must_detect:
            self._since_detection = 0
            lenient = max(0.0, self._score - _REACQUIRE_SCORE_DROP) if self._tracks else self._score
            new = self._match(self._detect(image_rgb, lenient), measures)
        return self._report(measures, new, time)

    def trace_back(
        self,
        face: FollowedFace,
        image_rgb: np.ndarray,
        time: float,
        earlier: list[tuple[np.ndarray, float]],
    ) -> list[FollowedFace]:
        """``face``, a track's first face (in ``image_rgb``, at ``time``), followed back
        through ``earlier`` frames (image and time, latest first) until it is lost: the frames
        before the detector first saw it, often the start of a shot or of a face entering it.
        One face per frame reached, in the order of ``earlier``."""
        import cv2

        current = next((track for track in self._tracks if track.number == face.track), None)
        if current is None:
            return []
        track = Track(
            number=current.number,
            landmarks=face.measured.landmarks,
            box_shape=current.box_shape,
            score=current.score,
        )
        # The filter runs backward in time: on negated times, which rise.
        track.smoothing.update(track.landmarks, -time, None)
        later = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        traced: list[FollowedFace] = []
        for image, before in earlier:
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            measure = _measure(image, track, later, gray)
            track.unconfirmed = 0 if measure.confirmed else track.unconfirmed + 1
            if measure.landmarks is None or track.unconfirmed > MAX_UNCONFIRMED:
                break
            track.landmarks = measure.landmarks.astype(np.float32)
            smoothed = track.smoothing.update(track.landmarks, -before, measure.motion)
            traced.append(_followed(track, smoothed, new=False))
            later = gray
        return traced

    def _match(self, detections: list[Face], measures: list[_Measure]) -> list[Track]:
        """Confirm followed faces with ``detections`` (found at the lenient score); those at the
        caller's score that confirm nothing start new tracks."""
        pairs = sorted(
            (
                (iou(face.box, _box_of(measure)), number, slot)
                for number, face in enumerate(detections)
                for slot, measure in enumerate(measures)
            ),
            key=lambda pair: (-pair[0], pair[1], pair[2]),
        )
        unused = set(range(len(detections)))
        waiting = set(range(len(measures)))
        for overlap, number, slot in pairs:
            if overlap < _SAME_FACE_IOU:
                break
            if number in unused and slot in waiting:
                unused.discard(number)
                waiting.discard(slot)
                _adopt(measures[slot], detections[number])
        for number in sorted(unused, key=lambda number: -detections[number].score):
            slot = _lost_track_near(detections[number], measures, waiting)
            if slot is not None:
                unused.discard(number)
                waiting.discard(slot)
                _adopt(measures[slot], detections[number])
        return [
            self._start(detections[number])
            for number in sorted(unused)
            if detections[number].score >= self._score
        ]

    def _start(self, face: Face) -> Track:
        track = Track(
            number=self._next_number,
            landmarks=face.landmarks.astype(np.float32),
            box_shape=BoxShape.of(face.landmarks, face.box),
            score=face.score,
        )
        self._next_number += 1
        return track

    def _report(
        self, measures: list[_Measure], new: list[Track], time: float
    ) -> list[FollowedFace]:
        kept: list[Track] = []
        faces: list[FollowedFace] = []
        for measure in measures:
            track = measure.track
            track.unconfirmed = 0 if measure.confirmed else track.unconfirmed + 1
            if track.unconfirmed > MAX_UNCONFIRMED:
                continue
            kept.append(track)
            if measure.landmarks is None:
                continue
            track.landmarks = measure.landmarks.astype(np.float32)
            smoothed = track.smoothing.update(track.landmarks, time, measure.motion)
            cut = measure.motion is None
            if cut:
                # Found again without the flow linking it to the last frame: there may be a cut
                # in between and another person in the same place, so it counts as a new face.
                track.number = self._next_number
                self._next_number += 1
            faces.append(_followed(track, smoothed, new=cut))
        for track in new:
            kept.append(track)
            smoothed = track.smoothing.update(track.landmarks, time, None)
            faces.append(_followed(track, smoothed, new=True))
        self._tracks = _without_duplicates(kept)
        alive = self.alive
        faces = [face for face in faces if face.track in alive]
        return sorted(faces, key=lambda face: (face.face.box[0], face.face.box[1], face.track))


def _measure(
    image_rgb: np.ndarray, track: Track, before: np.ndarray | None, gray: np.ndarray
) -> _Measure:
    """Where ``track`` is in ``image_rgb`` (``gray``: the same frame in grey), flowing from the
    grey frame ``before`` (``None``: no flow, look where it was)."""
    motion = None if before is None else _flow(before, gray, track.landmarks)
    predicted = track.landmarks if motion is None else apply_motion(motion, track.landmarks)
    measure = _Measure(track, motion)
    confirmed = _confirm(image_rgb, predicted, track.box_shape)
    if confirmed is not None:
        measure.landmarks, box = confirmed
        measure.confirmed = True
        track.box_shape = BoxShape.of(measure.landmarks, box)
    elif motion is not None:
        measure.landmarks = _refit(image_rgb, predicted, track.box_shape)
    return measure


def _flow(before: np.ndarray, after: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """The similarity transform carrying ``landmarks`` from grey frame ``before`` to ``after``,
    or ``None`` when too few points survive the forward-backward check."""
    import cv2

    start = landmarks.reshape(-1, 1, 2).astype(np.float32)
    ahead, found, _ = cv2.calcOpticalFlowPyrLK(
        before,
        after,
        start,
        None,
        winSize=_FLOW_WINDOW,
        maxLevel=_FLOW_LEVELS,
        criteria=_FLOW_CRITERIA,
    )
    back, returned, _ = cv2.calcOpticalFlowPyrLK(
        after,
        before,
        ahead,
        None,
        winSize=_FLOW_WINDOW,
        maxLevel=_FLOW_LEVELS,
        criteria=_FLOW_CRITERIA,
    )
    error = np.linalg.norm((back - start).reshape(-1, 2), axis=1)
    tolerance = max(1.0, _FB_TOLERANCE * face_scale(landmarks))
    good = (found.ravel() == 1) & (returned.ravel() == 1) & (error < tolerance)
    if good.sum() < _MIN_FLOW_POINTS:
        return None
    moving, moved = start[good].reshape(-1, 2), ahead[good].reshape(-1, 2)
    # A least-squares fit, then again on the points it explains: OpenCV's RANSAC estimate refines
    # with code whose last bits depend on the processor, and shifts the crops that follow.
    motion = _similarity(moving, moved)
    inliers = np.linalg.norm(exact.transform(moving, motion) - moved, axis=1) <= tolerance
    if int(inliers.sum()) < _MIN_FLOW_POINTS:
        return None
    return _similarity(moving[inliers], moved[inliers])


def _similarity(moving: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, shift) fitting ``moving`` onto ``moved``."""
    scale, rotation, offset = similarity_fit(moving, moved)
    return np.hstack([rotation * scale, np.asarray(offset).reshape(2, 1)])


def _box_of(measure: _Measure) -> tuple[float, float, float, float]:
    """The measured face's box this frame, else where the track was last seen."""
    if measure.landmarks is None:
        return measure.track.box
    centre, side, _ = measure.track.box_shape.place(measure.landmarks)
    return _square(centre, side)


def _adopt(measure: _Measure, face: Face) -> None:
    """``face``, found by the detector, is this frame's measure of the track."""
    measure.track.score = face.score
    if not measure.confirmed:
        measure.landmarks, measure.confirmed = face.landmarks, True
        measure.track.box_shape = BoxShape.of(face.landmarks, face.box)


def _lost_track_near(face: Face, measures: list[_Measure], waiting: set[int]) -> int | None:
    """The unconfirmed track ``face`` most likely continues: of a similar size, and no further
    from where the track was last seen than it could have moved since (``_REACQUIRE_REACH``
    face sides per frame). Bridges frames where flow could not follow (a black frame, a cut)."""
    left, top, right, bottom = face.box
    centre, side = np.array([(left + right) / 2, (top + bottom) / 2]), float(right - left)
    best: tuple[float, int] | None = None
    for slot in sorted(waiting):
        measure = measures[slot]
        if measure.confirmed:
            continue
        track = measure.track
        old_left, old_top, old_right, old_bottom = track.box
        old_side = old_right - old_left
        if not 1 / _REACQUIRE_SCALE <= side / max(old_side, 1.0) <= _REACQUIRE_SCALE:
            continue
        old_centre = np.array([(old_left + old_right) / 2, (old_top + old_bottom) / 2])
        distance = exact.norm(centre - old_centre) / max(old_side, 1.0)
        if distance <= _REACQUIRE_REACH * (track.unconfirmed + 1) and (
            best is None or distance < best[0]
        ):
            best = (distance, slot)
    return None if best is None else best[1]


def _followed(track: Track, smoothed: np.ndarray, *, new: bool) -> FollowedFace:
    centre, side, _ = track.box_shape.place(smoothed)
    box = tuple(round(value) for value in _square(centre, side))
    face = Face(box=box, score=track.score, landmarks=smoothed, embedding=None)  # type: ignore[arg-type]
    measured_box = tuple(round(value) for value in track.box)
    measured = replace(face, box=measured_box, landmarks=track.landmarks)
    return FollowedFace(track=track.number, face=face, new=new, measured=measured)


def _without_duplicates(tracks: list[Track]) -> list[Track]:
    """Two tracks that came to follow the same face: the older one stays."""
    kept: list[Track] = []
    for track in sorted(tracks, key=lambda track: track.number):
        if all(iou(track.box, other.box) < _DUPLICATE_IOU for other in kept):
            kept.append(track)
    return kept


def _upright(
    image_rgb: np.ndarray, landmarks: np.ndarray, box_shape: BoxShape
) -> tuple[np.ndarray, np.ndarray]:
    """The face cut out upright at the working size, and the 2x3 map from frame to crop."""
    import cv2

    centre, side, angle = box_shape.place(landmarks)
    scale = _CROP_FACE / max(side, 1.0)
    to_crop = cv2.getRotationMatrix2D(
        (float(centre[0]), float(centre[1])), math.degrees(angle), scale
    )
    to_crop[:, 2] += np.array([_CROP_SIDE / 2, _CROP_SIDE / 2]) - centre
    crop = exact.warp_affine(image_rgb, to_crop, (_CROP_SIDE, _CROP_SIDE))
    return crop, to_crop


def _expected_box() -> tuple[int, int, int, int]:
    low, high = (_CROP_SIDE - _CROP_FACE) // 2, (_CROP_SIDE + _CROP_FACE) // 2
    return (low, low, high, high)


def _fit(crop: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    probe = Face(box=box, score=0.0, landmarks=np.zeros((68, 2), np.float32), embedding=None)
    return refresh_landmarks(crop, probe).landmarks


def _to_frame(points: np.ndarray, to_crop: np.ndarray) -> np.ndarray:

    return apply_motion(exact.invert_affine(to_crop), points)


def _confirm(
    image_rgb: np.ndarray, landmarks: np.ndarray, box_shape: BoxShape
) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """Landmarks and box (frame coordinates, box axis-aligned in the face's upright frame) of the
    face the detector confirms near ``landmarks``, or ``None``."""
    crop, to_crop = _upright(image_rgb, landmarks, box_shape)
    with _CONFIRM_LOCK:
        rects, _, _ = _confirm_detector().run(crop, 0, _CONFIRM_MARGIN)
    expected = _expected_box()
    candidates = [(iou((r.left(), r.top(), r.right(), r.bottom()), expected), r) for r in rects]
    candidates = [pair for pair in candidates if pair[0] >= _SAME_FACE_IOU]
    if not candidates:
        return None
    _, rect = max(candidates, key=lambda pair: pair[0])
    box = (rect.left(), rect.top(), rect.right(), rect.bottom())
    fitted = _to_frame(_fit(crop, box), to_crop)
    # The box in the face's own upright frame, expressed through the fitted landmarks: its centre
    # mapped back to the frame, its side scaled back.
    centre = _to_frame(np.array([[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]]), to_crop)[0]
    side = (box[2] - box[0]) * box_shape.place(landmarks)[1] / _CROP_FACE
    return fitted, _square(centre, side)


def _refit(image_rgb: np.ndarray, predicted: np.ndarray, box_shape: BoxShape) -> np.ndarray:
    """Landmarks fitted inside the box the flow predicts; the prediction if the fit strays."""
    crop, to_crop = _upright(image_rgb, predicted, box_shape)
    fitted = _to_frame(_fit(crop, _expected_box()), to_crop)
    straying = np.linalg.norm(fitted - predicted, axis=1).mean() / face_scale(predicted)
    return predicted if straying > _FIT_TOLERANCE else fitted
