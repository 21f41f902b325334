"""Which face an op takes on a photo with several: the right person, counted, and said aloud.

A swap with ``target_face_index`` on two people side by side lands on the face the documented
order (left to right from 0) names, and only there; the result counts the faces found and
processed, names the box taken in ``selection`` and says it in a ``warnings`` line. A single face
raises no warning; a face whose distance to the reference is close to the limit does.
"""

from __future__ import annotations

import numpy as np
import pytest
from _engine_support import ASTRONAUT, GRACE, read_rgb, write_rgb

from bench.hardset import hard_set
from ffpipe.engine import RunContext
from ffpipe.engine.builtin import BuiltinEngine
from ffpipe.engine.builtin.faces import Face
from ffpipe.engine.builtin.selection import index_choice, reference_choice


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory):
    case = next(case for case in hard_set() if case.kind == "side_by_side")
    path = write_rgb(tmp_path_factory.mktemp("pair") / "pair.png", case.image)
    return case, path


@pytest.fixture(scope="module")
def engine():
    return BuiltinEngine()


def _changed(before: np.ndarray, after: np.ndarray, box) -> float:
    left, top, right, bottom = (round(value) for value in box)
    window = (slice(top, bottom), slice(left, right))
    return float(np.abs(after[window].astype(int) - before[window].astype(int)).mean())


@pytest.mark.parametrize("index", [0, 1])
def test_target_face_index_swaps_the_person_it_names(engine, side_by_side, tmp_path, index):
    case, path = side_by_side
    assert case.people == ("astronaut", "grace")
    output = engine.run(
        "swap",
        {
            "source_face": str(GRACE if index == 0 else ASTRONAUT),
            "target_media": str(path),
            "target_face_index": index,
            "output_path": "out.png",
        },
        RunContext(tmp_path),
    )
    after = read_rgb(output.files["output"])
    taken, other = case.faces[index], case.faces[1 - index]
    assert _changed(case.image, after, taken) > 5.0
    assert _changed(case.image, after, other) == 0.0
    result = output.result
    assert result["faces_found"] == 2 and result["faces_processed"] == 1
    selection = result["selection"]
    assert selection["by"] == "target_face_index" and selection["ambiguous"] is True
    (chosen,) = selection["chosen"]
    centre = ((chosen[0] + chosen[2]) / 2, (chosen[1] + chosen[3]) / 2)
    assert taken[0] < centre[0] < taken[2] and taken[1] < centre[1] < taken[3]
    (warning,) = [line for line in result["warnings"] if "target_face_index" in line]
    assert f"has 2 faces; target_face_index {index} took the face at {chosen}" in warning


@pytest.mark.slow
def test_reference_mode_names_the_reference_and_the_faces_taken(engine, side_by_side, tmp_path):
    _, path = side_by_side
    output = engine.run(
        "swap",
        {"source_face": str(GRACE), "target_media": str(path), "output_path": "out.png"},
        RunContext(tmp_path),
    )
    result = output.result
    # Two different people: only the reference (the left face) resembles itself.
    assert result["faces_found"] == 2 and result["faces_processed"] == 1
    selection = result["selection"]
    assert selection["by"] == "reference_face_position" and selection["ambiguous"] is True
    assert selection["distances"][0] == 0.0 and selection["distances"][1] > 0.3
    assert any("reference_face_position 0 took the face at" in line for line in result["warnings"])


def test_a_single_face_raises_no_selection_warning(engine, tmp_path):
    for extra in ({}, {"target_face_index": 0}):
        output = engine.run(
            "swap",
            {"source_face": str(GRACE), "target_media": str(ASTRONAUT), **extra},
            RunContext(tmp_path),
        )
        result = output.result
        assert result["faces_found"] == 1 and result["faces_processed"] == 1
        assert result["selection"]["ambiguous"] is False
        assert "warnings" not in result


def test_detect_counts_faces_found_and_processed(engine, side_by_side, tmp_path):
    _, path = side_by_side
    result = engine.run("detect", {"target_media": str(path)}, RunContext(tmp_path)).result
    assert result["faces_found"] == result["faces_processed"] == result["face_count"] == 2


def _face(box, embedding) -> Face:
    return Face(box=box, score=0.9, landmarks=np.zeros((68, 2), np.float32), embedding=embedding)


def test_a_distance_close_to_the_limit_is_a_warning():
    reference = np.zeros(128)
    unit = np.full(128, 1 / np.sqrt(128))
    faces = [
        _face((0, 0, 10, 10), reference),
        _face((20, 0, 30, 10), unit * 0.58),  # just inside 0.6, the default limit
        _face((40, 0, 50, 10), unit * 1.2),  # clearly another person
    ]
    choice = reference_choice(faces, faces[:2], 0, 0.3, media="target x.jpg")
    near = [line for line in choice.warnings if "close to reference_face_distance" in line]
    assert near == [
        "the face at [20, 0, 30, 10] is 0.290 from the reference, close to "
        "reference_face_distance 0.3: taken"
    ]
    assert choice.document()["distances"] == [0.0, 0.29, 0.6]


def test_index_choice_on_one_face_is_plain():
    face = _face((0, 0, 10, 10), None)
    choice = index_choice([face], [face], 0, media="target x.jpg")
    assert not choice.ambiguous and choice.document()["chosen"] == [[0, 0, 10, 10]]
