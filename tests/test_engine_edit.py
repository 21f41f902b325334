"""The builtin face editor on the real sample photos, measured on the output's own landmarks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ffpipe.catalog.edit import FACE_EDITOR_MODELS, Editing
from ffpipe.catalog.ops import EditParams
from ffpipe.engine.api import UnsupportedError
from ffpipe.engine.builtin.edit import GEOMETRY_FIELDS, check_supported, edit_face
from ffpipe.engine.builtin.edit_landmarks import face_frame
from ffpipe.engine.builtin.edit_scope import EDITOR_METHOD, UNSUPPORTED
from ffpipe.engine.builtin.faces import Face, detect_faces, embedding_distance

MEDIA = Path(__file__).resolve().parent.parent / "media"


def _photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(MEDIA / name).convert("RGB"))


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, Face]:
    image = _photo("astronaut.jpg")
    (face,) = detect_faces(image)
    return image, face


def _edit(astronaut: tuple[np.ndarray, Face], **values: Any) -> np.ndarray:
    image, face = astronaut
    return edit_face(image, face, Editing(**values))


def _face_in(image: np.ndarray, near: Face) -> Face:
    """The face of ``image`` nearest to where ``near`` was (a low threshold: edits cost score)."""
    faces = detect_faces(image, score=0.3)
    assert faces, "no face found in the edited image"
    return min(faces, key=lambda f: np.hypot(*np.subtract(f.center, near.center)))


def _before_and_after(
    astronaut: tuple[np.ndarray, Face], measure: Callable[[np.ndarray], float], **values: Any
) -> tuple[float, float]:
    """``measure`` of the landmarks found, the same way, in the photo and in its edit."""
    image, face = astronaut
    before = measure(_face_in(image, face).landmarks)
    return before, measure(_face_in(_edit(astronaut, **values), face).landmarks)


def _mouth_gap(landmarks: np.ndarray) -> float:
    return float((landmarks[[67, 66, 65], 1] - landmarks[[61, 62, 63], 1]).mean())


def _eye_line_degrees(landmarks: np.ndarray) -> float:
    left, right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


def _eye_opening(landmarks: np.ndarray) -> float:
    """Mean lid gap over eye width of both eyes (the eye aspect ratio)."""
    gaps = landmarks[[41, 40, 47, 46], 1] - landmarks[[37, 38, 43, 44], 1]
    widths = np.hypot(*(landmarks[[39, 45]] - landmarks[[36, 42]]).T)
    return float(gaps.mean() / widths.mean())


def _corner_lift(landmarks: np.ndarray) -> float:
    """How far the mouth corners sit above the middle of the lips (pixels, up is positive)."""
    return float(landmarks[[61, 62, 63, 65, 66, 67], 1].mean() - landmarks[[48, 54], 1].mean())


def _nose_width(landmarks: np.ndarray) -> float:
    return float(np.hypot(*(landmarks[35] - landmarks[31])))


def test_defaults_return_the_input_byte_for_byte(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    result = edit_face(image, face, Editing())
    assert result is not image
    assert result.dtype == np.uint8 and result.shape == image.shape
    assert result.tobytes() == image.tobytes()


def test_blend_zero_returns_the_input(astronaut: tuple[np.ndarray, Face]) -> None:
    result = _edit(astronaut, face_editor_blend=0.0, face_editor_head_roll=20.0, face_editor_age=90)
    assert result.tobytes() == astronaut[0].tobytes()


def test_the_op_parameter_model_is_accepted(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    params = EditParams(target_media="x.png", face_editor_mouth_smile=0.5)
    assert edit_face(image, face, params).tobytes() != image.tobytes()


def test_lip_open_ratio_opens_and_closes_the_mouth(astronaut: tuple[np.ndarray, Face]) -> None:
    before, opened = _before_and_after(astronaut, _mouth_gap, face_editor_lip_open_ratio=1.5)
    _, closed = _before_and_after(astronaut, _mouth_gap, face_editor_lip_open_ratio=0.5)
    assert opened > before + 1.5
    assert closed < before - 1.0


@pytest.mark.parametrize("degrees", [15.0, -15.0])
def test_head_roll_turns_the_eye_line(astronaut: tuple[np.ndarray, Face], degrees: float) -> None:
    before, after = _before_and_after(astronaut, _eye_line_degrees, face_editor_head_roll=degrees)
    assert after - before == pytest.approx(degrees, abs=3.0)


def test_eye_open_ratio_opens_the_eyes(astronaut: tuple[np.ndarray, Face]) -> None:
    before, after = _before_and_after(astronaut, _eye_opening, face_editor_eye_open_ratio=1.5)
    assert after > before * 1.06


def test_smile_raises_the_mouth_corners(astronaut: tuple[np.ndarray, Face]) -> None:
    before, after = _before_and_after(astronaut, _corner_lift, face_editor_mouth_smile=1.0)
    assert after > before + 1.5


def test_grimace_lowers_the_mouth_corners(astronaut: tuple[np.ndarray, Face]) -> None:
    before, after = _before_and_after(astronaut, _corner_lift, face_editor_mouth_grim=-1.0)
    assert after < before - 1.5


def _lift_in_eye_distances(landmarks: np.ndarray) -> float:
    """Corner lift measured along the face's own up direction, in eye distances (any tilt)."""
    frame = face_frame(landmarks)
    local = frame.to_local(np.asarray(landmarks, dtype=np.float64))
    return float(local[[61, 62, 63, 65, 66, 67], 1].mean() - local[[48, 54], 1].mean())


