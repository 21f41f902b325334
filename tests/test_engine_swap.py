"""Swap quality on the real photos, measured with the engine's own embedding model.

Identity moves: the swapped face's embedding is closer to the source face than to the target's
original face, in both directions and onto each face of a collage. Nothing moves outside the face
outline. The distances are recorded by ``bench/bench_engine.py`` in BENCHMARKS.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ffpipe.engine.builtin.faces import detect_faces, embedding_distance, face_outline
from ffpipe.engine.builtin.swap import prepare_source, similarity_fit, swap_face

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def faces(photo):
    return {
        "astronaut": detect_faces(photo(ASTRONAUT))[0],
        "grace": detect_faces(photo(GRACE))[0],
    }


@pytest.fixture(scope="module")
def images(photo):
    return {"astronaut": photo(ASTRONAUT), "grace": photo(GRACE)}


@pytest.mark.slow
@pytest.mark.parametrize(("source", "target"), [("grace", "astronaut"), ("astronaut", "grace")])
@pytest.mark.parametrize("boost", [128, 512])
def test_identity_moves_to_the_source(faces, source, target, boost, face_near, images):
    prepared = prepare_source(images[source], faces[source])
    out = swap_face(images[target], faces[target], prepared, boost)
    swapped = face_near(out, faces[target].box)
    to_source = embedding_distance(swapped.embedding, faces[source].embedding)
    to_target = embedding_distance(swapped.embedding, faces[target].embedding)
    assert to_source < to_target, f"to source {to_source:.3f}, to target {to_target:.3f}"


@pytest.mark.slow
def test_identity_moves_on_every_face_of_a_collage(faces, collage, face_near, images):
    picture = collage()
    targets = detect_faces(picture)
    assert len(targets) == 3
    sources = {"astronaut": "grace", "grace": "astronaut"}
    for target in targets:
        own = (
            "astronaut"
            if embedding_distance(target.embedding, faces["astronaut"].embedding) < 0.5
            else "grace"
        )
        source = sources[own]
        prepared = prepare_source(images[source], faces[source])
        swapped = face_near(swap_face(picture, target, prepared, 256), target.box)
        to_source = embedding_distance(swapped.embedding, faces[source].embedding)
        to_target = embedding_distance(swapped.embedding, target.embedding)
        assert to_source < to_target, f"{own}: to source {to_source:.3f}, target {to_target:.3f}"


def test_pixels_outside_the_face_outline_do_not_move(faces, images):
    import cv2

    prepared = prepare_source(images["grace"], faces["grace"])
    out = swap_face(images["astronaut"], faces["astronaut"], prepared, 256)
    assert out.shape == images["astronaut"].shape and out.dtype == np.uint8
    swapped_points = detect_faces(out, score=0.25, with_embeddings=False)
    assert swapped_points
    inside = np.zeros(out.shape[:2], dtype=np.uint8)
    # The jaw line stays the target's; features may move inside it, the forehead with the brows.
    for landmarks in (faces["astronaut"].landmarks, swapped_points[0].landmarks):
        cv2.fillConvexPoly(inside, np.rint(face_outline(landmarks)).astype(np.int32), 1)
    grown = cv2.dilate(inside, np.ones((9, 9), np.uint8))
    changed = np.any(out != images["astronaut"], axis=2)
    assert changed.sum() > 2000
    assert not np.any(changed & (grown == 0))


def test_swap_is_deterministic(faces, images):
    prepared = prepare_source(images["astronaut"], faces["astronaut"])
    first = swap_face(images["grace"], faces["grace"], prepared, 256)
    second = swap_face(
        images["grace"],
        faces["grace"],
        prepare_source(images["astronaut"], faces["astronaut"]),
        256,
    )
    assert np.array_equal(first, second)


def test_triangulation_covers_the_points(faces, photo):
    prepared = prepare_source(photo(GRACE), faces["grace"])
    assert prepared.points.shape == (78, 2)
    assert len(prepared.triangles) > 100
    assert prepared.triangles.min() >= 0 and prepared.triangles.max() < 78


def test_similarity_fit_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    points = rng.random((20, 2)) * 100
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (points @ rotation.T) * 1.7 + (5.0, -3.0)
    scale, found, offset = similarity_fit(points, moved)
    assert scale == pytest.approx(1.7)
    assert np.allclose(found, rotation)
    assert np.allclose(offset, (5.0, -3.0))
