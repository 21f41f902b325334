"""Catalog parameters -> FaceFusion 3.8.1 command-line arguments, emulations and refusals.

:func:`refusals` lists everything a request asks that FaceFusion cannot honour (checked before
anything runs); :func:`plan_request` turns a request into a :class:`Request`: every FaceFusion
pass (the arguments of one ``headless-run`` each, see :func:`build_call`), its output, a human
line for every emulation and the model files it loads. What FaceFusion learns about the target
first (its faces, its size) arrives as :class:`Target`, so this module needs neither FaceFusion
nor any media library and can be tested alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.catalog import FRAME_OPS, OPS, parse_resolution
from ffpipe.catalog.edit import EXPRESSION_FIELDS
from ffpipe.engine.api import FaceNotFoundError, UnsupportedError, output_file
from ffpipe.engine.facefusion import models
from ffpipe.engine.facefusion.table import REFUSED, TABLE

FLOAT_STEP = 0.05
SCALE_STEP = 0.25
SCALE_RANGE = (0.25, 8.0)
TARGET_FACE_DISTANCE = 0.05
"""FaceFusion's smallest non-zero reference distance: face N and its near twins only."""
PADDING_CROP_FACTOR = 1.5
"""The face crop FaceFusion masks is about this many times the detected face box."""

PIXEL_BOOSTS: dict[str, tuple[str, ...]] = {
    "inswapper_128": ("128", "256", "512", "1024"),
    "inswapper_128_fp16": ("128", "256", "512", "1024"),
    "simswap_256": ("256", "512", "1024"),
    "simswap_unofficial_512": ("512", "1024"),
    "ghost_2_256": ("256", "512", "1024"),
    "uniface_256": ("256", "512", "1024"),
}
"""The catalog's pixel boosts FaceFusion's ``face_swapper_set`` allows per model."""
DETECTOR_SIZES = {
    "retinaface": ("320x320", "640x640"),
    "scrfd": ("320x320", "640x640"),
    "yolo_face": ("640x640",),
    "yunet": ("640x640",),
}
_GAZE = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, 1.0),
    "down": (0.0, -1.0),
    "center": (0.0, 0.0),
}
_EYEBROW = {"up": 1.0, "down": -1.0, "neutral": 0.0}
_HEAD_DEGREES = {"pitch": 20.0, "yaw": 60.0, "roll": 15.0}


@dataclass(frozen=True)
class Target:
    """What FaceFusion found in the target before the call."""

    is_video: bool
    width: int
    height: int
    faces: Sequence[dict[str, Any]] = ()
    """FaceFusion's faces of the image (of the reference frame for a video), left to right."""
    reference_frame: int = 0


@dataclass
class Call:
    """One FaceFusion run: its arguments, the model files it uses, and what was emulated."""

    argv: list[str]
    processors: list[str]
    files: list[str]
    emulated: list[str] = field(default_factory=list)
    output_size: tuple[int, int] | None = None
    """Images: the exact size the output is brought to after FaceFusion."""


def default(op: str, name: str) -> Any:
    """The catalog default of parameter ``name`` of ``op``."""
    return OPS[op].params.model_fields[name].get_default(call_default_factory=True)


def is_default(op: str, params: Any, name: str) -> bool:
    return getattr(params, name) == default(op, name)


def facefusion_processors(op: str, params: Any) -> list[str]:
    """FaceFusion's processor chain for a catalog face op (``[]`` for video/extract_frames)."""
    if op == "process":
        return [name for step in params.processors for name in _processors_of(step, params)]
    if op in FRAME_OPS:
        return _processors_of(op, params)
    return []


def _processors_of(step: str, params: Any) -> list[str]:
    if step == "swap":
        return ["face_swapper"]
    if step == "enhance":
        return ["face_enhancer"] * params.face_enhancer_iterations
    chain = []
    if params.face_editor_age is None or not _expression_neutral(params):
        chain.append("face_editor")
    if params.face_editor_age is not None:
        chain.append("age_modifier")
    return chain


def _expression_neutral(params: Any) -> bool:
    return all(getattr(params, name) == default("edit", name) for name in EXPRESSION_FIELDS)


def uses(op: str, params: Any, step: str) -> bool:
    """Whether a request of ``op`` runs the per-frame op ``step`` (itself, or in a process)."""
    return op == step or (op == "process" and step in params.processors)


