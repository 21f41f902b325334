"""The builtin face enhancer on the real sample photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ffpipe.catalog.enhance import FACE_ENHANCER_MODELS, Enhancement
from ffpipe.catalog.ops import EnhanceParams
from ffpipe.engine.builtin.enhance import enhance_face, similarity_to
from ffpipe.engine.builtin.faces import Face, detect_faces
from ffpipe.engine.builtin.restorations import ENHANCER_METHOD, RESTORATIONS

MEDIA = Path(__file__).resolve().parent.parent / "media"


def _photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(MEDIA / name).convert("RGB"))


@pytest.fixture(scope="module", params=["astronaut.jpg", "grace_hopper.jpg"])
def portrait(request: pytest.FixtureRequest) -> tuple[np.ndarray, Face]:
    image = _photo(request.param)
    (face,) = detect_faces(image)
    return image, face


def _inner_face(image: np.ndarray, face: Face) -> np.ndarray:
    """The middle of the face box, where the restored oval has full weight."""
    left, top, right, bottom = face.box
    inset_x, inset_y = (right - left) // 5, (bottom - top) // 5
    return image[top + inset_y : bottom - inset_y, left + inset_x : right - inset_x]


def _detail(image: np.ndarray) -> float:
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _far_from(image: np.ndarray, face: Face) -> np.ndarray:
    """True for pixels more than one face width outside the face box."""
    left, top, right, bottom = face.box
    reach = right - left
    far = np.ones(image.shape[:2], dtype=bool)
    far[max(top - reach, 0) : bottom + reach, max(left - reach, 0) : right + reach] = False
    return far


def test_enhancing_adds_detail_inside_the_face_only(portrait: tuple[np.ndarray, Face]) -> None:
    image, face = portrait
    result = enhance_face(image, face, Enhancement(face_enhancer_model="gfpgan_1.4"))
    assert result.shape == image.shape and result.dtype == np.uint8
    assert _detail(_inner_face(result, face)) > 1.2 * _detail(_inner_face(image, face))
    far = _far_from(image, face)
    assert np.array_equal(result[far], image[far])


def test_blend_zero_returns_the_input_exactly(portrait: tuple[np.ndarray, Face]) -> None:
    image, face = portrait
    result = enhance_face(image, face, Enhancement(face_enhancer_blend=0.0))
    assert result is not image
    assert result.tobytes() == image.tobytes()


def test_blend_and_iterations_scale_the_effect(portrait: tuple[np.ndarray, Face]) -> None:
    image, face = portrait

    def change(**values: float) -> float:
        result = enhance_face(image, face, Enhancement(**values))  # type: ignore[arg-type]
        return float(np.abs(result.astype(int) - image.astype(int)).mean())

    light, full = change(face_enhancer_blend=0.3), change(face_enhancer_blend=1.0)
    repeated = change(face_enhancer_blend=1.0, face_enhancer_iterations=3)
    assert 0 < light < full < repeated


@pytest.mark.slow
@pytest.mark.parametrize("model", FACE_ENHANCER_MODELS)
def test_every_model_has_a_stand_in_that_adds_detail(model: str) -> None:
    image = _photo("astronaut.jpg")
    (face,) = detect_faces(image)
    result = enhance_face(image, face, Enhancement(face_enhancer_model=model))
    assert _detail(_inner_face(result, face)) > _detail(_inner_face(image, face))
    assert (
        model in ENHANCER_METHOD and str(RESTORATIONS[model].resolution) in ENHANCER_METHOD[model]
    )


def test_working_resolution_follows_the_model() -> None:
    assert RESTORATIONS["gpen_bfr_256"].resolution == 256
    assert RESTORATIONS["gpen_bfr_1024"].resolution == 1024
    assert RESTORATIONS["gpen_bfr_2048"].resolution == 2048
    assert {RESTORATIONS[name].resolution for name in ("gfpgan_1.4", "codeformer")} == {512}


def test_enhancing_is_deterministic_and_leaves_the_input_alone() -> None:
    image = _photo("grace_hopper.jpg")
    pristine = image.copy()
    (face,) = detect_faces(image)
    params = EnhanceParams(target_media="x.png", face_enhancer_iterations=2)
    first, second = enhance_face(image, face, params), enhance_face(image, face, params)
    assert first.tobytes() == second.tobytes()
    assert image.tobytes() == pristine.tobytes()


def test_only_the_given_face_changes_in_a_collage() -> None:
    collage = np.zeros((600, 760, 3), dtype=np.uint8)
    collage[:512, :380] = _photo("astronaut.jpg")[:, 30:410]
    collage[:, 380:] = _photo("grace_hopper.jpg")[:, 80:460]
    faces = detect_faces(collage)
    assert len(faces) == 2
    result = enhance_face(collage, faces[0], Enhancement())
    assert result[:, 380:].tobytes() == collage[:, 380:].tobytes()
    assert result[:, :380].tobytes() != collage[:, :380].tobytes()


def test_similarity_to_recovers_a_known_transform() -> None:
    points = np.array([[10.0, 20.0], [40.0, 22.0], [25.0, 40.0], [15.0, 55.0], [38.0, 54.0]])
    angle = np.radians(-12.0)
    linear = 2.5 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    template = points @ linear.T + [7.0, -3.0]
    matrix = similarity_to(points, template)
    assert matrix[:, :2] == pytest.approx(linear)
    assert matrix[:, 2] == pytest.approx([7.0, -3.0])


def test_a_frame_that_is_not_8_bit_rgb_is_refused() -> None:
    image = _photo("astronaut.jpg")
    (face,) = detect_faces(image)
    with pytest.raises(ValueError, match="8-bit RGB"):
        enhance_face(image.astype(np.float32), face, Enhancement())


def test_a_face_at_the_picture_edge_is_enhanced() -> None:
    image = np.ascontiguousarray(_photo("astronaut.jpg")[60:, 170:])
    (face,) = detect_faces(image, score=0.3)
    result = enhance_face(image, face, Enhancement(face_enhancer_iterations=2))
    assert result.shape == image.shape
    assert _detail(_inner_face(result, face)) > _detail(_inner_face(image, face))
