"""Which faces of a frame an op processes: one by index, or all that resemble a reference face.

``reference_face_distance`` (0.0-1.0) is mapped onto the Euclidean distance between dlib face
embeddings by doubling it: the default 0.3 becomes 0.6, the tolerance dlib's authors recommend for
"same person"; 0.0 accepts only an identical embedding (in practice the reference face itself);
1.0 accepts every face, whatever its distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ffpipe.engine.api import FaceNotFoundError
from ffpipe.engine.builtin.faces import Face, embedding_distance

EMBEDDING_DISTANCE_PER_UNIT = 2.0

Box = tuple[int, int, int, int]


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


# A face whose embedding distance to the reference lies this close to the limit, on either side,
# makes the choice a near thing: a little change of light or pose could flip it in or out.
NEAR_DISTANCE = 0.05


@dataclass(frozen=True)
class Choice:
    """Which faces of an image an op took, and why the choice may surprise.

    ``ambiguous`` is set when the image had several faces (an index or a reference position then
    picks one of them), or when a face's distance to the reference lies within
    :data:`NEAR_DISTANCE` (embedding units) of the limit; ``warnings`` then say which face was
    taken, by its box.
    """

    by: str
    """``target_face_index`` or ``reference_face_position``."""
    value: int
    faces_found: int
    chosen: tuple[Box, ...]
    distances: tuple[float, ...] = ()
    """Reference mode: each face's distance to the reference on the ``reference_face_distance``
    scale (embedding distance halved), in face order."""
    warnings: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return bool(self.warnings)

    def document(self) -> dict[str, Any]:
        """The choice as JSON for an op's result."""
        document: dict[str, Any] = {
            "by": self.by,
            "value": self.value,
            "faces_found": self.faces_found,
            "chosen": [list(box) for box in self.chosen],
            "ambiguous": self.ambiguous,
        }
        if self.distances:
            document["distances"] = [round(value, 4) for value in self.distances]
        return document


def index_choice(
    faces: Sequence[Face], chosen: Sequence[Face], index: int, *, media: str
) -> Choice:
    """The choice ``target_face_index`` ``index`` made among ``faces``."""
    boxes = tuple(face.box for face in chosen)
    warnings: tuple[str, ...] = ()
    if len(faces) > 1 and boxes:
        warnings = (
            f"{media} has {len(faces)} faces; target_face_index {index} took the face at "
            f"{list(boxes[0])} (faces are numbered left to right from 0)",
        )
    return Choice("target_face_index", index, len(faces), boxes, warnings=warnings)


def reference_choice(
    faces: Sequence[Face],
    chosen: Sequence[Face],
    position: int,
    reference_face_distance: float,
    *,
    media: str,
) -> Choice:
    """The choice made in an image that is its own reference: face ``position`` and every face
    within ``reference_face_distance`` of it. ``faces`` need embeddings when there are several."""
    boxes = tuple(face.box for face in chosen)
    if len(faces) < 2 or position >= len(faces):
        return Choice("reference_face_position", position, len(faces), boxes)
    reference = faces[position]
    distances = tuple(embedding_distance(_embedding(face), _embedding(reference)) for face in faces)
    taken = ", ".join(str(list(box)) for box in boxes)
    warnings = [
        f"{media} has {len(faces)} faces; reference_face_position {position} took the face at "
        f"{list(reference.box)} as the reference; faces processed: {taken}"
    ]
    if reference_face_distance < 1.0:
        limit = embedding_threshold(reference_face_distance)
        for number, (face, distance) in enumerate(zip(faces, distances, strict=True)):
            if number != position and abs(distance - limit) < NEAR_DISTANCE:
                verdict = "taken" if face.box in boxes else "left out"
                warnings.append(
                    f"the face at {list(face.box)} is {distance / EMBEDDING_DISTANCE_PER_UNIT:.3f} "
                    f"from the reference, close to reference_face_distance "
                    f"{reference_face_distance:g}: {verdict}"
                )
    return Choice(
        "reference_face_position",
        position,
        len(faces),
        boxes,
        distances=tuple(distance / EMBEDDING_DISTANCE_PER_UNIT for distance in distances),
        warnings=tuple(warnings),
    )


def _embedding(face: Face) -> np.ndarray:
    if face.embedding is None:
        raise ValueError(f"the face at {list(face.box)} has no embedding")
    return face.embedding