def refusals(
    op: str,
    params: Any,
    *,
    providers: Sequence[str],
    encoders: Sequence[str],
    target_is_video: bool | None = None,
) -> list[str]:
    """Every reason ``params`` cannot run on FaceFusion 3.8.1, each naming its parameter."""
    fields = OPS[op].params.model_fields
    problems = [
        f"{name}={getattr(params, name)!r}: {TABLE[name].note}"
        for name in fields
        if TABLE[name].status == REFUSED and not is_default(op, params, name)
    ]
    if "face_detector_model" in fields:
        detector = models.DETECTORS[params.face_detector_model]
        if params.face_detector_size not in DETECTOR_SIZES[detector]:
            problems.append(
                f"face_detector_size={params.face_detector_size!r}: FaceFusion's {detector} "
                f"takes {', '.join(DETECTOR_SIZES[detector])}"
            )
    if uses(op, params, "swap"):
        swapper = models.SWAPPERS[params.face_swapper_model]
        if params.face_swapper_pixel_boost not in PIXEL_BOOSTS[swapper]:
            problems.append(
                f"face_swapper_pixel_boost={params.face_swapper_pixel_boost!r}: FaceFusion's "
                f"{swapper} allows {', '.join(PIXEL_BOOSTS[swapper])}"
            )
    if uses(op, params, "edit") and params.face_editor_model not in models.EDITORS:
        problems.append(
            f"face_editor_model={params.face_editor_model!r}: FaceFusion 3.8.1 has only "
            "live_portrait"
        )
    if op == "process" and params.extract_frames:
        problems.append("extract_frames=true: use the extract_frames op on FaceFusion")
    if uses(op, params, "edit") and params.face_editor_blend != 1.0 and target_is_video:
        problems.append(
            f"face_editor_blend={params.face_editor_blend!r}: FaceFusion's face editor has no "
            "blend flag, and on a video the edit cannot be blended around it"
        )
    problems += _device_problems(params, providers)
    encoder = getattr(params, "output_video_encoder", None)
    if encoder is not None and encoder not in encoders and target_is_video is not False:
        problems.append(
            f"output_video_encoder={encoder!r}: FaceFusion's ffmpeg here offers "
            f"{', '.join(encoders) or 'no video encoder'}"
        )
    return problems


def _device_problems(params: Any, providers: Sequence[str]) -> list[str]:
    devices = {
        name: getattr(params, name)
        for name in ("face_detector_device", "face_recognizer_device", "face_enhancer_device")
    }
    if len(set(devices.values())) > 1:
        listed = ", ".join(f"{name}={value}" for name, value in devices.items())
        return [
            f"{listed}: FaceFusion runs every model on one set of execution providers; give "
            "the three devices the same value"
        ]
    device = next(iter(devices.values()))
    if device not in providers:
        return [
            f"face_detector_device={device!r}: onnxruntime in FaceFusion's environment offers "
            f"{', '.join(providers) or 'no provider'}"
        ]
    return []


def execution_arguments(params: Any) -> tuple[list[str], list[str]]:
    """``--execution-*`` arguments and the emulation lines they need."""
    argv = ["--execution-providers", params.face_detector_device]
    notes = []
    if params.execution_device_id is not None:
        argv += ["--execution-device-ids", params.execution_device_id]
    threads = min(params.execution_thread_count, 32)
    argv += ["--execution-thread-count", str(threads)]
    if params.execution_thread_count > 32:
        notes.append(
            f"execution_thread_count {params.execution_thread_count} -> 32 (FaceFusion's maximum)"
        )
    if params.execution_queue_count != 1:
        notes.append(
            f"execution_queue_count {params.execution_queue_count}: FaceFusion 3.4 removed "
            "queues; frames run on the execution threads"
        )
    argv += ["--video-memory-strategy", "tolerant", "--log-level", "info"]
    return argv, notes


def detector_arguments(params: Any) -> tuple[list[str], list[str]]:
    """Face detector and landmarker arguments (and rounding notes)."""
    notes: list[str] = []
    score = _stepped("face_detector_score", params.face_detector_score, notes)
    argv = [
        "--face-detector-model",
        models.DETECTORS[params.face_detector_model],
        "--face-detector-size",
        params.face_detector_size,
        "--face-detector-score",
        score,
        "--face-landmarker-model",
        params.face_landmarker_model,
    ]
    return argv, notes


