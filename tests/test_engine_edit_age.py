"""Classical ageing on the astronaut photo: texture and grey for older, smoothing for younger."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ffpipe.engine.edit_age import APPARENT_AGE, age_change, age_face
from ffpipe.engine.faces import Face, detect_faces

MEDIA = Path(__file__).resolve().parent.parent / "media"

# Places in astronaut.jpg, read off the photo by eye: (rows, columns).
CHEEKS_AND_NOSE = (slice(105, 135), slice(195, 255))
HAIR_SIDE = (slice(80, 120), slice(270, 290))


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, Face]:
    image = np.asarray(Image.open(MEDIA / "astronaut.jpg").convert("RGB"))
    (face,) = detect_faces(image)
    return image, face


def _texture(image: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[CHEEKS_AND_NOSE].astype(np.float64)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _saturation(image: np.ndarray) -> float:
    return float(cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[HAIR_SIDE][..., 1].mean())


@pytest.mark.parametrize(
    ("target", "direction", "way", "strength"),
    [
        (75, "auto", "older", 1.0),
        (100, "auto", "older", 1.0),
        (55, "auto", "older", 0.5),
        (15, "auto", "younger", 0.5),
        (APPARENT_AGE, "auto", "younger", 0.0),
        (55, "younger", "younger", 0.5),
        (25, "older", "older", 0.25),
    ],
)
def test_age_change_follows_the_documented_assumption(
    target: int, direction: str, way: str, strength: float
) -> None:
    assert age_change(target, direction) == (way, pytest.approx(strength))  # type: ignore[arg-type]


def test_older_adds_texture_and_greys_the_hair(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    older = age_face(image, face.landmarks, 80, "older")
    assert _texture(older) > 1.3 * _texture(image)
    assert _saturation(older) < 0.6 * _saturation(image)


def test_younger_smooths_the_skin(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    younger = age_face(image, face.landmarks, 5, "auto")
    assert _texture(younger) < 0.85 * _texture(image)


def test_more_years_change_more(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    textures = [_texture(age_face(image, face.landmarks, age, "older")) for age in (45, 60, 75)]
    assert textures[0] < textures[1] < textures[2]


def test_no_change_leaves_the_picture_alone(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    assert age_face(image, face.landmarks, APPARENT_AGE, "auto").tobytes() == image.tobytes()
    assert age_face(image, face.landmarks, 90, "older", strength=0.0).tobytes() == image.tobytes()


def test_the_far_background_is_untouched(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    for age in (5, 90):
        aged = age_face(image, face.landmarks, age, "auto")
        assert aged[300:].tobytes() == image[300:].tobytes()
        assert aged[:, :100].tobytes() == image[:, :100].tobytes()
