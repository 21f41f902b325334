"""Landmark geometry of the editor, on the astronaut's real landmarks (no image warping here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ffpipe.catalog.edit import Editing
from ffpipe.engine.builtin.edit_landmarks import (
    HEAD,
    IRIS_LEFT,
    IRIS_RIGHT,
    POINT_COUNT,
    anchor_ring,
    edited_points,
    face_frame,
    face_points,
)
from ffpipe.engine.builtin.faces import detect_faces

MEDIA = Path(__file__).resolve().parent.parent / "media"


@pytest.fixture(scope="module")
def landmarks() -> np.ndarray:
    image = np.asarray(Image.open(MEDIA / "astronaut.jpg").convert("RGB"))
    (face,) = detect_faces(image)
    return face.landmarks.astype(np.float64)


def _points(landmarks: np.ndarray) -> np.ndarray:
    return face_points(landmarks, face_frame(landmarks))


def _moved(landmarks: np.ndarray, **values: Any) -> tuple[np.ndarray, np.ndarray]:
    points = _points(landmarks)
    return points, edited_points(points, Editing(**values))


def test_face_frame_round_trips_and_measures_in_eye_distances(landmarks: np.ndarray) -> None:
    frame = face_frame(landmarks)
    assert frame.axes.T @ frame.axes == pytest.approx(np.eye(2))
    assert np.linalg.det(frame.axes) == pytest.approx(1.0)
    assert frame.to_pixels(frame.to_local(landmarks)) == pytest.approx(landmarks)
    local = frame.to_local(landmarks)
    eyes = np.stack([local[36:42].mean(axis=0), local[42:48].mean(axis=0)])
    assert eyes == pytest.approx(np.array([[-0.5, 0.0], [0.5, 0.0]]), abs=1e-9)


def test_face_points_add_eye_centres_and_head_points(landmarks: np.ndarray) -> None:
    points = _points(landmarks)
    assert points.shape == (POINT_COUNT, 2)
    assert points[IRIS_LEFT] == pytest.approx(points[36:42].mean(axis=0))
    assert points[IRIS_RIGHT] == pytest.approx(points[42:48].mean(axis=0))
    assert (points[HEAD, 1] < points[17:27, 1].min()).all()


def test_anchor_ring_surrounds_every_point(landmarks: np.ndarray) -> None:
    points = _points(landmarks)
    ring = anchor_ring(points)
    low, high = points.min(axis=0), points.max(axis=0)
    outside = (ring[:, 0] < low[0]) | (ring[:, 0] > high[0])
    outside |= (ring[:, 1] < low[1]) | (ring[:, 1] > high[1])
    assert outside.all()


def test_defaults_move_nothing(landmarks: np.ndarray) -> None:
    points, moved = _moved(landmarks)
    assert moved == pytest.approx(points, abs=1e-12)


def test_roll_rotates_every_point_by_the_angle(landmarks: np.ndarray) -> None:
    points, moved = _moved(landmarks, face_editor_head_roll=15.0)
    before = points[IRIS_RIGHT] - points[IRIS_LEFT]
    after = moved[IRIS_RIGHT] - moved[IRIS_LEFT]
    turned = np.degrees(np.arctan2(after[1], after[0]) - np.arctan2(before[1], before[0]))
    assert turned == pytest.approx(15.0)
    assert np.linalg.norm(after) == pytest.approx(np.linalg.norm(before))


def test_open_ratios_scale_the_gaps_and_zero_closes(landmarks: np.ndarray) -> None:
    points, closed = _moved(
        landmarks, face_editor_lip_open_ratio=0.0, face_editor_eye_open_ratio=0.0
    )
    assert closed[[67, 66, 65], 1] - closed[[61, 62, 63], 1] == pytest.approx(0.0, abs=1e-9)
    assert closed[[37, 38], 1] == pytest.approx(closed[[41, 40], 1])
    _, opened = _moved(landmarks, face_editor_lip_open_ratio=1.5)
    gap = points[[67, 66, 65], 1] - points[[61, 62, 63], 1]
    assert (opened[[67, 66, 65], 1] - opened[[61, 62, 63], 1] > gap * 1.5).all()


def test_a_closed_mouth_can_be_opened(landmarks: np.ndarray) -> None:
    points = _points(landmarks)
    points[[61, 62, 63], 1] = points[[67, 66, 65], 1]
    moved = edited_points(points, Editing(face_editor_lip_open_ratio=1.5))
    assert (moved[[67, 66, 65], 1] - moved[[61, 62, 63], 1] > 0.02).all()


@pytest.mark.parametrize(
    ("values", "check"),
    [
        ({"face_editor_mouth_smile": 1.0}, lambda p, m: (m[[48, 54], 1] < p[[48, 54], 1]).all()),
        ({"face_editor_eyebrow_direction": "up"}, lambda p, m: (m[17:27, 1] < p[17:27, 1]).all()),
        ({"face_editor_mouth_position": 1.0}, lambda p, m: (m[48:68, 1] < p[48:68, 1]).all()),
        ({"face_editor_eye_gaze": "left"}, lambda p, m: m[IRIS_LEFT, 0] < p[IRIS_LEFT, 0]),
        ({"face_editor_head_yaw": 20.0}, lambda p, m: m[30, 0] > p[30, 0]),
        ({"face_editor_head_pitch": 20.0}, lambda p, m: m[30, 1] < p[30, 1]),
        (
            {"face_editor_nose_width": 2.0},
            lambda p, m: np.ptp(m[31:36, 0]) == pytest.approx(1.6 * np.ptp(p[31:36, 0])),
        ),
        (
            {"face_editor_eye_distance": 2.0},
            lambda p, m: m[IRIS_RIGHT, 0] - m[IRIS_LEFT, 0] == pytest.approx(1.3),
        ),
        ({"face_editor_face_shape": 1.0}, lambda p, m: np.ptp(m[4:13, 0]) < np.ptp(p[4:13, 0])),
        (
            {"face_editor_lip_size": 0.0},
            lambda p, m: np.ptp(m[48:68, 0]) == pytest.approx(0.5 * np.ptp(p[48:68, 0])),
        ),
    ],
)
def test_controls_move_the_named_points_the_documented_way(
    landmarks: np.ndarray, values: dict[str, Any], check: Any
) -> None:
    points, moved = _moved(landmarks, **values)
    assert check(points, moved)
