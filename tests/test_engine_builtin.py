"""The builtin engine end to end on real files: outputs, errors users see, capabilities."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ffpipe.catalog import OPS
from ffpipe.catalog.edit import FACE_EDITOR_MODELS
from ffpipe.catalog.enhance import FACE_ENHANCER_MODELS
from ffpipe.catalog.swap import FACE_DETECTOR_MODELS, FACE_LANDMARKER_MODELS, FACE_SWAPPER_MODELS
from ffpipe.engine import RunContext
from ffpipe.engine.api import EngineError, FaceNotFoundError, MediaError, UnsupportedError
from ffpipe.engine.builtin import BuiltinEngine
from ffpipe.engine.builtin.faces import detect_faces
from ffpipe.engine.builtin.masks import mask_box
from ffpipe.media import sniff_file, type_of_name

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def engine():
    return BuiltinEngine()


def _swap(engine, tmp_path, **params):
    values = {"source_face": str(GRACE), "target_media": str(ASTRONAUT)}
    values.update(params)
    return engine.run("swap", values, RunContext(tmp_path / "out"))


def _outside(shape, box):
    keep = np.ones(shape[:2], dtype=bool)
    left, top, right, bottom = box
    keep[max(top, 0) : bottom, max(left, 0) : right] = False
    return keep


def test_swap_writes_the_target_name_and_reports(engine, tmp_path, read_rgb):
    output = _swap(engine, tmp_path)
    path = output.files["output"]
    assert path == tmp_path / "out" / "astronaut.jpg"
    assert output.result["faces_processed"] == 1
    assert output.result["faces_detected"] == 1
    used = {entry["parameter"]: entry["requested"] for entry in output.result["substitutions"]}
    assert used == {
        "face_detector_model": "retinaface",
        "face_landmarker_model": "2dfan4",
        "face_swapper_model": "inswapper_128",
    }
    assert read_rgb(path).shape == (512, 512, 3)


@pytest.mark.parametrize(
    ("name", "encoded_as", "expected"),
    [("blob", ".png", "blob.png"), ("photo.jpg", ".png", "photo.png"), ("x.bmp", ".jpg", "x.jpg")],
)
def test_the_default_output_name_follows_the_target_content(
    engine, tmp_path, name, encoded_as, expected
):
    target = tmp_path / name
    target.write_bytes(cv2.imencode(encoded_as, cv2.imread(str(ASTRONAUT)))[1].tobytes())
    output = _swap(engine, tmp_path, target_media=str(target))
    assert output.files["output"].name == expected
    assert sniff_file(output.files["output"]) == type_of_name(expected)


def test_nothing_moves_outside_the_mask_in_png(engine, tmp_path, read_rgb, photo):
    output = _swap(engine, tmp_path, output_path="swapped.png", face_mask_padding=(4, 4, 4, 4))
    result = read_rgb(output.files["output"])
    face = detect_faces(photo(ASTRONAUT), with_embeddings=False)[0]
    outside = _outside(result.shape, mask_box(result.shape[:2], face, (4, 4, 4, 4)))
    assert np.array_equal(result[outside], photo(ASTRONAUT)[outside])
    assert not np.array_equal(result[~outside], photo(ASTRONAUT)[~outside])


def test_identical_runs_give_identical_bytes(engine, tmp_path):
    first = _swap(engine, tmp_path / "a", execution_thread_count=1).files["output"].read_bytes()
    second = _swap(engine, tmp_path / "b", execution_thread_count=2).files["output"].read_bytes()
    assert first == second


@pytest.mark.slow
def test_output_resolution_quality_and_format(engine, tmp_path, read_rgb):
    small = _swap(engine, tmp_path, output_path="s.webp", output_image_resolution="200x150")
    assert small.result["format"] == "WEBP"
    assert read_rgb(small.files["output"]).shape == (150, 200, 3)
    low = _swap(engine, tmp_path, output_path="low.jpg", output_image_quality=20)
    high = _swap(engine, tmp_path, output_path="high.jpg", output_image_quality=95)
    assert low.files["output"].stat().st_size < high.files["output"].stat().st_size
    with pytest.raises(UnsupportedError, match="image outputs end in"):
        _swap(engine, tmp_path, output_path="out.gif")


def test_output_never_overwrites_the_target(engine, tmp_path, write_rgb, photo):
    (tmp_path / "out").mkdir()
    target = write_rgb(tmp_path / "out" / "t.png", photo(ASTRONAUT))
    with pytest.raises(EngineError, match="would overwrite the target"):
        _swap(engine, tmp_path, target_media=str(target))


def test_strict_models_refuses_substitutions(tmp_path):
    with pytest.raises(UnsupportedError, match="face_swapper_model=simswap_256"):
        _swap(BuiltinEngine(strict_models=True), tmp_path, face_swapper_model="simswap_256")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("face_detector_device", "cuda"),
        ("face_recognizer_device", "cuda"),
        ("face_enhancer_device", "cuda"),
        ("execution_device_id", "0"),
    ],
)
def test_gpu_devices_are_not_available(engine, tmp_path, field, value):
    with pytest.raises(UnsupportedError, match=f"{field} .*builtin engine"):
        _swap(engine, tmp_path, **{field: value})


def test_no_face_in_the_target_names_file_and_threshold(engine, tmp_path, write_rgb):
    wall = write_rgb(tmp_path / "wall.png", np.full((200, 200, 3), 128, dtype=np.uint8))
    with pytest.raises(
        FaceNotFoundError,
        match=r"no face found in target_media wall\.png at face_detector_score 0\.5",
    ):
        _swap(engine, tmp_path, target_media=str(wall))


def test_target_index_out_of_range_says_how_many(engine, tmp_path, write_rgb, collage):
    group = write_rgb(tmp_path / "group.png", collage())
    with pytest.raises(FaceNotFoundError, match=r"group\.png has 3 faces, index 5 was requested"):
        _swap(engine, tmp_path, target_media=str(group), target_face_index=5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"GIF89a not really", "is not an image"),
        (ASTRONAUT.read_bytes()[:4000], "truncated or corrupt"),
    ],
)
def test_bad_target_files(engine, tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=message):
        _swap(engine, tmp_path, target_media=str(path))
    with pytest.raises(MediaError, match=message):
        _swap(engine, tmp_path, source_face=str(path))


@pytest.mark.parametrize("name", ["notes.txt", "broken.mp4"])
def test_a_target_that_is_no_media_is_a_media_error_whatever_its_name(engine, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    with pytest.raises(MediaError, match="is not an image"):
        engine.run("enhance", {"target_media": str(path)}, RunContext(tmp_path / "out"))


def test_too_large_target_is_refused(tmp_path):
    with pytest.raises(MediaError, match=r"astronaut\.jpg is 512x512 .*the limit is 0\.2"):
        _swap(BuiltinEngine(max_pixels=200_000), tmp_path)


def test_mislabelled_target_is_processed_by_content(engine, tmp_path, photo):
    png_named_jpg = tmp_path / "photo.jpg"
    cv2.imwrite(str(tmp_path / "x.png"), cv2.cvtColor(photo(ASTRONAUT), cv2.COLOR_RGB2BGR))
    png_named_jpg.write_bytes((tmp_path / "x.png").read_bytes())
    output = _swap(engine, tmp_path, target_media=str(png_named_jpg), output_path="r.png")
    assert output.result["faces_processed"] == 1


@pytest.mark.slow
def test_rgba_target_keeps_its_alpha(engine, tmp_path, photo):
    rgba = cv2.cvtColor(photo(ASTRONAUT), cv2.COLOR_RGB2BGRA)
    rgba[:, :, 3] = 180
    rgba[:40, :40, 3] = 0
    path = tmp_path / "alpha.png"
    cv2.imwrite(str(path), rgba)
    output = _swap(engine, tmp_path, target_media=str(path))
    written = cv2.imread(str(output.files["output"]), cv2.IMREAD_UNCHANGED)
    assert written.shape == (512, 512, 4)
    assert np.array_equal(written[:, :, 3], rgba[:, :, 3])
    assert not np.array_equal(written[:, :, :3], rgba[:, :, :3])
    dropped = _swap(engine, tmp_path, target_media=str(path), output_path="flat.jpg")
    assert "alpha channel was dropped" in dropped.result["warnings"][0]


@pytest.mark.slow
def test_grayscale_and_sixteen_bit_targets(engine, tmp_path, photo):
    gray_path = tmp_path / "gray.png"
    cv2.imwrite(str(gray_path), cv2.cvtColor(photo(ASTRONAUT), cv2.COLOR_RGB2GRAY))
    gray = _swap(engine, tmp_path, target_media=str(gray_path))
    written = cv2.imread(str(gray.files["output"]), cv2.IMREAD_UNCHANGED)
    assert written.ndim == 2 and gray.result["faces_processed"] == 1

    deep_path = tmp_path / "deep.png"
    deep = cv2.cvtColor(photo(ASTRONAUT), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257 + 3
    cv2.imwrite(str(deep_path), deep)
    output = _swap(engine, tmp_path, target_media=str(deep_path))
    written = cv2.imread(str(output.files["output"]), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16
    assert np.array_equal(written[:50], deep[:50])
    assert not np.array_equal(written, deep)


@pytest.mark.slow
def test_region_polygons_outside_the_image(engine, tmp_path):
    with pytest.raises(EngineError, match="polygons fall outside the image"):
        _swap(
            engine,
            tmp_path,
            face_mask_types=["region"],
            face_mask_padding=(0, 900, 0, 0),
            face_mask_regions=[[(0.9, 0.0), (1.0, 0.0), (1.0, 1.0)]],
        )
    inside = _swap(
        engine,
        tmp_path,
        face_mask_types=["region"],
        face_mask_regions=[[(0.0, 0.0), (2.0 / 3, 0.0), (2.0 / 3, 1.0)]],
    )
    assert inside.result["faces_processed"] == 1


@pytest.mark.slow
def test_detect_writes_faces_json(engine, tmp_path, write_rgb, collage):
    group = write_rgb(tmp_path / "group.png", collage())
    output = engine.run("detect", {"target_media": str(group)}, RunContext(tmp_path / "out"))
    document = json.loads(output.files["output"].read_text())
    assert output.files["output"].name == "faces.json"
    assert document["face_count"] == 3 == len(output.result["faces"])
    lefts = [face["box"][0] for face in document["faces"]]
    assert lefts == sorted(lefts)
    first = document["faces"][0]
    assert len(first["landmarks"]) == 68 and len(first["embedding"]) == 128
    assert {entry["parameter"] for entry in output.result["substitutions"]} == {
        "face_detector_model",
        "face_landmarker_model",
    }
    with pytest.raises(UnsupportedError, match=r"must end in \.json"):
        engine.run(
            "detect",
            {"target_media": str(group), "output_path": "faces.jpg"},
            RunContext(tmp_path / "out"),
        )


def test_unknown_op_and_dict_validation(engine, tmp_path):
    with pytest.raises(UnsupportedError, match="unknown op 'blur'"):
        engine.run("blur", {}, RunContext(tmp_path))
    with pytest.raises(ValueError, match="face_mask_blur"):
        engine.run(
            "swap",
            {"source_face": "a", "target_media": "b", "face_mask_blur": 3},
            RunContext(tmp_path),
        )


def test_capabilities_cover_every_catalog_model(engine):
    capabilities = engine.capabilities()
    assert capabilities["engine"] == "builtin" and capabilities["version"] == engine.version
    assert capabilities["ops"] == list(OPS)
    assert capabilities["devices"] == ["cpu"]
    assert capabilities["limits"]["max_pixels"] == 50_000_000
    expected = {
        "face_detector_model": FACE_DETECTOR_MODELS,
        "face_landmarker_model": FACE_LANDMARKER_MODELS,
        "face_swapper_model": FACE_SWAPPER_MODELS,
        "face_enhancer_model": FACE_ENHANCER_MODELS,
        "face_editor_model": FACE_EDITOR_MODELS,
    }
    for parameter, names in expected.items():
        assert set(capabilities["models"][parameter]) == set(names)
        for name in names:
            entry = capabilities["models"][parameter][name]
            exact = (parameter, name) == ("face_detector_model", "yunet")
            assert entry["status"] == ("exact" if exact else "substituted") and entry["used"]
    assert set(capabilities["encoders"]) <= {"libx264", "libx265", "libvpx-vp9"}
    assert capabilities["encoders"]
    json.dumps(capabilities)


def _eye_line_degrees(landmarks: np.ndarray) -> float:
    left, right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


def _mouth_gap(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[66] - landmarks[62]))


@pytest.fixture
def edit(engine, tmp_path, read_rgb):
    """``edit(**params)``: the astronaut edited, as pixels, and the engine's output."""

    def run(**params):
        values = {"target_media": str(ASTRONAUT), "output_path": "edited.png"}
        values.update(params)
        output = engine.run("edit", values, RunContext(tmp_path / "out"))
        return read_rgb(output.files["output"]), output

    return run


