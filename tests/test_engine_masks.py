"""Masks on the real sample faces: box padding, blur, regions, occlusion, and exact blending."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ffpipe.catalog.swap import FaceMasking
from ffpipe.engine.builtin.faces import detect_faces, face_region_points
from ffpipe.engine.builtin.masks import blend, build_mask, mask_box, occlusion_mask, region_mask

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def astronaut_face(photo):
    return detect_faces(photo(ASTRONAUT), with_embeddings=False)[0]


@pytest.fixture(scope="module")
def grace_face(photo):
    return detect_faces(photo(GRACE), with_embeddings=False)[0]


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_box_mask_covers_the_face_region_points(astronaut_face):
    mask = build_mask((512, 512), astronaut_face, FaceMasking(face_mask_blur=0.0))
    points = face_region_points(astronaut_face.landmarks)
    assert set(np.unique(mask)) == {0.0, 1.0}
    left, top, right, bottom = _extent(mask)
    assert left <= points[:, 0].min() and right >= points[:, 0].max()
    assert top <= points[:, 1].min() and bottom >= points[:, 1].max()


def test_padding_grows_each_side_by_its_pixels(astronaut_face):
    plain = _extent(build_mask((512, 512), astronaut_face, FaceMasking(face_mask_blur=0.0)))
    padded = build_mask(
        (512, 512), astronaut_face, FaceMasking(face_mask_blur=0.0, face_mask_padding=(5, 7, 9, 11))
    )
    left, top, right, bottom = _extent(padded)
    assert (plain[0] - left, plain[1] - top, right - plain[2], bottom - plain[3]) == (11, 5, 7, 9)


def test_blur_softens_inward_and_never_reaches_outside_the_box(astronaut_face):
    hard = build_mask((512, 512), astronaut_face, FaceMasking(face_mask_blur=0.0))
    soft = build_mask((512, 512), astronaut_face, FaceMasking(face_mask_blur=0.6))
    assert soft.dtype == np.float32
    assert np.all(soft[hard == 0] == 0.0)
    partial = (soft > 0.0) & (soft < 1.0)
    assert partial.sum() > 1000
    assert soft.max() == 1.0


def test_region_polygons_are_normalized_to_the_padded_box(astronaut_face):
    params = FaceMasking(
        face_mask_types=["region"],
        face_mask_blur=0.0,
        face_mask_regions=[[(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]],
    )
    mask = build_mask((512, 512), astronaut_face, params)
    left, top, right, bottom = mask_box((512, 512), astronaut_face, (0, 0, 0, 0))
    got = _extent(mask)
    assert got[0] == left and got[2] == right and got[3] == bottom
    assert abs(got[1] - (top + bottom) / 2) <= 1


def test_region_without_polygons_is_empty(astronaut_face):
    params = FaceMasking(face_mask_types=["region"])
    assert not build_mask((512, 512), astronaut_face, params).any()


def test_polygons_beyond_the_image_edge_are_cut_off():
    box = (400, 400, 600, 600)
    mask = region_mask((512, 512), box, [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]])
    assert mask.shape == (512, 512)
    assert _extent(mask) == (400, 400, 512, 512)
    outside = region_mask((512, 512), (600, 600, 700, 700), [[(0, 0), (1, 0), (1, 1)]])
    assert not outside.any()


def test_types_are_intersected(grace_face, photo):
    image = photo(GRACE)
    box = build_mask(image.shape[:2], grace_face, FaceMasking(face_mask_blur=0.0))
    both = build_mask(
        image.shape[:2],
        grace_face,
        FaceMasking(face_mask_types=["box", "occlusion"], face_mask_blur=0.0),
        frame_rgb=image,
    )
    assert np.all(both <= box)
    assert both.sum() < box.sum()


def test_occlusion_needs_the_frame(grace_face):
    with pytest.raises(ValueError, match="frame_rgb"):
        build_mask((600, 512), grace_face, FaceMasking(face_mask_types=["occlusion"]))


def test_occlusion_leaves_out_an_object_in_front_of_the_face(astronaut_face, photo):
    image = np.array(photo(ASTRONAUT))
    clear = occlusion_mask(image, astronaut_face)
    cheek = astronaut_face.landmarks[[2, 3, 31]].mean(axis=0).astype(int)
    x, y = int(cheek[0]), int(cheek[1])
    assert clear[y, x] == 1
    image[y - 9 : y + 9, x - 9 : x + 9] = (30, 60, 200)
    occluded = occlusion_mask(image, astronaut_face)
    assert occluded[y, x] == 0
    assert occluded.sum() < clear.sum()


def test_blend_is_exact_where_the_mask_is_zero_or_one():
    rng = np.random.default_rng(3)
    original = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    processed = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    mask = np.zeros((20, 30), dtype=np.float32)
    mask[:, 10:20] = 1.0
    mask[:, 20:] = 0.5
    out = blend(original, processed, mask)
    assert np.array_equal(out[:, :10], original[:, :10])
    assert np.array_equal(out[:, 10:20], processed[:, 10:20])
    half = (original[:, 20:].astype(float) + processed[:, 20:]) / 2
    assert np.all(np.abs(out[:, 20:] - half) <= 0.5 + 1e-6)
