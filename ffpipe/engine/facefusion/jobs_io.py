"""FaceFusion 3.8 job files -> catalog steps (import), and what an exported step must satisfy.

FaceFusion keeps a job as ``JOBS_PATH/STATUS/JOB_ID.json``: ``{"version": "1", "date_created",
"date_updated", "steps": [{"args": {...}, "status"}]}``, each step's ``args`` being the 85 step
keys of ``job-add-step`` (execution providers, threads and memory strategy are arguments of
``job-run``, not of a step). :func:`import_job` maps every step's arguments back to catalog
parameters, the inverse of :mod:`.arguments`; what has no catalog name is returned in
``kept`` with its value, for the pipeline writer to name, never dropped. A step's options of
processors it does not run are inert in FaceFusion too, and are left out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.catalog import OPS
from ffpipe.engine.facefusion import arguments as ff_args
from ffpipe.engine.facefusion import models

JOB_STATUSES = ("drafted", "queued", "failed", "completed")
"""FaceFusion's job folders, named by status."""

STEP_DEFAULTS: dict[str, Any] = {
    "face_detector_margin": [0, 0, 0, 0],
    "face_detector_angles": [0],
    "face_landmarker_score": 0.5,
    "face_selector_mode": "reference",
    "face_selector_order": "large-small",
    "face_selector_age_start": None,
    "face_selector_age_end": None,
    "face_selector_gender": None,
    "face_selector_race": None,
    "reference_frame_number": 0,
    "face_tracker_score": 0.0,
    "face_occluder_model": "xseg_1",
    "face_parser_model": "bisenet_resnet_34",
    "face_mask_areas": ["upper-face", "lower-face", "mouth"],
    "face_mask_regions": [
        "skin",
        "left-eyebrow",
        "right-eyebrow",
        "left-eye",
        "right-eye",
        "glasses",
        "nose",
        "mouth",
        "upper-lip",
        "lower-lip",
    ],
    "face_mask_padding": [0, 0, 0, 0],
    "voice_extractor_model": "kim_vocal_2",
    "temp_pixel_format": "bgr24",
    "target_frame_amount": 2,
    "output_image_scale": 1.0,
    "output_audio_encoder": "flac",
    "output_audio_quality": 80,
    "output_audio_volume": 100,
    "output_video_scale": 1.0,
    "workflow_mode": "auto",
    "workflow_strategy": "memory",
    "face_swapper_weight": 0.5,
    "face_enhancer_weight": 0.5,
    "face_editor_mouth_position_horizontal": 0.0,
}
"""FaceFusion 3.8.1's step defaults of the arguments with no catalog name (read from a job made
by ``job-add-step`` with no options): a value other than these is named on import."""

_PROCESSOR_STEPS = {"face_swapper": "swap", "face_enhancer": "enhance"}
_EDITOR_PROCESSORS = ("face_editor", "age_modifier")
_PROCESSOR_PREFIXES = {
    "face_swapper": "face_swapper_",
    "face_enhancer": "face_enhancer_",
    "face_editor": "face_editor_",
    "age_modifier": "age_modifier_",
    "face_debugger": "face_debugger_",
    "frame_enhancer": "frame_enhancer_",
    "frame_colorizer": "frame_colorizer_",
    "lip_syncer": "lip_syncer_",
    "deep_swapper": "deep_swapper_",
    "expression_restorer": "expression_restorer_",
    "background_remover": "background_remover_",
}
_MAPPED_ELSEWHERE = frozenset({"face_selector_order"})
"""Keys of :data:`STEP_DEFAULTS` whose values are judged where they are mapped."""
_ALWAYS_WRITTEN = frozenset(
    {
        "target_media",
        "source_face",
        "face_detector_model",
        "face_swapper_model",
        "face_enhancer_model",
    }
)
"""Written even at the catalog's default: a reader of the pipeline sees which models run."""
_CATALOG_DETECTORS = {facefusion: catalog for catalog, facefusion in models.DETECTORS.items()}
_CATALOG_SWAPPERS = {facefusion: catalog for catalog, facefusion in models.SWAPPERS.items()}