def test_lip_open_ratio_opens_the_mouth(engine, tmp_path, photo, edit):
    before = detect_faces(photo(ASTRONAUT), with_embeddings=False)[0]
    edited, output = edit(face_editor_lip_open_ratio=1.5)
    after = detect_faces(edited, score=0.3, with_embeddings=False)[0]
    assert output.result["faces_processed"] == 1
    assert _mouth_gap(after.landmarks) > _mouth_gap(before.landmarks) + 1.5


def test_head_roll_turns_the_eye_line_and_nothing_beyond_the_grown_mask(
    engine, tmp_path, photo, edit
):
    from ffpipe.engine.builtin.frames import EDIT_MASK_EXPAND

    before = detect_faces(photo(ASTRONAUT), with_embeddings=False)[0]
    edited, _ = edit(face_editor_head_roll=15.0)
    after = detect_faces(edited, score=0.3, with_embeddings=False)[0]
    turned = abs(_eye_line_degrees(after.landmarks) - _eye_line_degrees(before.landmarks))
    assert turned == pytest.approx(15.0, abs=4.0)
    box = mask_box(edited.shape[:2], before, (0, 0, 0, 0), EDIT_MASK_EXPAND)
    outside = _outside(edited.shape, box)
    assert np.array_equal(edited[outside], photo(ASTRONAUT)[outside])


