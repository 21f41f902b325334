"""Detection on the real sample photos: faces found, the mission patch rejected, points sane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.hardset import hard_set
from ffpipe.engine.builtin.faces import (
    detect_faces,
    embedding_distance,
    face_outline,
    face_region_points,
    refresh_landmarks,
    with_embedding,
)

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def astronaut_faces(photo):
    return detect_faces(photo(ASTRONAUT))


@pytest.fixture(scope="module")
def grace_faces(photo):
    return detect_faces(photo(GRACE))


def test_one_face_per_sample_photo_at_the_default_score(astronaut_faces, grace_faces):
    assert len(astronaut_faces) == 1
    assert len(grace_faces) == 1


def test_astronaut_face_is_where_the_photo_shows_it(astronaut_faces):
    left, top, right, bottom = astronaut_faces[0].box
    # The face of the astronaut spans about (175, 76)-(265, 166).
    assert abs(left - 175) < 15 and abs(top - 76) < 15
    assert abs(right - 265) < 15 and abs(bottom - 166) < 15
    landmarks = astronaut_faces[0].landmarks
    assert landmarks.shape == (68, 2)
    assert np.all(landmarks[:, 0] > left - 20) and np.all(landmarks[:, 0] < right + 20)


def test_the_mission_patch_stays_out_even_at_a_low_threshold(astronaut_faces, photo):
    weak = detect_faces(photo(ASTRONAUT), score=0.1, with_embeddings=False)
    assert [face.box for face in weak] == [face.box for face in astronaut_faces]


def test_scores_are_within_the_unit_range_and_respect_the_threshold(photo):
    for face in detect_faces(photo(ASTRONAUT), score=0.0, with_embeddings=False):
        assert 0.0 <= face.score <= 1.0
    assert detect_faces(photo(ASTRONAUT), score=1.0, with_embeddings=False) == []


def test_a_larger_detector_size_finds_smaller_faces():
    # Faces of 20-34 px at 640 are 10-17 px at 320, below what the detector looks for.
    case = next(case for case in hard_set() if case.kind == "small")
    small = detect_faces(case.image, detector_size=320, with_embeddings=False)
    large = detect_faces(case.image, detector_size=640, with_embeddings=False)
    assert len(large) > len(small)


def test_embeddings_tell_the_two_people_apart(astronaut_faces, grace_faces, photo):
    distance = embedding_distance(astronaut_faces[0].embedding, grace_faces[0].embedding)
    assert distance > 0.6
    mirrored = detect_faces(np.ascontiguousarray(photo(ASTRONAUT)[:, ::-1]))
    assert embedding_distance(mirrored[0].embedding, astronaut_faces[0].embedding) < 0.4


def test_embedding_can_be_computed_later_and_matches(astronaut_faces, photo):
    bare = detect_faces(photo(ASTRONAUT), with_embeddings=False)[0]
    assert bare.embedding is None
    later = with_embedding(photo(ASTRONAUT), bare)
    assert np.allclose(later.embedding, astronaut_faces[0].embedding, atol=1e-6)
    assert with_embedding(photo(ASTRONAUT), later) is later


def test_refreshed_landmarks_on_the_same_image_are_unchanged(astronaut_faces, photo):
    refreshed = refresh_landmarks(photo(ASTRONAUT), astronaut_faces[0])
    assert np.array_equal(refreshed.landmarks, astronaut_faces[0].landmarks)
    assert refreshed.embedding is None


def test_region_points_add_a_forehead_above_the_brows(grace_faces):
    landmarks = grace_faces[0].landmarks
    points = face_region_points(landmarks)
    assert points.shape == (78, 2)
    assert np.array_equal(points[:68], landmarks)
    assert np.all(points[68:, 1] < landmarks[17:27, 1])
    outline = face_outline(landmarks)
    assert outline[:, 1].min() == pytest.approx(points[:, 1].min())


def test_detection_is_deterministic(photo):
    first = detect_faces(photo(GRACE))
    second = detect_faces(photo(GRACE))
    assert first[0].box == second[0].box
    assert np.array_equal(first[0].landmarks, second[0].landmarks)
    assert np.array_equal(first[0].embedding, second[0].embedding)


def test_a_face_is_in_profile_when_its_nose_tip_lies_beyond_an_eye():
    from ffpipe.engine.builtin.faces import nose_beyond_eyes

    left, right = np.array([100.0, 100.0]), np.array([160.0, 100.0])
    assert not nose_beyond_eyes(left, right, np.array([130.0, 140.0]))  # frontal
    assert not nose_beyond_eyes(left, right, np.array([150.0, 140.0]))  # three-quarter
    assert nose_beyond_eyes(left, right, np.array([185.0, 140.0]))  # profile, facing right
    assert nose_beyond_eyes(left, right, np.array([70.0, 140.0]))  # profile, facing left
    # Rolled with the head, the answer stays.
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert nose_beyond_eyes(turn @ left, turn @ right, turn @ np.array([185.0, 140.0]))