class JobFileError(ValueError):
    """Not a FaceFusion job file, or a step that cannot become a catalog step."""


@dataclass
class ImportedStep:
    """One FaceFusion job step as a catalog step."""

    index: int
    op: str
    params: dict[str, Any]
    """Catalog values that differ from the catalog's defaults (file paths always)."""
    kept: dict[str, Any] = field(default_factory=dict)
    """FaceFusion arguments with no catalog name, by FaceFusion's key, with their values."""
    target_step: int | None = None
    """Index of the earlier step whose output is this step's target (a remixed step)."""
    output_path: str = ""
    """FaceFusion's output path, as the job names it."""


@dataclass
class ImportedJob:
    """A FaceFusion job: its id, status folder and steps."""

    job_id: str
    status: str
    path: Path
    steps: list[ImportedStep]


def read_job(path: Path) -> ImportedJob:
    """Read a FaceFusion job file (any status folder) and map every step to a catalog step."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise JobFileError(f"{path}: not a readable FaceFusion job file ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        raise JobFileError(f"{path}: not a FaceFusion job file (no steps list)")
    if str(document.get("version")) != "1":
        raise JobFileError(
            f"{path}: FaceFusion job format version {document.get('version')!r}; ffpipe reads "
            "version 1 (FaceFusion 3.x)"
        )
    if not document["steps"]:
        raise JobFileError(f"{path}: the job has no steps")
    job_id = Path(path).stem
    status = Path(path).parent.name
    steps = [
        import_step(index, step.get("args") or {}, job_id, document["steps"])
        for index, step in enumerate(document["steps"])
    ]
    return ImportedJob(job_id, status if status in JOB_STATUSES else "", Path(path), steps)


def step_output_path(job_id: str, index: int, output_path: str) -> str:
    """Where FaceFusion keeps step ``index``'s output until the job finishes (its own naming:
    ``NAME-JOB_ID-INDEX.EXT`` beside the output): a remixed step's target."""
    output = Path(output_path)
    return str(output.with_name(f"{output.stem}-{job_id}-{index}{output.suffix}"))


def import_step(
    index: int, args: dict[str, Any], job_id: str, steps: list[dict[str, Any]]
) -> ImportedStep:
    """One step's FaceFusion arguments as a catalog op and its parameters."""
    processors = list(args.get("processors") or [])
    op, chain, kept = _op_of(processors)
    if op is None:
        raise JobFileError(
            f"step {index}: processors {processors} include none of the catalog's (face_swapper, "
            "face_enhancer, face_editor, age_modifier)"
        )
    values: dict[str, Any] = {}
    target = str(args.get("target_path") or "")
    target_step = None
    for earlier in range(index):
        earlier_output = (steps[earlier].get("args") or {}).get("output_path") or ""
        if earlier_output and target == step_output_path(job_id, earlier, earlier_output):
            target_step = earlier
    values["target_media"] = target
    output = str(args.get("output_path") or "")
    if output:
        values["output_path"] = Path(output).name
    if op == "process":
        values["processors"] = chain
    sources = list(args.get("source_paths") or [])
    if "swap" in (chain or [op]):
        if not sources:
            raise JobFileError(f"step {index}: face_swapper needs a source (source_paths is empty)")
        values["source_face"] = sources[0]
        if len(sources) > 1:
            kept["source_paths"] = sources
    _faces(args, values, kept)
    _masks(args, values, kept)
    _output(args, values, kept)
    used = processors
    if "face_swapper" in used:
        _swapper(args, values, kept)
    if "face_enhancer" in used:
        values["face_enhancer_model"] = args.get("face_enhancer_model")
        values["face_enhancer_blend"] = _round(float(args.get("face_enhancer_blend", 80)) / 100)
        values["face_enhancer_iterations"] = used.count("face_enhancer")
    if "face_editor" in used:
        _editor(args, values, kept)
    if "age_modifier" in used:
        kept["age_modifier_model"] = args.get("age_modifier_model")
        kept["age_modifier_direction"] = args.get("age_modifier_direction")
    for key, default in STEP_DEFAULTS.items():
        if key in _MAPPED_ELSEWHERE:
            continue
        if key in args and args[key] != default and not _inert(key, used):
            kept.setdefault(key, args[key])
    fields = OPS[op].params.model_fields
    params = {}
    for name, value in values.items():
        if name not in fields:
            kept[name] = value
        elif name in _ALWAYS_WRITTEN or value != ff_args.default(op, name):
            params[name] = value
    return ImportedStep(index, op, params, kept, target_step, output)


