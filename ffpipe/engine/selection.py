"""Which faces of a frame an op processes: one by index, or all that resemble a reference face.

``reference_face_distance`` (0.0-1.0) is mapped onto the Euclidean distance between dlib face
embeddings by doubling it: the default 0.3 becomes 0.6, the tolerance dlib's authors recommend for
"same person"; 0.0 accepts only an identical embedding (in practice the reference face itself);
1.0 accepts every face, whatever its distance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ffpipe.engine.api import FaceNotFoundError
from ffpipe.engine.faces import Face, embedding_distance

EMBEDDING_DISTANCE_PER_UNIT = 2.0


def embedding_threshold(reference_face_distance: float) -> float:
    """The embedding distance that ``reference_face_distance`` stands for."""
    return EMBEDDING_DISTANCE_PER_UNIT * reference_face_distance


def pick(faces: Sequence[Face], index: int, *, media: str, parameter: str) -> Face:
    """``faces[index]``, or a :class:`FaceNotFoundError` saying how many faces there are."""
    if 0 <= index < len(faces):
        return faces[index]
    count = f"{len(faces)} face" + ("" if len(faces) == 1 else "s")
    raise FaceNotFoundError(f"{media} has {count}, index {index} was requested ({parameter})")


def similar_faces(
    embeddings: Sequence[np.ndarray], reference: np.ndarray, reference_face_distance: float
) -> list[int]:
    """Indices of the embeddings within the mapped distance of ``reference``, in order."""
    if reference_face_distance >= 1.0:
        return list(range(len(embeddings)))
    threshold = embedding_threshold(reference_face_distance)
    return [
        number
        for number, embedding in enumerate(embeddings)
        if embedding_distance(embedding, reference) <= threshold
    ]
