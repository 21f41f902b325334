"""Every catalog parameter on FaceFusion 3.8.1: exact, emulated around FaceFusion, or refused.

Read from FaceFusion 3.8.1's own source (its ``program.py``, ``args.py`` and processor modules).
``exact``: a FaceFusion flag does what the catalog says (values may be renamed or rescaled one to
one). ``emulated``: FaceFusion has no such flag, and ffpipe does the work around the call (or
FaceFusion's nearest flag comes close); each use is reported in the result's ``warnings``.
``refused``: it cannot be honoured; a non-default value is an error naming the parameter, never
silently dropped. The table is the single source for capabilities, the plan and the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["exact", "emulated", "refused"]
EXACT: Status = "exact"
EMULATED: Status = "emulated"
REFUSED: Status = "refused"


@dataclass(frozen=True)
class Row:
    """How one catalog parameter reaches FaceFusion."""

    status: Status
    facefusion: str
    """The FaceFusion flag(s) or mechanism used."""
    note: str = ""


def _exact(facefusion: str, note: str = "") -> Row:
    return Row(EXACT, facefusion, note)


def _emulated(facefusion: str, note: str) -> Row:
    return Row(EMULATED, facefusion, note)


def _refused(note: str) -> Row:
    return Row(REFUSED, "-", note)


_EXPRESSION_NOTE = "the same control on FaceFusion's -1..1 scale"

TABLE: dict[str, Row] = {
    # files
    "target_media": _exact("-t/--target-path"),
    "source_face": _exact(
        "-s/--source-paths",
        "FaceFusion takes image sources only: from a video source the first frame showing the "
        "face is extracted first (reported as emulated when it happens)",
    ),
    "output_path": _exact(
        "-o/--output-path",
        "FaceFusion writes an image in its target's format: another image extension is "
        "converted after the call (reported as emulated); a video must keep the target's "
        "container",
    ),
    # face selection
    "source_face_index": _emulated(
        "(none)",
        "FaceFusion uses the largest source face: when the source shows several, ffpipe hands "
        "it an image of face N alone (faces counted left to right, as detect lists them)",
    ),
    "target_face_index": _emulated(
        "--face-selector-mode reference --reference-face-position N --reference-face-distance 0.05",
        "FaceFusion selects by similarity to a reference face: face N (left to right) becomes "
        "the reference, and only faces nearly identical to it are processed",
    ),
    "reference_face_position": _exact(
        "--reference-face-position (with --face-selector-order left-right)",
        "faces are counted left to right, as detect lists them",
    ),
    "reference_face_distance": _exact(
        "--reference-face-distance", "FaceFusion accepts steps of 0.05: rounded to the nearest"
    ),
    # masks
    "face_mask_types": _exact("--face-mask-types box occlusion region"),
    "face_mask_blur": _exact("--face-mask-blur", "steps of 0.05: rounded to the nearest"),
    "face_mask_padding": _emulated(
        "--face-mask-padding",
        "FaceFusion pads in percent of the face crop: pixels are converted with the size of "
        "the reference face FaceFusion detects",
    ),
    "face_mask_regions": _refused(
        "FaceFusion's region mask takes named regions (skin, eyes, nose, mouth, ...), not "
        "polygons; the catalog's polygons have no FaceFusion equivalent"
    ),
    # detection
    "face_detector_model": _exact(
        "--face-detector-model", "yoloface is FaceFusion's yolo_face (yoloface_8n)"
    ),
    "face_detector_size": _exact(
        "--face-detector-size",
        "retinaface and scrfd take 320x320 and 640x640; yolo_face and yunet only 640x640; "
        "1280x1280 is refused",
    ),
    "face_detector_score": _exact("--face-detector-score", "steps of 0.05: rounded"),
    "face_landmarker_model": _exact("--face-landmarker-model"),
    # swapper
    "face_swapper_model": _exact(
        "--face-swapper-model",
        "simswap_512_unofficial is FaceFusion's simswap_unofficial_512 and ghost_2_unet_2 its "
        "ghost_2_256",
    ),
    "face_swapper_pixel_boost": _exact(
        "--face-swapper-pixel-boost NxN",
        "the sizes FaceFusion allows for the model; others refused",
    ),
    # enhancer
    "face_enhancer_model": _exact("--face-enhancer-model"),
    "face_enhancer_blend": _exact("--face-enhancer-blend", "0.0-1.0 becomes 0-100"),
    "face_enhancer_iterations": _emulated(
        "--processors face_enhancer face_enhancer ...",
        "no iterations flag: the enhancer is listed N times in one processor chain",
    ),
    # editor
    "face_editor_model": _exact("--face-editor-model", "live_portrait; face_editor_v1 is refused"),
    "face_editor_blend": _emulated(
        "(none)",
        "FaceFusion's face editor has no blend flag: on images the edit runs as a FaceFusion "
        "pass of its own and is blended with the image before it; on videos only 1.0 can run",
    ),
    "face_editor_age": _emulated(
        "age_modifier processor: --age-modifier-direction",
        "FaceFusion changes age relative to its own estimate: the direction is the target age "
        "minus the age FaceFusion's classifier estimates for the reference face",
    ),
    "face_editor_age_direction": _emulated(
        "sign of --age-modifier-direction",
        "auto follows the target age; younger and older set the sign",
    ),
    "face_editor_eyebrow_direction": _emulated(
        "--face-editor-eyebrow-direction", "up 1.0, down -1.0, neutral 0.0"
    ),
    "face_editor_eye_gaze": _emulated(
        "--face-editor-eye-gaze-horizontal / --face-editor-eye-gaze-vertical",
        "left/right are horizontal -1.0/1.0, up/down vertical 1.0/-1.0",
    ),
    "face_editor_eye_open_ratio": _emulated(
        "--face-editor-eye-open-ratio", "0.0-2.0 (1.0 neutral) becomes -1.0..1.0 (0 neutral)"
    ),
    "face_editor_lip_open_ratio": _emulated(
        "--face-editor-lip-open-ratio", "0.0-2.0 (1.0 neutral) becomes -1.0..1.0 (0 neutral)"
    ),
    "face_editor_mouth_grim": _exact("--face-editor-mouth-grim", _EXPRESSION_NOTE),
    "face_editor_mouth_pout": _exact("--face-editor-mouth-pout", _EXPRESSION_NOTE),
    "face_editor_mouth_purse": _exact("--face-editor-mouth-purse", _EXPRESSION_NOTE),
    "face_editor_mouth_smile": _exact("--face-editor-mouth-smile", _EXPRESSION_NOTE),
    "face_editor_mouth_position": _exact("--face-editor-mouth-position-vertical"),
    "face_editor_head_pitch": _emulated(
        "--face-editor-head-pitch", "degrees become FaceFusion's scale (1.0 = 20 degrees), clamped"
    ),
    "face_editor_head_yaw": _emulated(
        "--face-editor-head-yaw", "degrees become FaceFusion's scale (1.0 = 60 degrees)"
    ),
    "face_editor_head_roll": _emulated(
        "--face-editor-head-roll", "degrees become FaceFusion's scale (1.0 = 15 degrees), clamped"
    ),
    "face_editor_face_shape": _refused("FaceFusion's face editor has no face shape control"),
    "face_editor_nose_length": _refused("FaceFusion's face editor has no nose controls"),
    "face_editor_nose_width": _refused("FaceFusion's face editor has no nose controls"),
    "face_editor_eye_distance": _refused("FaceFusion's face editor has no eye distance control"),
    "face_editor_eye_size": _refused("FaceFusion's face editor has no eye size control"),
    "face_editor_lip_size": _refused("FaceFusion's face editor has no lip size control"),
    "face_editor_hair_style": _refused("FaceFusion has no hair processor"),
    "face_editor_hair_color": _refused("FaceFusion has no hair processor"),
    # output
    "output_image_quality": _exact("--output-image-quality"),
    "output_image_resolution": _emulated(
        "--output-image-scale",
        "FaceFusion scales by a factor (0.25-8.0 in steps of 0.25): the factor comes from the "
        "target's size, and the image is brought to the exact size after the call",
    ),
    "output_video_resolution": _emulated(
        "--output-video-scale",
        "the factor (0.25-8.0 in steps of 0.25) computed from the target's size; a size no "
        "factor reaches is refused",
    ),
    "output_video_encoder": _exact(
        "--output-video-encoder", "only encoders FaceFusion's ffmpeg lists; others refused"
    ),
    "output_video_preset": _exact("--output-video-preset"),
    "output_video_quality": _exact("--output-video-quality"),
    "output_video_fps": _exact("--output-video-fps"),
    "trim_frame_start": _exact("--trim-frame-start"),
    "trim_frame_end": _exact("--trim-frame-end", "exclusive in both"),
    "skip_audio": _emulated(
        "--output-audio-volume 0", "FaceFusion 3.2 removed --skip-audio; volume 0 leaves audio out"
    ),
    "video_memory_strategy": _emulated(
        "--video-memory-strategy tolerant",
        "the persistent worker always keeps models loaded (tolerant); this changes memory use "
        "only, never the output",
    ),
    "keep_temp": _refused("FaceFusion 3.8 removed --keep-temp; only false can be run"),
    "temp_frame_format": _exact("--temp-frame-format", "jpg is FaceFusion's jpeg"),
    "temp_frame_quality": _emulated(
        "(none)", "FaceFusion 3.8 has no temp frame quality; frames stay in memory, unaffected"
    ),
    # extraction
    "extract_frames": _emulated(
        "FaceFusion's frame extraction (facefusion.ffmpeg.extract_frames)",
        "no command runs extraction alone: the worker calls FaceFusion's own function",
    ),
    "extract_frame_format": _emulated(
        "--temp-frame-format", "frames are extracted by FaceFusion and written in this format"
    ),
    "extract_frame_quality": _emulated(
        "(none)", "FaceFusion extracts losslessly; jpg frames are written at this quality"
    ),
    # processing
    "processors": _exact(
        "--processors",
        "swap face_swapper, enhance face_enhancer, edit face_editor and/or age_modifier",
    ),
    "execution_device_id": _exact("--execution-device-ids"),
    "execution_thread_count": _exact("--execution-thread-count", "1-32; more is clamped to 32"),
    "execution_queue_count": _emulated(
        "(none)", "FaceFusion 3.4 removed queues; frames run on --execution-thread-count threads"
    ),
    "face_detector_device": _exact(
        "--execution-providers cpu|cuda",
        "FaceFusion runs all models on one set of providers: the three device parameters must "
        "agree; cuda needs onnxruntime's CUDA provider",
    ),
    "face_recognizer_device": _exact("--execution-providers", "as face_detector_device"),
    "face_enhancer_device": _exact("--execution-providers", "as face_detector_device"),
    # job options: handled before the engine
    "job_id": _exact("(ffpipe's job queue)", "a job option, not a FaceFusion setting"),
    "priority": _exact("(ffpipe's job queue)", "a job option, not a FaceFusion setting"),
    "callback_url": _exact("(ffpipe's job queue)", "a job option, not a FaceFusion setting"),
}


def parameter_statuses() -> dict[str, dict[str, str]]:
    """The table as JSON: parameter -> status, FaceFusion flag, note."""
    return {
        name: {"status": row.status, "facefusion": row.facefusion, "note": row.note}
        for name, row in TABLE.items()
    }


def markdown_table() -> str:
    """The table as Markdown (the README's mapping section is generated from it)."""
    lines = ["| catalog parameter | status | FaceFusion 3.8.1 | note |", "|---|---|---|---|"]
    for name, row in TABLE.items():
        cells = [f"`{name}`", row.status, row.facefusion, row.note]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
