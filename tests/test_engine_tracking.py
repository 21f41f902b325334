"""Landmark smoothing and the face tracker, on synthetic points and on generated frames."""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
import pytest
from _clip_support import Pose, astronaut, render_frame

from ffpipe.engine.builtin.faces import detect_faces
from ffpipe.engine.builtin.smoothing import LandmarkFilter, apply_motion, face_scale
from ffpipe.engine.builtin.tracking import FaceTracker

pytestmark = pytest.mark.slow  # tracks faces through videos

FPS = 30.0


def _face_points() -> np.ndarray:
    """68 points on a 100-pixel face (the astronaut's fitted landmarks)."""
    return detect_faces(astronaut().pixels, score=0.3)[0].landmarks.astype(np.float32)


def _frame_jitter(series: list[np.ndarray]) -> float:
    """Mean movement of the points from one frame to the next, in pixels."""
    steps = [np.linalg.norm(b - a, axis=1).mean() for a, b in pairwise(series)]
    return float(np.mean(steps))


def test_jitter_of_a_still_face_is_cut() -> None:
    rng = np.random.default_rng(3)
    truth = _face_points()
    smoothing = LandmarkFilter()
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    noisy = [truth + rng.normal(0, 1.0, truth.shape).astype(np.float32) for _ in range(60)]
    smoothed = [smoothing.update(p, n / FPS, identity) for n, p in enumerate(noisy)]
    assert _frame_jitter(smoothed[10:]) < 0.4 * _frame_jitter(noisy[10:])
    errors = [np.linalg.norm(points - truth, axis=1).mean() for points in smoothed[10:]]
    raw_errors = [np.linalg.norm(points - truth, axis=1).mean() for points in noisy[10:]]
    assert np.mean(errors) < 0.6 * np.mean(raw_errors)


def test_rigid_motion_is_followed_without_lag() -> None:
    truth = _face_points()
    smoothing = LandmarkFilter()
    centre = truth.mean(axis=0)
    shift = np.array([25.0, -8.0])
    points = truth
    for number in range(30):
        # A fast pan, zoom and roll: 25 pixels, 3 % and 4 degrees a frame.
        step = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 4.0, 1.03)
        step[:, 2] += shift
        points, centre = apply_motion(step, points), np.add(centre, shift)
        smoothed = smoothing.update(points, number / FPS, step if number else None)
        assert np.abs(smoothed - points).max() < 0.01 * face_scale(points)


def test_a_sudden_change_of_expression_comes_through_within_a_few_frames() -> None:
    truth = _face_points()
    smoothing = LandmarkFilter()
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    for number in range(10):
        smoothing.update(truth, number / FPS, identity)
    opened = truth.copy()
    opened[57:60, 1] += 12.0  # the lower lip drops by 12 pixels
    opened[7:10, 1] += 12.0
    for number in range(10, 13):
        smoothed = smoothing.update(opened, number / FPS, identity)
    assert smoothed[58, 1] - truth[58, 1] > 0.9 * 12.0
    assert np.abs(smoothed[:48] - truth[:48])[np.r_[0:7, 10:48]].max() < 0.5


def test_without_motion_the_filter_starts_over() -> None:
    truth = _face_points()
    smoothing = LandmarkFilter()
    smoothing.update(truth, 0.0, None)
    moved = truth + 40.0
    assert np.array_equal(smoothing.update(moved, 1 / FPS, None), moved)


def _frames(poses: list[Pose], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    head = astronaut()
    frames = []
    for pose in poses:
        frame = render_frame((320, 240), [(head, pose)]).astype(np.int16)
        frame += rng.normal(0, 3.0, frame.shape).astype(np.int16)  # sensor noise
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def _detector(image: np.ndarray, score: float) -> list:
    return detect_faces(image, score=score, detector_size=640, with_embeddings=False)


def test_followed_landmarks_jitter_less_than_per_frame_fits() -> None:
    frames = _frames([Pose(0.0, 90.0, (160.0, 120.0))] * 24)
    tracker = FaceTracker(_detector, 0.5)
    followed = [tracker.step(frame, n / FPS) for n, frame in enumerate(frames)]
    assert all(len(faces) == 1 and faces[0].track == 0 for faces in followed)
    tracked = [faces[0].face.landmarks for faces in followed]
    fitted = [_detector(frame, 0.5)[0].landmarks for frame in frames]
    assert _frame_jitter(tracked[5:]) < 0.5 * _frame_jitter(fitted[5:])


@pytest.mark.parametrize("speed", [6.0, 18.0])
def test_followed_landmarks_keep_up_with_a_moving_head(speed: float) -> None:
    poses = [Pose(8.0 * np.sin(n / 4), 90.0, (70.0 + speed * n, 120.0)) for n in range(12)]
    frames = _frames(poses, seed=1)
    tracker = FaceTracker(_detector, 0.5)
    for number, (frame, pose) in enumerate(zip(frames, poses, strict=True)):
        faces = tracker.step(frame, number / FPS)
        assert len(faces) == 1
        fitted = _detector(frame, 0.3)[0].landmarks
        offset = (faces[0].face.landmarks - fitted).mean(axis=0)
        # No lag along the motion: the mean offset stays within 4 % of the face's size.
        assert np.linalg.norm(offset) < 0.04 * pose.side, (number, offset)


def test_a_face_that_leaves_is_no_longer_reported() -> None:
    frames = _frames([Pose(0.0, 90.0, (160.0, 120.0))] * 6)
    empty = np.full_like(frames[0], 128)
    tracker = FaceTracker(_detector, 0.5)
    for number, frame in enumerate(frames):
        assert len(tracker.step(frame, number / FPS)) == 1
    assert tracker.step(empty, 6 / FPS) == []