def _tilted(image: np.ndarray, degrees: float) -> tuple[np.ndarray, Face]:
    import cv2

    height, width = image.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    rotated = cv2.warpAffine(image, turn, (width, height), borderMode=cv2.BORDER_REFLECT)
    face = _clearest_face(rotated)
    return rotated, face


@pytest.mark.slow
@pytest.mark.parametrize("degrees", [0.0, 12.0, -8.0])
def test_a_grimace_turns_a_broad_smile_down(
    astronaut: tuple[np.ndarray, Face], degrees: float
) -> None:
    # The catalog's range is grimace (-1) to smile (+1): negative grim turns the mouth down.
    picture = _tilted(astronaut[0], degrees) if degrees else astronaut
    smiling = _lift_in_eye_distances(_face_in(picture[0], picture[1]).landmarks)
    assert smiling > 0.1  # the astronaut smiles broadly: corners well above the lips' middle
    grim = _lift_in_eye_distances(
        _face_in(_edit(picture, face_editor_mouth_grim=-0.8), picture[1]).landmarks
    )
    assert grim < smiling - 0.1
    assert grim < 0.06
    widened = _lift_in_eye_distances(
        _face_in(_edit(picture, face_editor_mouth_grim=0.8), picture[1]).landmarks
    )
    assert widened > smiling - 0.01


@pytest.mark.slow
def test_nose_width_widens_the_nose(astronaut: tuple[np.ndarray, Face]) -> None:
    before, after = _before_and_after(astronaut, _nose_width, face_editor_nose_width=1.5)
    assert after > before * 1.05


def test_moderate_edits_keep_the_face_and_its_identity(
    astronaut: tuple[np.ndarray, Face],
) -> None:
    edited = _edit(
        astronaut,
        face_editor_mouth_smile=0.4,
        face_editor_eye_open_ratio=1.2,
        face_editor_eyebrow_direction="up",
        face_editor_head_yaw=8.0,
        face_editor_nose_width=1.2,
        face_editor_lip_size=1.1,
    )
    faces = detect_faces(edited, score=0.3)
    assert len(faces) == 1
    assert embedding_distance(faces[0].embedding, astronaut[1].embedding) < 0.5


def _changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero((before != after).any(axis=2))
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


NON_DEFAULT = {
    "face_editor_eyebrow_direction": "down",
    "face_editor_eye_gaze": "right",
    "face_editor_eye_open_ratio": 0.5,
    "face_editor_lip_open_ratio": 1.8,
    "face_editor_mouth_grim": 0.7,
    "face_editor_mouth_pout": 1.0,
    "face_editor_mouth_purse": 1.0,
    "face_editor_mouth_smile": 0.6,
    "face_editor_mouth_position": -0.5,
    "face_editor_head_pitch": -12.0,
    "face_editor_head_yaw": 15.0,
    "face_editor_head_roll": 8.0,
    "face_editor_face_shape": 1.0,
    "face_editor_nose_length": 1.6,
    "face_editor_nose_width": 0.6,
    "face_editor_eye_distance": 1.5,
    "face_editor_eye_size": 1.5,
    "face_editor_lip_size": 0.6,
}


def test_every_geometric_control_is_exercised() -> None:
    assert set(NON_DEFAULT) == set(GEOMETRY_FIELDS)


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_each_control_changes_only_the_head(astronaut: tuple[np.ndarray, Face], name: str) -> None:
    image, face = astronaut
    edited = _edit(astronaut, **{name: NON_DEFAULT[name]})
    box = _changed_box(image, edited)
    assert box is not None, f"{name} changed nothing"
    # Within two face widths of the face box; the far background is untouched.
    left, top, right, bottom = face.box
    reach = 2 * (right - left)
    assert box[0] >= left - reach and box[2] <= right + reach
    assert box[1] >= top - reach and box[3] <= bottom + reach
    assert edited[400:, :80].tobytes() == image[400:, :80].tobytes()


@pytest.mark.slow
def test_half_blend_moves_half_way(astronaut: tuple[np.ndarray, Face]) -> None:
    before, full = _before_and_after(astronaut, _mouth_gap, face_editor_lip_open_ratio=2.0)
    _, half = _before_and_after(
        astronaut, _mouth_gap, face_editor_lip_open_ratio=2.0, face_editor_blend=0.5
    )
    assert before + 1.0 < half < full - 1.0


def test_editing_is_deterministic_and_leaves_the_input_alone(
    astronaut: tuple[np.ndarray, Face],
) -> None:
    image, _ = astronaut
    pristine = image.copy()
    values = {
        "face_editor_head_roll": 10.0,
        "face_editor_age": 70,
        "face_editor_hair_color": "#3060c0",
    }
    first, second = _edit(astronaut, **values), _edit(astronaut, **values)
    assert first.tobytes() == second.tobytes()
    assert image.tobytes() == pristine.tobytes()