def _op_of(processors: list[str]) -> tuple[str | None, list[str], dict[str, Any]]:
    """The catalog op of a processor chain, its ``processors`` list, and processors left out."""
    chain: list[str] = []
    kept: dict[str, Any] = {}
    others = [name for name in processors if name not in (*_PROCESSOR_STEPS, *_EDITOR_PROCESSORS)]
    if others:
        kept["processors"] = processors
    for name in processors:
        step = _PROCESSOR_STEPS.get(name) or ("edit" if name in _EDITOR_PROCESSORS else None)
        if step is None or (chain and chain[-1] == step and step in ("enhance", "edit")):
            continue
        chain.append(step)
    if not chain:
        return None, [], kept
    if len(chain) == 1:
        return chain[0], [], kept
    return "process", chain, kept


def _inert(key: str, processors: list[str]) -> bool:
    """An option of a processor the step does not run (FaceFusion ignores it too)."""
    return any(
        key.startswith(prefix)
        for name, prefix in _PROCESSOR_PREFIXES.items()
        if name not in processors
    )


def _faces(args: dict[str, Any], values: dict[str, Any], kept: dict[str, Any]) -> None:
    detector = args.get("face_detector_model")
    if detector in _CATALOG_DETECTORS:
        values["face_detector_model"] = _CATALOG_DETECTORS[detector]
    elif detector is not None:
        kept["face_detector_model"] = detector
    if "face_detector_size" in args:
        values["face_detector_size"] = args["face_detector_size"]
    if "face_detector_score" in args:
        values["face_detector_score"] = _round(float(args["face_detector_score"]))
    landmarker = args.get("face_landmarker_model")
    if landmarker == "many":
        kept["face_landmarker_model"] = landmarker
    elif landmarker is not None:
        values["face_landmarker_model"] = landmarker
    if args.get("face_selector_mode", "reference") == "reference":
        values["reference_face_position"] = int(args.get("reference_face_position", 0))
        values["reference_face_distance"] = _round(float(args.get("reference_face_distance", 0.3)))
    if args.get("face_selector_order", "left-right") != "left-right":
        # ffpipe counts faces left to right; FaceFusion's order decides which face is first.
        kept["face_selector_order"] = args["face_selector_order"]


def _masks(args: dict[str, Any], values: dict[str, Any], kept: dict[str, Any]) -> None:
    types = list(args.get("face_mask_types") or ["box"])
    known = [name for name in types if name in ("box", "occlusion", "region")]
    if len(known) != len(types):
        kept["face_mask_types"] = types
    values["face_mask_types"] = known or ["box"]
    if "face_mask_blur" in args:
        values["face_mask_blur"] = _round(float(args["face_mask_blur"]))


def _output(args: dict[str, Any], values: dict[str, Any], kept: dict[str, Any]) -> None:
    for key in (
        "output_image_quality",
        "output_video_encoder",
        "output_video_preset",
        "output_video_quality",
        "trim_frame_start",
        "trim_frame_end",
        "output_video_fps",
    ):
        if args.get(key) is not None:
            values[key] = args[key]
    frame_format = args.get("temp_frame_format")
    if frame_format:
        values["temp_frame_format"] = "jpg" if frame_format == "jpeg" else frame_format
    if args.get("output_audio_volume") == 0:
        values["skip_audio"] = True