def analysis_arguments(params: Any) -> list[str]:
    """Arguments that set FaceFusion's state for analysing faces (detect, source isolation)."""
    detector, _ = detector_arguments(params)
    execution, _ = execution_arguments(params)
    return ["headless-run", *detector, *execution]


def _stepped(name: str, value: float, notes: list[str], low: float = 0.0) -> str:
    """``value`` on FaceFusion's 0.05 grid, with a note when that changed it."""
    stepped = round(round((value - low) / FLOAT_STEP) * FLOAT_STEP + low, 2)
    if not math.isclose(stepped, value, abs_tol=1e-9):
        notes.append(f"{name} {value:g} -> {stepped:g} (FaceFusion takes steps of {FLOAT_STEP})")
    return _number(stepped)


def _number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def passes(op: str, params: Any, target: Target) -> list[list[str]]:
    """FaceFusion runs for a request: one chain, or three around an edit to be blended.

    ``face_editor_blend`` below 1.0 has no flag: the edit's processors run on their own (the
    image before them is kept to blend with); what comes before and after runs around it.
    """
    chain = facefusion_processors(op, params)
    if target.is_video or not uses(op, params, "edit") or params.face_editor_blend == 1.0:
        return [chain]
    edit = [name for name in chain if name in ("face_editor", "age_modifier")]
    first = chain.index(edit[0])
    before, after = chain[:first], chain[first + len(edit) :]
    return [part for part in (before, edit, after) if part]


def build_call(
    op: str,
    params: Any,
    target: Target,
    *,
    source: str | None,
    output: str,
    processors: list[str] | None = None,
    target_path: str | None = None,
    final: bool = True,
) -> Call:
    """The ``headless-run`` arguments of a face op (or of ``video``) on ``target``.

    ``processors`` and ``target_path`` narrow the run to one of :func:`passes` on an
    intermediate image; only the ``final`` one scales the output.
    """
    if processors is None:
        processors = facefusion_processors(op, params)
    notes: list[str] = []
    argv = ["headless-run"]
    if source is not None and "face_swapper" in processors:
        argv += ["-s", source]
    argv += ["-t", target_path or params.target_media, "-o", output]
    argv += ["--processors", *(processors or ["face_debugger"])]
    execution, execution_notes = execution_arguments(params)
    if processors:
        detector, detector_notes = detector_arguments(params)
        argv += detector + _selection(op, params, target, notes)
        argv += _masks(params, target, notes)
        notes += detector_notes
        argv += _processor_options(processors, params, target, notes)
    if final:
        argv += _output_options(op, params, target, notes)
    argv += execution
    notes += execution_notes
    options = {}
    if "face_swapper" in processors:
        options["face_swapper_model"] = models.SWAPPERS[params.face_swapper_model]
    if "face_enhancer" in processors:
        options["face_enhancer_model"] = params.face_enhancer_model
        if params.face_enhancer_iterations > 1:
            notes.append(
                f"face_enhancer_iterations {params.face_enhancer_iterations}: the enhancer is "
                f"listed {params.face_enhancer_iterations} times in FaceFusion's processor chain"
            )
    files = (
        models.run_files(
            models.DETECTORS[params.face_detector_model],
            params.face_landmarker_model,
            processors,
            options,
        )
        if processors
        else list(models.CONTENT_ANALYSER)
    )
    call = Call(argv=argv, processors=processors, files=files, emulated=notes)
    if not target.is_video:
        call.output_size = _image_size(params, target, call)
    return call


def _selection(op: str, params: Any, target: Target, notes: list[str]) -> list[str]:
    argv = ["--face-selector-mode", "reference", "--face-selector-order", "left-right"]
    if target.is_video:
        argv += ["--reference-frame-number", str(target.reference_frame)]
    if params.target_face_index is not None:
        notes.append(
            f"target_face_index {params.target_face_index}: FaceFusion's reference mode with "
            f"face {params.target_face_index} (left to right) as the reference and distance "
            f"{TARGET_FACE_DISTANCE}"
        )
        position, distance = str(params.target_face_index), _number(TARGET_FACE_DISTANCE)
    else:
        position = str(params.reference_face_position)
        distance = _stepped("reference_face_distance", params.reference_face_distance, notes)
    return [*argv, "--reference-face-position", position, "--reference-face-distance", distance]