def test_only_the_given_face_changes_in_a_collage() -> None:
    # Side by side, cropped around each face so the detector works at full resolution.
    collage = np.zeros((600, 760, 3), dtype=np.uint8)
    collage[:512, :380] = _photo("astronaut.jpg")[:, 30:410]
    collage[:, 380:] = _photo("grace_hopper.jpg")[:, 80:460]
    faces = detect_faces(collage)
    assert len(faces) == 2
    edited = edit_face(collage, faces[1], Editing(face_editor_mouth_smile=1.0, face_editor_age=80))
    left_face = faces[0].box
    untouched = (slice(0, 300), slice(0, left_face[2] + 20))
    assert edited[untouched].tobytes() == collage[untouched].tobytes()
    assert edited[:, 380:].tobytes() != collage[:, 380:].tobytes()


def test_hair_style_is_refused_by_name(astronaut: tuple[np.ndarray, Face]) -> None:
    assert "face_editor_hair_style" in UNSUPPORTED
    with pytest.raises(UnsupportedError, match="face_editor_hair_style"):
        check_supported(Editing(face_editor_hair_style=3))
    with pytest.raises(UnsupportedError, match="face_editor_hair_style"):
        _edit(astronaut, face_editor_hair_style=0)
    check_supported(Editing(face_editor_hair_color="#000000"))


def test_every_editor_model_has_a_described_stand_in() -> None:
    assert set(EDITOR_METHOD) == set(FACE_EDITOR_MODELS)
    assert all(description.strip() for description in EDITOR_METHOD.values())


def test_a_frame_that_is_not_8_bit_rgb_is_refused(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    with pytest.raises(ValueError, match="8-bit RGB"):
        edit_face(image.astype(np.uint16), face, Editing(face_editor_mouth_smile=1.0))
    with pytest.raises(ValueError, match="8-bit RGB"):
        edit_face(image[:, :, 0], face, Editing(face_editor_mouth_smile=1.0))


def test_a_face_at_the_picture_edge_is_edited(astronaut: tuple[np.ndarray, Face]) -> None:
    # Cropped so the head touches the top and left borders: the warp region is clipped.
    image = np.ascontiguousarray(astronaut[0][60:, 170:])
    face = _clearest_face(image)
    result = edit_face(image, face, Editing(face_editor_head_roll=12.0, face_editor_age=70))
    assert result.shape == image.shape
    assert result.tobytes() != image.tobytes()


_ANY_EDIT = st.fixed_dictionaries(
    {
        "face_editor_eyebrow_direction": st.sampled_from(["up", "down", "neutral"]),
        "face_editor_eye_gaze": st.sampled_from(["left", "right", "up", "down", "center"]),
        "face_editor_eye_open_ratio": st.floats(0.0, 2.0),
        "face_editor_lip_open_ratio": st.floats(0.0, 2.0),
        "face_editor_mouth_grim": st.floats(-1.0, 1.0),
        "face_editor_mouth_pout": st.floats(0.0, 1.0),
        "face_editor_mouth_purse": st.floats(0.0, 1.0),
        "face_editor_mouth_smile": st.floats(0.0, 1.0),
        "face_editor_mouth_position": st.floats(-1.0, 1.0),
        "face_editor_head_pitch": st.floats(-30.0, 30.0),
        "face_editor_head_yaw": st.floats(-30.0, 30.0),
        "face_editor_head_roll": st.floats(-30.0, 30.0),
        "face_editor_face_shape": st.floats(0.0, 1.0),
        "face_editor_nose_length": st.floats(0.0, 2.0),
        "face_editor_nose_width": st.floats(0.0, 2.0),
        "face_editor_eye_distance": st.floats(0.0, 2.0),
        "face_editor_eye_size": st.floats(0.0, 2.0),
        "face_editor_lip_size": st.floats(0.0, 2.0),
        "face_editor_age": st.none() | st.integers(0, 100),
        "face_editor_hair_color": st.none() | st.sampled_from(["#000000", "#ffffff", "#a05020"]),
        "face_editor_blend": st.floats(0.0, 1.0),
    }
)


@pytest.mark.slow
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=_ANY_EDIT)
def test_any_valid_edit_keeps_the_frame_and_the_far_background(
    astronaut: tuple[np.ndarray, Face], values: dict[str, Any]
) -> None:
    image, face = astronaut
    result = edit_face(image, face, Editing(**values))
    assert result.shape == image.shape and result.dtype == np.uint8
    assert result[330:].tobytes() == image[330:].tobytes()
    assert result[:, :60].tobytes() == image[:, :60].tobytes()
    assert result[:, 450:].tobytes() == image[:, 450:].tobytes()


def _clearest_face(image: np.ndarray) -> Face:
    """The best-scoring face: a turned, scaled copy can also show a face-like patch (the suit's
    mission patch scores near the threshold), which the edits under test do not concern."""
    faces = detect_faces(image, score=0.3)
    assert faces, "no face found"
    return max(faces, key=lambda face: face.score)