def _swapper(args: dict[str, Any], values: dict[str, Any], kept: dict[str, Any]) -> None:
    model = args.get("face_swapper_model")
    if model in _CATALOG_SWAPPERS:
        values["face_swapper_model"] = _CATALOG_SWAPPERS[model]
    else:
        kept["face_swapper_model"] = model
    boost = str(args.get("face_swapper_pixel_boost") or "")
    if "x" in boost:
        values["face_swapper_pixel_boost"] = boost.split("x", 1)[0]


def _editor(args: dict[str, Any], values: dict[str, Any], kept: dict[str, Any]) -> None:
    def read(name: str) -> float:
        return float(args.get(f"face_editor_{name}") or 0.0)

    if args.get("face_editor_model") not in models.EDITORS.values():
        kept["face_editor_model"] = args.get("face_editor_model")
    eyebrow = {1.0: "up", -1.0: "down", 0.0: "neutral"}.get(read("eyebrow_direction"))
    if eyebrow is None:
        kept["face_editor_eyebrow_direction"] = read("eyebrow_direction")
    else:
        values["face_editor_eyebrow_direction"] = eyebrow
    gaze = (read("eye_gaze_horizontal"), read("eye_gaze_vertical"))
    named = [name for name, point in ff_args._GAZE.items() if point == gaze]
    if named:
        values["face_editor_eye_gaze"] = named[0]
    else:
        kept["face_editor_eye_gaze_horizontal"], kept["face_editor_eye_gaze_vertical"] = gaze
    values["face_editor_eye_open_ratio"] = _round(read("eye_open_ratio") + 1.0)
    values["face_editor_lip_open_ratio"] = _round(read("lip_open_ratio") + 1.0)
    for name in ("grim", "pout", "purse", "smile"):
        values[f"face_editor_mouth_{name}"] = _round(read(f"mouth_{name}"))
    values["face_editor_mouth_position"] = _round(read("mouth_position_vertical"))
    for axis, degrees in ff_args._HEAD_DEGREES.items():
        values[f"face_editor_head_{axis}"] = _round(read(f"head_{axis}") * degrees)


def _round(value: float) -> float:
    rounded = round(value, 4)
    return 0.0 if math.isclose(rounded, 0.0, abs_tol=1e-9) else rounded


@dataclass
class ExportStep:
    """One pipeline step to write as a FaceFusion job step."""

    name: str
    op: str
    values: dict[str, Any]
    """Its catalog parameters; a file read from an earlier step is that step's index instead
    (``target_step``, ``source_step``) and is absent here."""
    target_step: int | None = None
    source_step: int | None = None


@dataclass
class ExportedJob:
    """A FaceFusion job written by :func:`export_job`."""

    job_id: str
    path: str
    outputs: list[str]
    """Each step's final output path (FaceFusion moves it there when the job completes)."""
    notes: list[str]
    """Emulation lines, as a render's result would carry them, prefixed by the step's name."""


_EXPORTABLE = ("swap", "enhance", "edit", "process")