def reference_face(params: Any, target: Target) -> dict[str, Any] | None:
    """The face FaceFusion will take as the reference, from the faces found in the target."""
    if not target.faces:
        return None
    return target.faces[min(reference_position(params), len(target.faces) - 1)]


def _masks(params: Any, target: Target, notes: list[str]) -> list[str]:
    blur = _stepped("face_mask_blur", params.face_mask_blur, notes)
    argv = ["--face-mask-types", *params.face_mask_types, "--face-mask-blur", blur]
    padding = list(params.face_mask_padding)
    if any(padding):
        face = reference_face(params, target)
        side = _box_side(face) * PADDING_CROP_FACTOR if face else 0.0
        percent = [min(100, round(100 * pixels / side)) if side else 0 for pixels in padding]
        notes.append(
            f"face_mask_padding {tuple(padding)} px -> {tuple(percent)} % of the face crop "
            "(FaceFusion pads in percent)"
        )
        padding = percent
    return [*argv, "--face-mask-padding", *map(str, padding)]


def _box_side(face: dict[str, Any]) -> float:
    left, top, right, bottom = face["box"]
    return float(max(right - left, bottom - top))


def _processor_options(
    processors: list[str], params: Any, target: Target, notes: list[str]
) -> list[str]:
    argv: list[str] = []
    if "face_swapper" in processors:
        argv += [
            "--face-swapper-model",
            models.SWAPPERS[params.face_swapper_model],
            "--face-swapper-pixel-boost",
            f"{params.face_swapper_pixel_boost}x{params.face_swapper_pixel_boost}",
        ]
    if "face_enhancer" in processors:
        blend = round(params.face_enhancer_blend * 100)
        argv += ["--face-enhancer-model", params.face_enhancer_model]
        argv += ["--face-enhancer-blend", str(blend)]
    if "face_editor" in processors:
        argv += _editor_options(params, notes)
    if "age_modifier" in processors:
        argv += _age_options(params, target, notes)
    return argv


def _editor_options(params: Any, notes: list[str]) -> list[str]:
    horizontal, vertical = _GAZE[params.face_editor_eye_gaze]
    values = {
        "eyebrow-direction": _EYEBROW[params.face_editor_eyebrow_direction],
        "eye-gaze-horizontal": horizontal,
        "eye-gaze-vertical": vertical,
        "eye-open-ratio": _clamp(params.face_editor_eye_open_ratio - 1.0),
        "lip-open-ratio": _clamp(params.face_editor_lip_open_ratio - 1.0),
        "mouth-grim": params.face_editor_mouth_grim,
        "mouth-pout": params.face_editor_mouth_pout,
        "mouth-purse": params.face_editor_mouth_purse,
        "mouth-smile": params.face_editor_mouth_smile,
        "mouth-position-vertical": params.face_editor_mouth_position,
    }
    for axis, degrees in _HEAD_DEGREES.items():
        asked = getattr(params, f"face_editor_head_{axis}")
        values[f"head-{axis}"] = _clamp(asked / degrees)
        if abs(asked) > degrees:
            notes.append(
                f"face_editor_head_{axis} {asked:g} degrees -> {degrees:g} (FaceFusion's limit)"
            )
    for name in EXPRESSION_FIELDS:
        if getattr(params, name) != default("edit", name) and TABLE[name].status != "exact":
            notes.append(f"{name} {getattr(params, name)!r}: {TABLE[name].note}")
    argv = ["--face-editor-model", models.EDITORS[params.face_editor_model]]
    for flag, value in values.items():
        argv += [f"--face-editor-{flag}", _stepped(f"face_editor {flag}", value, notes, -1.0)]
    return argv


def _clamp(value: float) -> float:
    return max(-1.0, min(1.0, value))


def _age_options(params: Any, target: Target, notes: list[str]) -> list[str]:
    face = reference_face(params, target)
    estimate = sum(face["age"]) / 2 if face else 0.0
    difference = params.face_editor_age - estimate
    sign = {"older": 1, "younger": -1}.get(params.face_editor_age_direction)
    direction = round(abs(difference)) * sign if sign else round(difference)
    direction = max(-100, min(100, direction))
    notes.append(
        f"face_editor_age {params.face_editor_age} ({params.face_editor_age_direction}): "
        f"FaceFusion estimates the face at {estimate:g}, so its age modifier runs with "
        f"direction {direction:+d}"
    )
    return [
        "--age-modifier-model",
        models.AGE_MODIFIER,
        "--age-modifier-direction",
        str(direction),
    ]