def test_hair_style_is_refused_clearly(engine, tmp_path, edit):
    with pytest.raises(UnsupportedError, match="face_editor_hair_style"):
        edit(face_editor_hair_style=3)
    assert "face_editor_hair_style" in engine.capabilities()["unsupported"]


@pytest.mark.slow
def test_enhancer_blend_zero_returns_the_input(engine, tmp_path, read_rgb, photo):
    output = engine.run(
        "enhance",
        {"target_media": str(ASTRONAUT), "output_path": "e.png", "face_enhancer_blend": 0.0},
        RunContext(tmp_path / "out"),
    )
    assert np.array_equal(read_rgb(output.files["output"]), photo(ASTRONAUT))
    stronger = engine.run(
        "enhance",
        {"target_media": str(ASTRONAUT), "output_path": "f.png", "face_enhancer_blend": 1.0},
        RunContext(tmp_path / "out"),
    )
    assert not np.array_equal(read_rgb(stronger.files["output"]), photo(ASTRONAUT))


def test_process_chains_swap_enhance_and_edit(engine, tmp_path, read_rgb):
    values = {
        "source_face": str(GRACE),
        "target_media": str(ASTRONAUT),
        "output_path": "p.png",
        "processors": ["swap", "enhance", "edit"],
        "face_editor_mouth_smile": 0.5,
    }
    output = engine.run("process", values, RunContext(tmp_path / "out"))
    used = [entry["parameter"] for entry in output.result["substitutions"]]
    assert used == [
        "face_detector_model",
        "face_landmarker_model",
        "face_swapper_model",
        "face_enhancer_model",
        "face_editor_model",
    ]
    swapped_only = _swap(engine, tmp_path, output_path="s.png")
    assert not np.array_equal(
        read_rgb(output.files["output"]), read_rgb(swapped_only.files["output"])
    )
    with pytest.raises(EngineError, match="needs a source_face"):
        engine.run(
            "process",
            {"target_media": str(ASTRONAUT), "processors": ["swap"]},
            RunContext(tmp_path / "out"),
        )


@pytest.fixture
def pan_video(photo):
    """``pan_video(path, frames=4)``: a short clip panning over the astronaut."""
    return functools.partial(_pan_video, photo(ASTRONAUT))


def _pan_video(picture, path, frames: int = 4):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for number in range(frames):
            crop = picture[40 + 3 * number : 296 + 3 * number, 90 + 4 * number : 346 + 4 * number]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(crop), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.slow
def test_video_targets_go_through_the_video_module(engine, tmp_path, pan_video):
    pytest.importorskip("ffpipe.engine.builtin.video")
    video = pan_video(tmp_path / "pan.mp4")
    output = engine.run(
        "swap",
        {"source_face": str(GRACE), "target_media": str(video), "output_path": "swapped.mp4"},
        RunContext(tmp_path / "out"),
    )
    assert output.files["output"].stat().st_size > 0
    assert output.result["faces_processed"] == 4
    assert output.result["frames_out"] == 4
    assert output.result["substitutions"]
    from_video = _swap(engine, tmp_path, source_face=str(video), output_path="v.png")
    assert from_video.result["faces_processed"] == 1
    with pytest.raises(UnsupportedError, match="detect works on images"):
        engine.run("detect", {"target_media": str(video)}, RunContext(tmp_path / "out"))
