"""Where each of the face's points goes for a given edit: pure geometry on the 68 landmarks.

Points are handled in a face-aligned frame measured in eye distances: the origin is midway between
the eye centres, +x runs from the image-left eye to the image-right eye, +y runs down the face and
one unit is the distance between the eye centres. Every control is therefore independent of the
face's size and of how it is tilted in the picture.

Besides the 68 iBUG landmarks the point set carries two eye centres (which gaze moves inside the
eyelids) and a few head points over the forehead, the crown and the temples (which follow head
pose, so the hair turns with the face). :func:`anchor_ring` gives the fixed points around the head
that keep the background in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ffpipe.catalog.edit import Editing
from ffpipe.engine.builtin import exact

JAW = np.arange(0, 17)
BROW_LEFT = np.arange(17, 22)
BROW_RIGHT = np.arange(22, 27)
NOSE_BRIDGE = np.arange(27, 31)
NOSE_BASE = np.arange(31, 36)
EYE_LEFT = np.arange(36, 42)
EYE_RIGHT = np.arange(42, 48)
MOUTH = np.arange(48, 68)
OUTER_UPPER_LIP = np.arange(49, 54)
OUTER_LOWER_LIP = np.arange(55, 60)
INNER_UPPER_LIP = np.array([61, 62, 63])
INNER_LOWER_LIP = np.array([67, 66, 65])
MOUTH_CORNERS = np.array([48, 54, 60, 64])
IRIS_LEFT = 68
IRIS_RIGHT = 69
HEAD = np.arange(70, 81)
POINT_COUNT = 81

# Upper and lower lids of each eye, paired column by column.
_LIDS = (
    (np.array([37, 38]), np.array([41, 40]), (36, 39)),
    (np.array([43, 44]), np.array([47, 46]), (42, 45)),
)
# Head points in eye-distance units: forehead row, crown row, temples.
_HEAD_LAYOUT = np.array(
    [
        [-0.9, -0.85],
        [-0.45, -0.95],
        [0.0, -1.0],
        [0.45, -0.95],
        [0.9, -0.85],
        [-0.7, -1.55],
        [0.0, -1.7],
        [0.7, -1.55],
        [-1.2, -0.45],
        [1.2, -0.45],
        [0.0, -1.3],
    ]
)
# Extra depth of the nose over the face's ellipsoid, in eye distances (used by yaw and pitch).
_NOSE_DEPTH = {28: 0.1, 29: 0.18, 30: 0.28, 31: 0.05, 32: 0.08, 33: 0.1, 34: 0.08, 35: 0.05}

# How far a ratio control moves its measure: the measure is scaled by 1 + (ratio - 1) * gain.
# Open ratios act in full (0.0 closes); shape ratios are damped to keep faces plausible at 0 and 2.
RATIO_GAIN = {
    "face_editor_eye_open_ratio": 1.0,
    "face_editor_lip_open_ratio": 1.0,
    "face_editor_nose_length": 0.5,
    "face_editor_nose_width": 0.6,
    "face_editor_eye_distance": 0.3,
    "face_editor_eye_size": 0.5,
    "face_editor_lip_size": 0.5,
}


@dataclass(frozen=True)
class FaceFrame:
    """The face-aligned frame: ``origin`` and unit ``axes`` (columns) in pixels, ``unit`` pixels."""

    origin: np.ndarray
    axes: np.ndarray
    unit: float

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """Frame pixel coordinates to face coordinates."""
        return exact.transform(points - self.origin, self.axes.T) / self.unit

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """Face coordinates to frame pixel coordinates."""
        return exact.transform(points * self.unit, self.axes) + self.origin


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    """The face-aligned frame of 68 landmarks."""
    points = np.asarray(landmarks, dtype=np.float64)
    left_eye = points[EYE_LEFT].mean(axis=0)
    right_eye = points[EYE_RIGHT].mean(axis=0)
    across = right_eye - left_eye
    unit = float(np.hypot(*across))
    if unit < 1e-3:
        raise ValueError("landmarks have both eyes in the same place")
    right = across / unit
    down = np.array([-right[1], right[0]])
    return FaceFrame(
        origin=(left_eye + right_eye) / 2.0, axes=np.stack([right, down], 1), unit=unit
    )


def face_points(landmarks: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """The 68 landmarks plus eye centres and head points, in face coordinates."""
    local = frame.to_local(np.asarray(landmarks, dtype=np.float64))
    eyes = np.stack([local[EYE_LEFT].mean(axis=0), local[EYE_RIGHT].mean(axis=0)])
    brow_top = min(local[BROW_LEFT, 1].min(), local[BROW_RIGHT, 1].min())
    # The layout assumes brows at -0.35; faces with higher or lower brows shift it along.
    head = _HEAD_LAYOUT + np.array([0.0, brow_top + 0.35])
    return np.concatenate([local, eyes, head])


def anchor_ring(points: np.ndarray, count: int = 24) -> np.ndarray:
    """Fixed points on an ellipse well outside the head, in face coordinates."""
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2.0
    radii = (high - low) / 2.0 * 1.3 + 0.35
    angles = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    return centre + np.stack([np.cos(angles) * radii[0], np.sin(angles) * radii[1]], axis=1)


def _scaled(value: float, name: str) -> float:
    return 1.0 + (value - 1.0) * RATIO_GAIN[name]


def _move_brows(points: np.ndarray, direction: str) -> None:
    shift = {"up": -0.12, "down": 0.08, "neutral": 0.0}[direction]
    points[np.concatenate([BROW_LEFT, BROW_RIGHT]), 1] += shift


def _move_gaze(points: np.ndarray, gaze: str) -> None:
    upper_lids = np.array([37, 38, 43, 44])
    irises = np.array([IRIS_LEFT, IRIS_RIGHT])
    if gaze == "left":
        points[irises, 0] -= 0.1
    elif gaze == "right":
        points[irises, 0] += 0.1
    elif gaze == "up":
        points[irises, 1] -= 0.06
        points[upper_lids, 1] -= 0.04
    elif gaze == "down":
        points[irises, 1] += 0.05
        points[upper_lids, 1] += 0.05


def _open_eyes(points: np.ndarray, ratio: float) -> None:
    for upper, lower, (corner_a, corner_b) in _LIDS:
        axis = (points[corner_a, 1] + points[corner_b, 1]) / 2.0
        lids = np.concatenate([upper, lower])
        points[lids, 1] = axis + (points[lids, 1] - axis) * ratio


def _open_lips(points: np.ndarray, ratio: float) -> None:
    width = float(np.hypot(*(points[54] - points[48])))
    # A closed mouth has no gap to scale, so opening also adds a share of the mouth's width.
    extra = max(ratio - 1.0, 0.0) * 0.12 * width * np.array([0.7, 1.0, 0.7])
    gap = points[INNER_LOWER_LIP, 1] - points[INNER_UPPER_LIP, 1]
    change = gap * (ratio - 1.0) + extra
    # The jaw does most of the work: the lower lip moves more than the upper.
    upper_shift, lower_shift = -0.3 * change, 0.7 * change
    points[INNER_UPPER_LIP, 1] += upper_shift
    points[INNER_LOWER_LIP, 1] += lower_shift
    points[[50, 51, 52], 1] += upper_shift
    points[[58, 57, 56], 1] += lower_shift
    points[[49, 53], 1] += upper_shift[[0, 2]] / 2.0
    points[[59, 55], 1] += lower_shift[[0, 2]] / 2.0
    chin_share = np.array([0.15, 0.3, 0.45, 0.6, 0.45, 0.3, 0.15])
    points[np.arange(5, 12), 1] += lower_shift[1] * chin_share


def _bend_mouth(points: np.ndarray, up: float, out: float) -> None:
    """Raise (``up`` > 0) or lower the mouth corners and move them outwards (``out`` > 0).

    Every lip point follows by the square of its distance from the middle of the mouth over half
    its width: the corners move in full, the middle not at all, so the lips bend into an arch
    (a smile, or a downturned mouth) instead of tilting at the ends.
    """
    centre_x = points[MOUTH, 0].mean()
    half_width = max(abs(points[54, 0] - points[48, 0]) / 2.0, 1e-6)
    offsets = points[MOUTH, 0] - centre_x
    weight = np.clip(np.abs(offsets) / half_width, 0.0, 1.0) ** 2
    points[MOUTH, 1] -= up * weight
    points[MOUTH, 0] += np.sign(offsets) * out * weight


def _corner_lift(points: np.ndarray) -> float:
    """How far the corners sit above the middle of the lips (eye distances; a smile is > 0)."""
    middle = points[np.concatenate([INNER_UPPER_LIP, INNER_LOWER_LIP]), 1].mean()
    return float(middle - points[[48, 54], 1].mean())


def _mouth_controls(points: np.ndarray, smile: float, grim: float) -> tuple[float, float]:
    """How far ``face_editor_mouth_smile`` and ``_grim`` lift and widen the corners.

        Negative grim is a grimace: it first takes back whatever lift the corners have (a broad
    X
    """
    up = 0.1 * smile + 0.08 * max(grim, 0.0)
    out = 0.05 * smile
    if grim < 0.0:
        up -= -grim * (max(_corner_lift(points), 0.0) + 0.2)
        out -= 0.04 * -grim
    return up, out


def _pout(points: np.ndarray, amount: float) -> None:
    centre_x = points[MOUTH, 0].mean()
    points[MOUTH, 0] = centre_x + (points[MOUTH, 0] - centre_x) * (1.0 - 0.2 * amount)
    points[OUTER_UPPER_LIP, 1] -= 0.05 * amount
    points[OUTER_LOWER_LIP, 1] += 0.05 * amount


def _purse(points: np.ndarray, amount: float) -> None:
    centre_x = points[MOUTH, 0].mean()
    points[MOUTH, 0] = centre_x + (points[MOUTH, 0] - centre_x) * (1.0 - 0.3 * amount)
    middle = (points[INNER_UPPER_LIP, 1] + points[INNER_LOWER_LIP, 1]) / 2.0
    points[INNER_UPPER_LIP, 1] += (middle - points[INNER_UPPER_LIP, 1]) * amount
    points[INNER_LOWER_LIP, 1] += (middle - points[INNER_LOWER_LIP, 1]) * amount
    points[OUTER_UPPER_LIP, 1] += 0.03 * amount
    points[OUTER_LOWER_LIP, 1] -= 0.03 * amount


def _scale_group(points: np.ndarray, group: np.ndarray, factor: float) -> None:
    centre = points[group].mean(axis=0)
    points[group] = centre + (points[group] - centre) * factor


def _shape_face(points: np.ndarray, amount: float) -> None:
    weight = np.array([0.3, 0.5, 0.8, 1.0, 1.0, 0.8, 0.0, 0.8, 1.0, 1.0, 0.8, 0.5, 0.3])
    jaw = np.arange(2, 15)
    centre_x = points[NOSE_BRIDGE, 0].mean()
    points[jaw, 0] = centre_x + (points[jaw, 0] - centre_x) * (1.0 - 0.12 * amount * weight)
    points[[7, 8, 9], 1] += 0.04 * amount


def _nose_length(points: np.ndarray, factor: float) -> None:
    root = points[27, 1]
    lower = np.arange(28, 36)
    gap = points[[50, 51, 52], 1].min() - points[33, 1]
    growth = (points[33, 1] - root) * (factor - 1.0)
    points[lower, 1] = root + (points[lower, 1] - root) * factor
    # A nose that would reach into the upper lip pushes the mouth (and a little of the chin) down
    # instead of folding over it; half of the gap to the lip is kept.
    push = max(growth - 0.5 * max(gap, 0.0), 0.0)
    points[MOUTH, 1] += push
    points[np.arange(5, 12), 1] += push * np.array([0.2, 0.4, 0.6, 0.6, 0.6, 0.4, 0.2])


def _nose_width(points: np.ndarray, factor: float) -> None:
    centre_x = points[33, 0]
    points[NOSE_BASE, 0] = centre_x + (points[NOSE_BASE, 0] - centre_x) * factor


def _eye_distance(points: np.ndarray, factor: float) -> None:
    spread = (points[IRIS_RIGHT, 0] - points[IRIS_LEFT, 0]) * (factor - 1.0) / 2.0
    points[np.concatenate([EYE_LEFT, BROW_LEFT, [IRIS_LEFT]]), 0] -= spread
    points[np.concatenate([EYE_RIGHT, BROW_RIGHT, [IRIS_RIGHT]]), 0] += spread


def _depth(points: np.ndarray) -> np.ndarray:
    """A rough depth (towards the viewer) for each point: a dome plus the nose."""
    low, high = points.min(axis=0), points.max(axis=0)
    centre, radii = (low + high) / 2.0, (high - low) / 2.0
    inside = 1.0 - (((points - centre) / radii) ** 2).sum(axis=1)
    # A paraboloid rather than an ellipsoid: its depth changes gently near the outline, so
    # neighbouring jaw points turn alike and the outline does not ripple.
    depth = 0.8 * np.clip(inside, 0.0, None)
    for index, extra in _NOSE_DEPTH.items():
        depth[index] += extra
    return depth


def _turn_head(points: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    if yaw or pitch:
        depth = _depth(points)
        yaw_rad, pitch_rad = np.radians(yaw), np.radians(pitch)
        x = points[:, 0] * np.cos(yaw_rad) + depth * np.sin(yaw_rad)
        y = points[:, 1] * np.cos(pitch_rad) - depth * np.sin(pitch_rad)
        points = np.stack([x, y], axis=1)
    if roll:
        centre = points[:68].mean(axis=0)
        angle = np.radians(roll)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        points = centre + exact.transform(points - centre, rotation)
    return points


def edited_points(points: np.ndarray, params: Editing) -> np.ndarray:
    """Face points (from :func:`face_points`) moved as the expression and feature controls ask.

    Conventions: ``left``/``right`` gaze and positive yaw are as seen in the picture (positive yaw
    turns the face towards the picture's right); positive pitch raises the face; positive roll
    turns it clockwise on screen, so the eye line's angle (y down) grows by that many degrees.
    """
    moved = points.copy()
    _move_brows(moved, params.face_editor_eyebrow_direction)
    _open_eyes(moved, params.face_editor_eye_open_ratio)
    _open_lips(moved, params.face_editor_lip_open_ratio)
    up, out = _mouth_controls(moved, params.face_editor_mouth_smile, params.face_editor_mouth_grim)
    if up or out:
        _bend_mouth(moved, up, out)
    if params.face_editor_mouth_pout:
        _pout(moved, params.face_editor_mouth_pout)
    if params.face_editor_mouth_purse:
        _purse(moved, params.face_editor_mouth_purse)
    moved[MOUTH, 1] -= 0.15 * params.face_editor_mouth_position
    if params.face_editor_face_shape:
        _shape_face(moved, params.face_editor_face_shape)
    _nose_length(moved, _scaled(params.face_editor_nose_length, "face_editor_nose_length"))
    _nose_width(moved, _scaled(params.face_editor_nose_width, "face_editor_nose_width"))
    _eye_distance(moved, _scaled(params.face_editor_eye_distance, "face_editor_eye_distance"))
    eye_size = _scaled(params.face_editor_eye_size, "face_editor_eye_size")
    _scale_group(moved, np.append(EYE_LEFT, IRIS_LEFT), eye_size)
    _scale_group(moved, np.append(EYE_RIGHT, IRIS_RIGHT), eye_size)
    _scale_group(moved, MOUTH, _scaled(params.face_editor_lip_size, "face_editor_lip_size"))
    _move_gaze(moved, params.face_editor_eye_gaze)
    return _turn_head(
        moved,
        params.face_editor_head_yaw,
        params.face_editor_head_pitch,
        params.face_editor_head_roll,
    )