def _output_options(op: str, params: Any, target: Target, notes: list[str]) -> list[str]:
    argv: list[str] = []
    if target.is_video:
        argv += _video_output(params, target, notes)
    elif "output_image_quality" in OPS[op].params.model_fields:
        argv += ["--output-image-quality", str(params.output_image_quality)]
        if params.output_image_resolution:
            width, height = parse_resolution(params.output_image_resolution)
            scale = _image_scale(width / target.width, height / target.height)
            argv += ["--output-image-scale", _number(scale)]
            notes.append(
                f"output_image_resolution {params.output_image_resolution}: FaceFusion renders "
                f"at scale {scale:g} and the image is resized to exactly that size"
            )
    return argv


def _image_scale(width_ratio: float, height_ratio: float) -> float:
    wanted = max(width_ratio, height_ratio)
    scale = math.ceil(wanted / SCALE_STEP - 1e-9) * SCALE_STEP
    return max(SCALE_RANGE[0], min(SCALE_RANGE[1], scale))


def _video_output(params: Any, target: Target, notes: list[str]) -> list[str]:
    argv = [
        "--output-video-encoder",
        params.output_video_encoder,
        "--output-video-preset",
        params.output_video_preset,
        "--output-video-quality",
        str(params.output_video_quality),
        "--temp-frame-format",
        "jpeg" if params.temp_frame_format == "jpg" else params.temp_frame_format,
    ]
    if params.output_video_fps is not None:
        argv += ["--output-video-fps", _number(params.output_video_fps)]
    if params.trim_frame_start is not None:
        argv += ["--trim-frame-start", str(params.trim_frame_start)]
    if params.trim_frame_end is not None:
        argv += ["--trim-frame-end", str(params.trim_frame_end)]
    if params.skip_audio:
        argv += ["--output-audio-volume", "0"]
        notes.append("skip_audio: FaceFusion's --output-audio-volume 0 leaves the audio out")
    if params.output_video_resolution:
        scale = video_scale(params.output_video_resolution, target.width, target.height)
        argv += ["--output-video-scale", _number(scale)]
        notes.append(
            f"output_video_resolution {params.output_video_resolution}: FaceFusion's "
            f"--output-video-scale {scale:g} of the {target.width}x{target.height} target"
        )
    if params.temp_frame_quality != default("video", "temp_frame_quality"):
        notes.append(
            f"temp_frame_quality {params.temp_frame_quality}: {TABLE['temp_frame_quality'].note}"
        )
    if params.video_memory_strategy != "tolerant" and params.video_memory_strategy != "strict":
        notes.append(f"video_memory_strategy: {TABLE['video_memory_strategy'].note}")
    return argv


def _scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """FaceFusion's ``scale_resolution``: truncate, then round each side to an even number."""
    width, height = int(size[0] * scale), int(size[1] * scale)
    return round(width / 2) * 2, round(height / 2) * 2


def video_scale(resolution: str, width: int, height: int) -> float:
    """The FaceFusion scale that turns ``width``x``height`` into ``resolution`` exactly.

    Raises ValueError naming the sizes the nearest scales give when none does.
    """
    wanted = parse_resolution(resolution)
    steps = round((SCALE_RANGE[1] - SCALE_RANGE[0]) / SCALE_STEP) + 1
    scales = [SCALE_RANGE[0] + SCALE_STEP * number for number in range(steps)]
    for scale in scales:
        if _scaled((width, height), scale) == wanted:
            return scale
    reachable = ", ".join(
        "{}x{}".format(*_scaled((width, height), scale))
        for scale in sorted(scales, key=lambda s: abs(s - wanted[0] / max(width, 1)))[:3]
    )
    raise ValueError(
        f"output_video_resolution={resolution!r}: FaceFusion scales videos by multiples of "
        f"{SCALE_STEP} only, and none turns {width}x{height} into it; nearest: {reachable}"
    )


def _image_size(params: Any, target: Target, call: Call) -> tuple[int, int]:
    resolution = getattr(params, "output_image_resolution", None)
    if resolution:
        return parse_resolution(resolution)
    return target.width, target.height


