"""The frame pipeline on collages of the sample faces: selection, masks, threads, determinism."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ffpipe.catalog.ops import SwapParams
from ffpipe.engine.api import EngineError, FaceNotFoundError
from ffpipe.engine.builtin.faces import detect_faces
from ffpipe.engine.builtin.frames import FramePipeline
from ffpipe.engine.builtin.masks import mask_box

pytestmark = pytest.mark.slow  # videos through the engine end to end

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


def _swap(**changes) -> SwapParams:
    values = {"source_face": str(GRACE), "target_media": "collage.png"}
    values.update(changes)
    return SwapParams(**values)


@pytest.fixture(scope="module")
def picture(collage):
    return collage()


@pytest.fixture(scope="module")
def boxes(picture):
    faces = detect_faces(picture, with_embeddings=False)
    assert len(faces) == 3
    return [mask_box(picture.shape[:2], face, (0, 0, 0, 0)) for face in faces]


def _changed_faces(before, after, boxes):
    changed = np.any(before != after, axis=2)
    return [bool(changed[t:b, max(left, 0) : r].any()) for left, t, r, b in boxes]


def _outside(boxes, shape):
    keep = np.ones(shape[:2], dtype=bool)
    for left, top, right, bottom in boxes:
        keep[max(top, 0) : bottom, max(left, 0) : right] = False
    return keep


def test_only_the_indexed_face_changes(picture, boxes):
    pipeline = FramePipeline([("swap", _swap(target_face_index=2))], require_faces=True)
    out, report = pipeline.apply(picture, 0)
    assert report.faces_detected == 3 and report.faces_processed == 1
    assert _changed_faces(picture, out, boxes) == [False, False, True]
    outside = _outside(boxes[2:], picture.shape)
    assert np.array_equal(out[outside], picture[outside])


def test_reference_selects_the_same_person_everywhere(picture, boxes):
    pipeline = FramePipeline([("swap", _swap())], require_faces=True)
    pipeline.set_reference(picture)
    out, report = pipeline.apply(picture, 0)
    assert report.faces_processed == 2
    assert _changed_faces(picture, out, boxes) == [True, False, True]


def test_reference_distance_one_takes_every_face(picture, boxes):
    pipeline = FramePipeline([("swap", _swap(reference_face_distance=1.0))], require_faces=True)
    pipeline.set_reference(picture)
    out, report = pipeline.apply(picture, 0)
    assert report.faces_processed == 3
    assert _changed_faces(picture, out, boxes) == [True, True, True]


def test_reference_from_another_frame_tracks_by_embedding(picture, boxes):
    # The reference is Grace (position 1 of the collage); a new frame shows her elsewhere.
    pipeline = FramePipeline(
        [("swap", _swap(source_face=str(ASTRONAUT), reference_face_position=1))],
        reference_frame=picture,
    )
    moved = np.ascontiguousarray(picture[:, ::-1])
    out, report = pipeline.apply(moved, 5)
    assert report.faces_processed == 1
    mirrored_boxes = [
        (picture.shape[1] - r, t, picture.shape[1] - left, b) for left, t, r, b in boxes
    ]
    assert _changed_faces(moved, out, mirrored_boxes) == [False, True, False]


def test_queue_count_does_not_change_the_bytes(picture):
    single = FramePipeline([("swap", _swap(target_face_index=None))], reference_frame=picture)
    double = FramePipeline(
        [("swap", _swap(execution_queue_count=3, reference_face_distance=1.0))],
        reference_frame=picture,
    )
    every = FramePipeline([("swap", _swap(reference_face_distance=1.0))], reference_frame=picture)
    assert np.array_equal(double(picture, 0), every(picture, 0))
    assert not np.array_equal(single(picture, 0), every(picture, 0))


def test_frames_in_parallel_match_frames_in_sequence(picture):
    frames = [np.ascontiguousarray(np.roll(picture, shift, axis=1)) for shift in (0, 9, 23)]
    pipeline = FramePipeline([("swap", _swap(face_detector_score=0.35))], reference_frame=frames[0])
    sequential = [pipeline.apply(frame, index) for index, frame in enumerate(frames)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(pipeline, frames, range(len(frames))))
    for (first, report), second in zip(sequential, parallel, strict=True):
        assert report.faces_processed == 2
        assert np.array_equal(first, second)
    assert pipeline.faces_processed == 2 * 2 * len(frames)


def test_frames_without_faces_pass_through_for_video():
    pipeline = FramePipeline([("swap", _swap())])
    blank = np.full((120, 160, 3), 90, dtype=np.uint8)
    out, report = pipeline.apply(blank, 3)
    assert out is blank and report == type(report)(faces_detected=0, faces_processed=0)


def test_images_without_a_face_name_the_file_and_threshold():
    pipeline = FramePipeline([("swap", _swap())], require_faces=True, target_name="target a.png")
    blank = np.full((120, 160, 3), 90, dtype=np.uint8)
    with pytest.raises(
        FaceNotFoundError,
        match=r"no face found in target a\.png at "
        r"face_detector_score 0\.5",
    ):
        pipeline.apply(blank, 0)


def test_target_index_out_of_range(picture):
    pipeline = FramePipeline(
        [("swap", _swap(target_face_index=5))], require_faces=True, target_name="target c.png"
    )
    with pytest.raises(
        FaceNotFoundError, match=r"target c\.png has 3 faces, index 5 was requested"
    ):
        pipeline.apply(picture, 0)


def test_source_without_a_face_names_the_file(tmp_path, write_rgb):
    blank = write_rgb(tmp_path / "wall.png", np.full((100, 100, 3), 200, dtype=np.uint8))
    with pytest.raises(
        FaceNotFoundError,
        match=r"no face found in source_face wall\.png at face_detector_score 0\.7",
    ):
        FramePipeline([("swap", _swap(source_face=str(blank), face_detector_score=0.7))])


def test_source_index_out_of_range():
    with pytest.raises(FaceNotFoundError, match=r"grace_hopper\.jpg has 1 face, index 1"):
        FramePipeline([("swap", _swap(source_face_index=1))])


def test_region_mask_outside_the_image_is_an_error_for_images(photo):
    # A polygon to the right of the face box; the astronaut photo's face box ends inside the
    # image, so a polygon spanning x 3.0-4.0 box widths falls outside the 512-pixel image.
    image = photo(ASTRONAUT)
    params = _swap(
        face_mask_types=["region"],
        face_mask_regions=[[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]],
        face_mask_padding=(0, 0, 0, 0),
    )
    FramePipeline([("swap", params)], require_faces=True).apply(image, 0)
    far = _swap(
        face_mask_types=["region"],
        face_mask_padding=(600, 0, 0, 0),
        face_mask_regions=[[(0.0, 0.0), (1.0, 0.0), (1.0, 0.05)]],
    )
    with pytest.raises(EngineError, match="face_mask_regions polygons fall outside the image"):
        FramePipeline([("swap", far)], require_faces=True).apply(image, 0)


def test_unknown_ops_are_refused():
    with pytest.raises(ValueError, match="not a per-frame op"):
        FramePipeline([("detect", _swap())])


def test_without_a_reference_frame_the_first_frame_with_the_face_sets_it(picture, boxes):
    pipeline = FramePipeline([("swap", _swap())])
    blank = np.full(picture.shape, 90, dtype=np.uint8)
    assert pipeline(blank, 0) is blank
    out, report = pipeline.apply(picture, 1)
    assert report.faces_processed == 2
    assert _changed_faces(picture, out, boxes) == [True, False, True]
