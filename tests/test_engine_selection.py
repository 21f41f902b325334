"""Face selection: index errors name the counts, reference distance maps onto embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from ffpipe.engine.api import FaceNotFoundError
from ffpipe.engine.builtin.selection import embedding_threshold, pick, similar_faces


def test_pick_returns_the_indexed_face():
    assert pick(["a", "b"], 1, media="target x.jpg", parameter="target_face_index") == "b"


def test_out_of_range_index_says_how_many_faces_there_are():
    with pytest.raises(
        FaceNotFoundError,
        match=r"target x\.jpg has 2 faces, index 5 was requested \(target_face_index\)",
    ):
        pick(["a", "b"], 5, media="target x.jpg", parameter="target_face_index")
    with pytest.raises(FaceNotFoundError, match="has 1 face, index 1"):
        pick(["a"], 1, media="source y.png", parameter="source_face_index")


def test_default_distance_is_dlibs_same_person_tolerance():
    assert embedding_threshold(0.3) == pytest.approx(0.6)


def test_similar_faces_uses_the_mapped_threshold():
    reference = np.zeros(128)
    embeddings = [np.full(128, value / np.sqrt(128)) for value in (0.0, 0.5, 0.7, 1.5)]
    assert similar_faces(embeddings, reference, 0.0) == [0]
    assert similar_faces(embeddings, reference, 0.3) == [0, 1]
    assert similar_faces(embeddings, reference, 0.4) == [0, 1, 2]
    assert similar_faces(embeddings, reference, 1.0) == [0, 1, 2, 3]