@dataclass(frozen=True)
class Pass:
    """One ``headless-run`` of a request: its call reads ``reads`` and writes ``writes``."""

    call: Call
    reads: str
    writes: Path
    blended: Path | None = None
    """Where this pass's edit, blended with ``reads`` by ``face_editor_blend``, goes (the next
    pass reads it): FaceFusion's face editor has no blend flag."""

    @property
    def result(self) -> Path:
        """The file this pass leaves for the next one."""
        return self.blended or self.writes


@dataclass(frozen=True)
class Request:
    """Everything FaceFusion runs for one catalog request, planned before any of it runs."""

    op: str
    output: Path
    """The primary output: a file, or the folder of extracted frames."""
    passes: list[Pass] = field(default_factory=list)
    """The ``headless-run`` passes in order (video and face ops)."""
    analysis: list[str] = field(default_factory=list)
    """detect: the arguments FaceFusion analyses the faces with."""
    extraction: list[str] = field(default_factory=list)
    """extract_frames: the arguments of FaceFusion's frame extraction."""
    notes: list[str] = field(default_factory=list)
    """A line for every emulation, in the order the user reads them."""
    files: list[str] = field(default_factory=list)
    """The FaceFusion model files the request loads."""

    @property
    def runs(self) -> list[list[str]]:
        """The arguments of every FaceFusion run, for the result document."""
        runs = [list(made.call.argv) for made in self.passes]
        return [*runs, list(self.extraction)] if self.extraction else runs


def plan_request(
    op: str,
    params: Any,
    target: Target,
    *,
    out_dir: Path,
    scratch: Path | None = None,
    source: str | None = None,
) -> Request:
    """Every FaceFusion pass, note and model file of a request of ``op`` on ``target``.

    ``params.target_media`` and ``out_dir`` are absolute (the worker runs in FaceFusion's
    folder); ``source`` is the ``-s`` image a swap gives FaceFusion, and ``scratch`` a folder for
    the images between the passes of a face op on an image. Raises
    :class:`~ffpipe.engine.api.UnsupportedError` (or ``EngineError``) for a request FaceFusion
    cannot run as asked, naming the parameter.
    """
    spec = OPS[op]
    target_path = Path(params.target_media)
    name = params.output_path or spec.default_output_name(target_path.name)
    output = output_file(op, name, target_path, out_dir)
    files = files_for(op, params)
    if spec.writes == "json":
        return Request(
            op,
            output,
            analysis=analysis_arguments(params),
            notes=detector_arguments(params)[1],
            files=files,
        )
    if spec.writes == "frames":
        argv, notes = extract_arguments(params)
        return Request(op, output, extraction=argv, notes=notes, files=files)
    if target.is_video and output.suffix.lower() != target_path.suffix.lower():
        raise UnsupportedError(
            f"output_path {name!r}: FaceFusion writes a video in its target's container "
            f"({target_path.suffix})"
        )
    if spec.writes == "video":
        call = _call(op, params, target, source=None, output=str(output))
        return Request(
            op, output, [Pass(call, str(target_path), output)], notes=call.emulated, files=files
        )
    return _face_request(op, params, target, output, scratch, source, files)


def _face_request(
    op: str,
    params: Any,
    target: Target,
    output: Path,
    scratch: Path | None,
    source: str | None,
    files: list[str],
) -> Request:
    target_path = Path(params.target_media)
    chain = passes(op, params, target)
    current, planned, notes = str(target_path), [], []
    for number, processors in enumerate(chain):
        final = number == len(chain) - 1
        produced = _pass_output(output, scratch, number, target_path.suffix, target.is_video)
        call = _call(
            op,
            params,
            target,
            source=source,
            output=str(produced),
            processors=processors,
            target_path=current,
            final=final,
        )
        notes += call.emulated
        edited = "face_editor" in processors or "age_modifier" in processors
        blended = None
        if edited and not target.is_video and params.face_editor_blend != 1.0:
            blended = produced.with_name(f"blended{produced.suffix}")
            notes.append(
                f"face_editor_blend {params.face_editor_blend:g}: the edit ran as its own "
                "FaceFusion pass, blended with the image before it"
            )
        made = Pass(call, current, produced, blended)
        planned.append(made)
        current = str(made.result)
    if not target.is_video and output_format(output) != output_format(target_path):
        notes.append(
            f"output_path {output.name}: FaceFusion wrote {target_path.suffix}; converted to "
            f"{output.suffix}"
        )
    return Request(op, output, planned, notes=notes, files=files)


