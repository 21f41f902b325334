"""Hair finding and recolouring on the astronaut photo (short brown hair on a grey backdrop)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ffpipe.engine.builtin.edit_hair import (
    hair_probability,
    head_region,
    hex_to_rgb,
    recolour_hair,
    to_lab,
)
from ffpipe.engine.builtin.faces import Face, detect_faces

MEDIA = Path(__file__).resolve().parent.parent / "media"

# Places in astronaut.jpg, read off the photo by eye: (rows, columns).
HAIR_SIDES = ((slice(80, 120), slice(160, 180)), (slice(80, 120), slice(270, 290)))
HAIR_TOP = (slice(25, 60), slice(190, 260))
BACKDROP = (slice(10, 40), slice(110, 150))
CHEEKS = (slice(110, 150), slice(195, 255))


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, Face]:
    image = np.asarray(Image.open(MEDIA / "astronaut.jpg").convert("RGB"))
    (face,) = detect_faces(image)
    return image, face


def _hair_pixels(image: np.ndarray) -> np.ndarray:
    return np.concatenate([image[place].reshape(-1, 3) for place in (*HAIR_SIDES, HAIR_TOP)])[
        None, :, :
    ]


def _hue_degrees(lab: np.ndarray) -> float:
    a, b = lab[..., 1].mean(), lab[..., 2].mean()
    return float(np.degrees(np.arctan2(b, a)))


def test_hex_colours_are_parsed() -> None:
    assert hex_to_rgb("#000000") == (0, 0, 0)
    assert hex_to_rgb("#2050e0") == (0x20, 0x50, 0xE0)
    assert hex_to_rgb("#FFfF00") == (255, 255, 0)


def test_hair_is_found_above_the_face_and_not_on_skin_or_backdrop(
    astronaut: tuple[np.ndarray, Face],
) -> None:
    image, face = astronaut
    probability = hair_probability(image, face.landmarks)
    assert probability.shape == image.shape[:2] and probability.dtype == np.float32
    for side in HAIR_SIDES:
        assert probability[side].mean() > 0.6
    assert probability[HAIR_TOP].mean() > 0.3
    assert probability[BACKDROP].mean() < 0.05
    assert probability[CHEEKS].max() < 0.01
    region = head_region(face.landmarks, image.shape)
    outside = np.ones(image.shape[:2], dtype=bool)
    outside[region.top : region.bottom, region.left : region.right] = False
    assert not probability[outside].any()


@pytest.mark.parametrize("colour", ["#2050e0", "#20a040", "#c02020"])
def test_recolouring_moves_the_hair_hue_to_the_asked_colour(
    astronaut: tuple[np.ndarray, Face], colour: str
) -> None:
    image, face = astronaut
    target = _hue_degrees(to_lab(np.array([[hex_to_rgb(colour)]], dtype=np.uint8)))
    before = _hue_degrees(to_lab(_hair_pixels(image)))
    after = _hue_degrees(to_lab(_hair_pixels(recolour_hair(image, face.landmarks, colour))))

    def gap(hue: float) -> float:
        return abs((hue - target + 180.0) % 360.0 - 180.0)

    assert gap(after) < 25.0
    assert gap(after) < gap(before) - 20.0


def test_black_darkens_and_the_texture_stays(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    result = recolour_hair(image, face.landmarks, "#000000")
    before, after = to_lab(_hair_pixels(image)), to_lab(_hair_pixels(result))
    assert after[..., 0].mean() < before[..., 0].mean() - 15.0
    assert after[..., 0].std() > 0.3 * before[..., 0].std()


def test_only_the_head_changes_and_zero_strength_changes_nothing(
    astronaut: tuple[np.ndarray, Face],
) -> None:
    image, face = astronaut
    result = recolour_hair(image, face.landmarks, "#2050e0")
    assert result[CHEEKS].tobytes() == image[CHEEKS].tobytes()
    assert result[250:].tobytes() == image[250:].tobytes()
    untouched = recolour_hair(image, face.landmarks, "#2050e0", strength=0.0)
    assert untouched.tobytes() == image.tobytes()


def test_a_cap_over_the_hair_is_not_hair(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    capped = image.copy()
    cap = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(cap, (225, 45), (85, 42), 0, 180, 360, 1, -1)
    capped[cap.astype(bool)] = (150, 40, 160)
    assert hair_probability(capped, face.landmarks)[cap.astype(bool)].max() == 0.0
    recoloured = recolour_hair(capped, face.landmarks, "#2050e0")
    assert recoloured[cap.astype(bool)].tobytes() == capped[cap.astype(bool)].tobytes()
    for side in HAIR_SIDES:
        assert not np.array_equal(recoloured[side], capped[side])


def test_no_hair_is_found_where_the_sides_show_none(astronaut: tuple[np.ndarray, Face]) -> None:
    # The backdrop painted over the whole head except the face: nothing there is hair.
    image, face = astronaut
    bald = image.copy()
    outside = np.ones(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(outside, cv2.convexHull(np.round(face.landmarks).astype(np.int32)), 0)
    bald[outside.astype(bool)] = np.median(image[BACKDROP].reshape(-1, 3), axis=0)
    assert not hair_probability(bald, face.landmarks).any()
