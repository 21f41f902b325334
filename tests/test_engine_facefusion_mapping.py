"""The catalog -> FaceFusion 3.8.1 mapping, without FaceFusion: table, arguments, refusals.

That FaceFusion's own parser accepts these arguments is tested with a real checkout in
test_engine_facefusion.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.backends.base import BackendIdentity
from ffpipe.catalog import OPS
from ffpipe.engine.facefusion import arguments as ff_args
from ffpipe.engine.facefusion.arguments import files_for, processed_faces
from ffpipe.engine.facefusion.checkout import CheckoutError, open_checkout
from ffpipe.engine.facefusion.models import ModelFiles
from ffpipe.engine.facefusion.table import EMULATED, EXACT, REFUSED, TABLE, markdown_table

PROVIDERS = ["cpu"]
ENCODERS = ["libx264", "libx265", "libvpx-vp9"]
FACE = {"box": [100.0, 80.0, 200.0, 200.0], "age": [30, 39], "embedding": [1.0, 0.0]}
OTHER = {"box": [300.0, 80.0, 380.0, 180.0], "age": [60, 69], "embedding": [0.0, 1.0]}
IMAGE = ff_args.Target(is_video=False, width=640, height=480, faces=[FACE, OTHER])
VIDEO = ff_args.Target(is_video=True, width=640, height=360, faces=[FACE], reference_frame=3)


def params(op: str, **values: object) -> object:
    values.setdefault("target_media", "/in/target.jpg")
    if op == "swap":
        values.setdefault("source_face", "/in/source.jpg")
    return OPS[op].params.model_validate(values)


def call(op: str, target: ff_args.Target = IMAGE, **values: object) -> ff_args.Call:
    return ff_args.build_call(
        op, params(op, **values), target, source="/in/source.jpg", output="/out/x.jpg"
    )


def option(argv: list[str], flag: str) -> list[str]:
    """The values after ``flag`` up to the next option."""
    start = argv.index(flag) + 1
    flags = ("-s", "-t", "-o")
    end = next(
        (i for i in range(start, len(argv)) if argv[i].startswith("--") or argv[i] in flags),
        len(argv),
    )
    return argv[start:end]


def test_every_catalog_parameter_of_every_op_has_a_row() -> None:
    names = {name for spec in OPS.values() for name in spec.params.model_fields}
    assert names - TABLE.keys() == set()
    assert TABLE.keys() - names == set()
    for name, row in TABLE.items():
        assert row.status in (EXACT, EMULATED, REFUSED), name
        if row.status != EXACT:
            assert row.note, f"{name} is {row.status} without saying why"
    assert TABLE["face_mask_regions"].status == REFUSED
    assert TABLE["face_editor_hair_style"].status == REFUSED
    for emulated in (
        "source_face_index",
        "target_face_index",
        "face_enhancer_iterations",
        "output_image_resolution",
        "output_video_resolution",
        "skip_audio",
        "face_editor_age",
    ):
        assert TABLE[emulated].status == EMULATED, emulated
    assert markdown_table().count("\n") == len(TABLE) + 1


def test_swap_arguments_use_facefusion_flags_and_names() -> None:
    made = call(
        "swap",
        face_swapper_model="simswap_512_unofficial",
        face_swapper_pixel_boost="512",
        face_detector_model="yoloface",
        face_mask_types=["box", "occlusion"],
        reference_face_position=1,
    )
    argv = made.argv
    assert argv[0] == "headless-run"
    assert option(argv, "-s") == ["/in/source.jpg"]
    assert option(argv, "--processors") == ["face_swapper"]
    assert option(argv, "--face-swapper-model") == ["simswap_unofficial_512"]
    assert option(argv, "--face-swapper-pixel-boost") == ["512x512"]
    assert option(argv, "--face-detector-model") == ["yolo_face"]
    assert option(argv, "--face-mask-types") == ["box", "occlusion"]
    assert option(argv, "--face-selector-order") == ["left-right"]
    assert option(argv, "--reference-face-position") == ["1"]
    assert option(argv, "--video-memory-strategy") == ["tolerant"]
    assert "simswap_unofficial_512" in made.files and "crossface_simswap" in made.files
    assert made.emulated == []
    assert made.output_size == (640, 480)


def test_enhancer_iterations_repeat_the_processor_and_blend_becomes_percent() -> None:
    made = call("enhance", face_enhancer_iterations=3, face_enhancer_blend=0.35)
    assert option(made.argv, "--processors") == ["face_enhancer"] * 3
    assert option(made.argv, "--face-enhancer-blend") == ["35"]
    assert any("face_enhancer_iterations 3" in note for note in made.emulated)


def test_process_chains_processors_in_order_in_one_run() -> None:
    made = call(
        "process",
        source_face="/in/source.jpg",
        processors=["swap", "enhance", "edit"],
        face_enhancer_iterations=2,
        face_editor_mouth_smile=0.5,
        face_editor_age=60,
    )
    assert option(made.argv, "--processors") == [
        "face_swapper",
        "face_enhancer",
        "face_enhancer",
        "face_editor",
        "age_modifier",
    ]
    assert option(made.argv, "--face-editor-mouth-smile") == ["0.5"]


def test_values_off_facefusions_grid_are_rounded_and_said() -> None:
    made = call("enhance", face_detector_score=0.37, face_mask_blur=0.33)
    assert option(made.argv, "--face-detector-score") == ["0.35"]
    assert option(made.argv, "--face-mask-blur") == ["0.35"]
    assert any("face_detector_score 0.37 -> 0.35" in note for note in made.emulated)


def test_target_face_index_becomes_reference_mode_at_that_position() -> None:
    made = call("enhance", target_face_index=1)
    assert option(made.argv, "--face-selector-mode") == ["reference"]
    assert option(made.argv, "--reference-face-position") == ["1"]
    assert option(made.argv, "--reference-face-distance") == ["0.05"]
    assert any(note.startswith("target_face_index 1") for note in made.emulated)
    assert processed_faces(params("enhance", target_face_index=1), [FACE, OTHER]) == [1]
    assert processed_faces(params("enhance", reference_face_distance=1.0), [FACE, OTHER]) == [0, 1]


def test_age_direction_comes_from_facefusions_estimate_of_the_reference_face() -> None:
    older = call("edit", face_editor_age=70)
    assert option(older.argv, "--processors") == ["age_modifier"]
    assert option(older.argv, "--age-modifier-direction") == ["36"]
    younger = call("edit", face_editor_age=50, target_face_index=1)  # OTHER looks 64.5
    assert option(younger.argv, "--age-modifier-direction") == ["-14"]
    forced = call("edit", face_editor_age=20, face_editor_age_direction="older")
    assert option(forced.argv, "--age-modifier-direction") == ["14"]
    assert any("estimates the face at 34.5" in note for note in older.emulated)


def test_expression_controls_are_rescaled_onto_facefusions_scale() -> None:
    made = call(
        "edit",
        face_editor_eye_open_ratio=1.5,
        face_editor_eye_gaze="left",
        face_editor_eyebrow_direction="up",
        face_editor_head_yaw=30.0,
        face_editor_head_pitch=-30.0,
    )
    argv = made.argv
    assert option(argv, "--processors") == ["face_editor"]
    assert option(argv, "--face-editor-eye-open-ratio") == ["0.5"]
    assert option(argv, "--face-editor-eye-gaze-horizontal") == ["-1"]
    assert option(argv, "--face-editor-eyebrow-direction") == ["1"]
    assert option(argv, "--face-editor-head-yaw") == ["0.5"]
    assert option(argv, "--face-editor-head-pitch") == ["-1"]
    assert any("face_editor_head_pitch -30 degrees -> 20" in note for note in made.emulated)


def test_padding_in_pixels_becomes_percent_of_the_face_crop() -> None:
    made = call("swap", face_mask_padding=(30, 0, 15, 0))
    # The reference face box is 120 px high: its crop about 180 px.
    assert option(made.argv, "--face-mask-padding") == ["17", "0", "8", "0"]
    assert any("face_mask_padding" in note for note in made.emulated)


def test_output_image_resolution_scales_up_then_sizes_exactly() -> None:
    made = call("swap", output_image_resolution="1000x500")
    assert option(made.argv, "--output-image-scale") == ["1.75"]
    assert made.output_size == (1000, 500)


def test_video_arguments_trim_fps_audio_and_exact_scale() -> None:
    made = call(
        "swap",
        VIDEO,
        target_media="/in/clip.mp4",
        trim_frame_start=2,
        trim_frame_end=9,
        output_video_fps=12.5,
        skip_audio=True,
        output_video_resolution="320x180",
        output_video_encoder="libx265",
    )
    argv = made.argv
    assert option(argv, "--trim-frame-start") == ["2"]
    assert option(argv, "--trim-frame-end") == ["9"]
    assert option(argv, "--output-video-fps") == ["12.5"]
    assert option(argv, "--output-audio-volume") == ["0"]
    assert option(argv, "--output-video-scale") == ["0.5"]
    assert option(argv, "--output-video-encoder") == ["libx265"]
    assert option(argv, "--reference-frame-number") == ["3"]
    assert made.output_size is None
    assert any(note.startswith("skip_audio") for note in made.emulated)


def test_a_video_size_no_scale_reaches_is_refused_with_the_nearest() -> None:
    with pytest.raises(ValueError, match=r"output_video_resolution='500x300'.*nearest: 480x270"):
        call("swap", VIDEO, target_media="/in/clip.mp4", output_video_resolution="500x300")


@pytest.mark.parametrize(
    ("op", "values", "named"),
    [
        (
            "swap",
            {"face_mask_regions": [[[0.1, 0.1], [0.5, 0.1], [0.3, 0.4]]]},
            "face_mask_regions",
        ),
        ("edit", {"face_editor_hair_style": 4}, "face_editor_hair_style"),
        ("edit", {"face_editor_hair_color": "#112233"}, "face_editor_hair_color"),
        ("edit", {"face_editor_nose_length": 1.4}, "face_editor_nose_length"),
        ("edit", {"face_editor_model": "face_editor_v1"}, "face_editor_model"),
        ("swap", {"keep_temp": True}, "keep_temp"),
        ("swap", {"face_detector_size": "1280x1280"}, "face_detector_size"),
        ("swap", {"face_detector_model": "yoloface", "face_detector_size": "320x320"}, "yolo_face"),
        (
            "swap",
            {"face_swapper_model": "simswap_256", "face_swapper_pixel_boost": "128"},
            "pixel_boost",
        ),
        ("swap", {"face_enhancer_device": "cuda"}, "one set of execution providers"),
        ("swap", {"output_video_encoder": "h264_nvenc"}, "output_video_encoder"),
    ],
)
def test_what_facefusion_cannot_honour_is_refused_by_name(
    op: str, values: dict[str, object], named: str
) -> None:
    problems = ff_args.refusals(op, params(op, **values), providers=PROVIDERS, encoders=ENCODERS)
    assert any(named in problem for problem in problems), problems


def test_editor_blend_is_a_blended_pass_on_images_and_refused_on_videos() -> None:
    blended = params("process", processors=["enhance", "edit", "enhance"], face_editor_blend=0.5)
    assert ff_args.passes("process", blended, IMAGE) == [
        ["face_enhancer"],
        ["face_editor"],
        ["face_enhancer"],
    ]
    assert ff_args.passes("process", blended, VIDEO) == [
        ["face_enhancer", "face_editor", "face_enhancer"]
    ]
    edit = params("edit", face_editor_blend=0.5)
    on_image = ff_args.refusals("edit", edit, providers=PROVIDERS, encoders=ENCODERS)
    assert on_image == []
    on_video = ff_args.refusals(
        "edit", edit, providers=PROVIDERS, encoders=ENCODERS, target_is_video=True
    )
    assert any("face_editor_blend=0.5" in problem for problem in on_video)


def test_cuda_everywhere_needs_the_cuda_provider() -> None:
    cuda = {
        f"{kind}_device": "cuda" for kind in ("face_detector", "face_recognizer", "face_enhancer")
    }
    on_cpu = ff_args.refusals("swap", params("swap", **cuda), providers=["cpu"], encoders=ENCODERS)
    assert any("offers cpu" in problem for problem in on_cpu)
    on_gpu = ff_args.refusals(
        "swap", params("swap", **cuda), providers=["cuda", "cpu"], encoders=ENCODERS
    )
    assert on_gpu == []


def test_defaults_are_not_refused() -> None:
    for op in OPS:
        values: dict[str, object] = {"target_media": "/in/t.jpg"}
        if op in ("swap",):
            values["source_face"] = "/in/s.jpg"
        if op == "process":
            values["processors"] = ["enhance"]
        model = OPS[op].params.model_validate(values)
        assert ff_args.refusals(op, model, providers=PROVIDERS, encoders=ENCODERS) == [], op


def test_model_files_per_step_follow_the_models_it_names() -> None:
    swap = files_for("swap", params("swap", face_swapper_model="inswapper_128"))
    assert "inswapper_128" in swap and "gfpgan_1.4" not in swap
    assert {"nsfw_1", "fan_68_5", "arcface_w600k_r50", "retinaface_10g"} <= set(swap)
    enhance = files_for("enhance", params("enhance", face_enhancer_model="codeformer"))
    assert "codeformer" in enhance and "inswapper_128" not in enhance
    detect = files_for("detect", params("detect", face_detector_model="scrfd"))
    assert "scrfd_2.5g" in detect and "nsfw_1" not in detect
    assert files_for("extract_frames", params("extract_frames")) == []


def test_step_models_put_model_digests_into_the_cache_key(tmp_path: Path) -> None:
    (tmp_path / "inswapper_128.hash").write_text("0badc0de")
    models = ModelFiles(tmp_path)

    def step_models(op: str, values: dict[str, object]) -> dict[str, str]:
        return models.digests(files_for(op, OPS[op].params.model_construct(**values)))

    identity = BackendIdentity("local", "facefusion", "3.8.1", step_models=step_models)
    fields = identity.key_fields("swap", {"face_swapper_model": "inswapper_128"})
    assert fields["model inswapper_128"] == "0badc0de"
    assert "model gfpgan_1.4" not in fields
    enhance = identity.key_fields("enhance", {"face_enhancer_model": "gfpgan_1.4"})
    assert "model inswapper_128" not in enhance
    assert identity.key_fields() == {"engine": "facefusion", "engine_version": "3.8.1"}


def test_model_state_checks_the_file_against_its_hash(tmp_path: Path) -> None:
    import zlib

    (tmp_path / "fan_68_5.onnx").write_bytes(b"model bytes")
    (tmp_path / "fan_68_5.hash").write_text(format(zlib.crc32(b"model bytes"), "08x"))
    (tmp_path / "fairface.onnx").write_bytes(b"changed")
    (tmp_path / "fairface.hash").write_text("00000000")
    models = ModelFiles(tmp_path)
    assert models.state("fan_68_5").status == "present"
    assert models.state("fairface").status == "missing"
    assert models.state("nsfw_1").status == "missing"
    assert ModelFiles(tmp_path, allow_downloads=True).state("nsfw_1").status == "downloadable"
    assert models.unusable(["fan_68_5", "fairface"]) == ["fairface (missing)"]


def test_a_folder_that_is_no_checkout_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckoutError, match="not a FaceFusion checkout"):
        open_checkout(tmp_path)
    (tmp_path / "facefusion").mkdir()
    (tmp_path / "facefusion.py").write_text("")
    (tmp_path / "facefusion" / "metadata.py").write_text("METADATA = {'version': '3.4.0'}")
    with pytest.raises(CheckoutError, match=r"FaceFusion 3\.4\.0 is not supported"):
        open_checkout(tmp_path)
    (tmp_path / "facefusion" / "metadata.py").write_text("METADATA = {'version': '3.8.1'}")
    with pytest.raises(CheckoutError, match="no Python environment found"):
        open_checkout(tmp_path)
    with pytest.raises(CheckoutError, match="not an executable"):
        open_checkout(tmp_path, tmp_path / "nope" / "python")


def test_the_readme_shows_the_table_as_generated() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "## Using your FaceFusion install" in readme
    assert markdown_table() in readme


def test_published_model_digests_key_remote_steps_on_the_models_they_name() -> None:
    from ffpipe.backends.models import model_digests

    capabilities = {
        "model_digests": {
            "common": {"nsfw_1": "11111111"},
            "face_swapper_model": {"inswapper_128": {"inswapper_128": "22222222"}},
            "face_enhancer_model": {"gfpgan_1.4": {"gfpgan_1.4": "33333333"}},
        }
    }
    swap = model_digests(capabilities, "swap", {"face_swapper_model": "inswapper_128"})
    assert swap == {"nsfw_1": "11111111", "inswapper_128": "22222222"}
    fused = model_digests(capabilities, "process", {"processors": ["swap", "enhance"]})
    assert fused["gfpgan_1.4"] == "33333333" and fused["inswapper_128"] == "22222222"
    assert model_digests(capabilities, "video", {}) == {}
    assert model_digests({}, "swap", {}) == {}