def _pass_output(
    output: Path, scratch: Path | None, number: int, suffix: str, is_video: bool
) -> Path:
    """A video's passes write the output itself (it has one); an image's, files in scratch."""
    if is_video:
        return output
    if scratch is None:
        raise ValueError("a face op on an image needs a scratch folder for its passes")
    return scratch / f"pass{number}{suffix}"


def _call(op: str, params: Any, target: Target, **where: Any) -> Call:
    try:
        return build_call(op, params, target, **where)
    except ValueError as error:
        raise UnsupportedError(str(error)) from None


def extract_arguments(params: Any) -> tuple[list[str], list[str]]:
    """The ``extract_frames`` arguments (FaceFusion's own frame extraction) and their notes."""
    argv = ["headless-run", "-t", str(params.target_media)]
    if params.trim_frame_start is not None:
        argv += ["--trim-frame-start", str(params.trim_frame_start)]
    if params.trim_frame_end is not None:
        argv += ["--trim-frame-end", str(params.trim_frame_end)]
    if params.output_video_fps is not None:
        argv += ["--output-video-fps", f"{params.output_video_fps:g}"]
    argv += ["--temp-frame-format", "png"]
    execution, notes = execution_arguments(params)
    argv += execution
    notes.append(
        f"extract_frames: FaceFusion's own frame extraction, written as "
        f"{params.extract_frame_format} frames"
        + (
            f" at quality {params.extract_frame_quality}"
            if params.extract_frame_format == "jpg"
            else ""
        )
    )
    return argv, notes


def refused_values(op: str, known: Mapping[str, Any]) -> list[str]:
    """The known parameter values of a planned step of ``op`` that FaceFusion refuses."""
    problems = []
    for name, value in known.items():
        row = TABLE.get(name)
        if row is not None and row.status == REFUSED and value != default(op, name):
            problems.append(f"{op}: {name}={value!r} is refused: {row.note}")
    return problems


def files_for(op: str, params: Any) -> list[str]:
    """The FaceFusion model files a step of ``op`` with ``params`` uses."""
    spec = OPS[op]
    if spec.needs_video:
        return [] if spec.writes == "frames" else list(models.CONTENT_ANALYSER)
    detector = models.DETECTORS.get(params.face_detector_model, params.face_detector_model)
    if spec.writes == "json":
        return models.analysis_files(detector, params.face_landmarker_model)
    processors = facefusion_processors(op, params)
    options = {}
    if "face_swapper" in processors:
        options["face_swapper_model"] = models.SWAPPERS[params.face_swapper_model]
    if "face_enhancer" in processors:
        options["face_enhancer_model"] = params.face_enhancer_model
    return models.run_files(detector, params.face_landmarker_model, processors, options)


def reference_position(params: Any) -> int:
    """The position (left to right) of the face FaceFusion takes as the reference."""
    index = params.target_face_index
    return params.reference_face_position if index is None else index


def check_faces(params: Any, faces: Sequence[dict[str, Any]], label: str) -> None:
    """Raise FaceNotFoundError unless FaceFusion found the reference face among ``faces``."""
    position = reference_position(params)
    if not faces:
        raise FaceNotFoundError(
            f"FaceFusion finds no face in {label} at face_detector_score "
            f"{params.face_detector_score:g}"
        )
    if len(faces) <= position:
        indexed = params.target_face_index is not None
        which = "target_face_index" if indexed else "reference_face_position"
        raise FaceNotFoundError(
            f"{label} has {len(faces)} face(s), index {position} was requested ({which})"
        )


def processed_faces(params: Any, faces: Sequence[dict[str, Any]]) -> list[int]:
    """Indices of the faces FaceFusion's reference mode selects (its own distance rule)."""
    index = params.target_face_index
    reference = faces[reference_position(params)]["embedding"]
    limit = TARGET_FACE_DISTANCE if index is not None else params.reference_face_distance
    selected = []
    for number, face in enumerate(faces):
        similarity = sum(a * b for a, b in zip(face["embedding"], reference, strict=False))
        if (1.0 - similarity) / 2.0 < limit:
            selected.append(number)
    return selected


def output_format(path: Path) -> str:
    """The image format a file name stands for (``jpeg`` -> ``jpg``, ``tif`` -> ``tiff``)."""
    suffix = path.suffix.lower().lstrip(".")
    return {"jpeg": "jpg", "tif": "tiff"}.get(suffix, suffix)