def export_job(
    engine: Any,
    steps: list[ExportStep],
    *,
    jobs_path: Path,
    job_id: str,
    out_dir: Path,
    submit: bool = True,
) -> ExportedJob:
    """Write ``steps`` as FaceFusion job ``job_id`` in ``jobs_path`` (queued, or drafted when
    not ``submit``), with FaceFusion's own job manager in ``engine``'s worker.

    Each step gets the arguments the engine would run it with; anything a FaceFusion job cannot
    express (work ffpipe does around FaceFusion) is refused naming the step and parameter.
    """
    from ffpipe.engine.api import RunContext, UnsupportedError

    context = RunContext(out_dir=out_dir)
    facts: list[ff_args.Target] = []
    written: list[dict[str, Any]] = []
    outputs: list[str] = []
    notes: list[str] = []
    for step in steps:

        def refuse(reason: str, step: ExportStep = step) -> UnsupportedError:
            return UnsupportedError(
                f"step {step.name} ({step.op}) cannot be a FaceFusion job step: {reason}"
            )

        if step.op not in _EXPORTABLE:
            raise refuse(f"FaceFusion jobs run processors on a target; {step.op} is not one")
        spec = OPS[step.op]
        values = dict(step.values)
        if step.target_step is not None:
            values["target_media"] = outputs[step.target_step]
        if step.source_step is not None:
            values["source_face"] = outputs[step.source_step]
        for name in spec.file_fields:
            if values.get(name) is not None:
                values[name] = str(Path(values[name]).absolute())
        params = spec.params.model_validate(values)
        target = Path(params.target_media)
        if step.target_step is not None:
            target_facts = facts[step.target_step]
        else:
            target_facts = _analyse(engine, params, target, context, refuse)
        problems = ff_args.refusals(
            step.op,
            params,
            providers=engine.providers,
            encoders=engine.encoders,
            target_is_video=target_facts.is_video,
        )
        if params.output_image_resolution and not target_facts.is_video:
            problems.append(
                "output_image_resolution: FaceFusion scales by steps of 0.25 and ffpipe resizes "
                "to the exact size after it; use output_image_resolution: null"
            )
        if len(ff_args.passes(step.op, params, target_facts)) > 1:
            problems.append(
                f"face_editor_blend={params.face_editor_blend:g}: ffpipe blends the edit after "
                "FaceFusion's pass; a job step cannot (use 1.0)"
            )
        name = params.output_path or target.name
        if Path(name).suffix.lower() != target.suffix.lower():
            problems.append(
                f"output_path {name!r}: FaceFusion writes its target's format ({target.suffix})"
            )
        source = _source(engine, step, params, context, problems)
        if problems:
            raise refuse("; ".join(problems))
        output = out_dir / step.name / name
        output.parent.mkdir(parents=True, exist_ok=True)
        call = ff_args.build_call(step.op, params, target_facts, source=source, output=str(output))
        engine._check_models(call.files)
        written.append(
            {"argv": call.argv, "target_step": step.target_step, "source_step": step.source_step}
        )
        outputs.append(str(output))
        facts.append(target_facts)
        notes += [f"{step.name}: {line}" for line in call.emulated]
    answer = engine._request(
        "write_job",
        {"jobs_path": str(jobs_path), "job_id": job_id, "steps": written, "submit": submit},
        context,
    )
    return ExportedJob(job_id, str(answer["path"]), outputs, notes)


def _analyse(engine: Any, params: Any, target: Path, context: Any, refuse: Any) -> Any:
    probe = engine._request("probe", {"path": str(target)}, context)
    if probe["kind"] is None:
        raise refuse(f"target_media {target.name} is neither an image nor a video")
    faces = engine._faces(params, target, context, start=params.trim_frame_start or 0)
    return ff_args.Target(
        is_video=probe["kind"] == "video",
        width=int(probe["width"]),
        height=int(probe["height"]),
        faces=faces["faces"],
        reference_frame=int(faces["frame"] or 0),
    )


def _source(
    engine: Any, step: ExportStep, params: Any, context: Any, problems: list[str]
) -> str | None:
    """The ``-s`` path; a source FaceFusion would not read as ffpipe does is a problem."""
    if not ff_args.uses(step.op, params, "swap"):
        return None
    if not params.source_face:
        problems.append("swap needs a source_face")
        return None
    if step.source_step is not None:
        return str(params.source_face)
    source = Path(params.source_face)
    probe = engine._request("probe", {"path": str(source)}, context)
    if probe["kind"] != "image":
        problems.append(f"source_face {source.name}: FaceFusion takes image sources only")
        return None
    found = len(engine._faces(params, source, context)["faces"])
    if found != 1:
        problems.append(
            f"source_face {source.name} shows {found} faces: ffpipe hands FaceFusion face "
            f"{params.source_face_index} alone, a job step cannot; crop the source to one face"
        )
    return str(source)
