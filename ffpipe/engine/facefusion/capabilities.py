"""What the ``facefusion`` engine offers: its description, every model's status, their digests.

The worker describes the install once (FaceFusion's version, execution providers, encoders, its
models); the rest is read from the model files in the checkout, so a replaced file shows at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ffpipe.catalog import OPS
from ffpipe.catalog.edit import FACE_EDITOR_MODELS
from ffpipe.catalog.enhance import FACE_ENHANCER_MODELS
from ffpipe.catalog.swap import FACE_LANDMARKER_MODELS
from ffpipe.engine.facefusion import models
from ffpipe.engine.facefusion.arguments import files_for
from ffpipe.engine.facefusion.process import WorkerProcess
from ffpipe.engine.facefusion.table import REFUSED, TABLE, parameter_statuses

ENGINE_NAME = "facefusion"
DESCRIPTION_KEYS = (
    "version",
    "execution_providers",
    "encoders",
    "models",
    "python",
    "onnxruntime",
)
"""What the worker's ``describe`` answer says of the install that the engine keeps."""


def describe(worker: WorkerProcess) -> dict[str, Any]:
    """The install as the worker sees it (started if it is not): version, providers, encoders,
    models and Python."""
    worker.start()
    answer = worker.request("describe")
    return {key: answer[key] for key in DESCRIPTION_KEYS}


def document(
    *,
    version: str,
    description: Mapping[str, Any],
    model_files: models.ModelFiles,
    strict_models: bool,
) -> dict[str, Any]:
    """Version, ops, every model's status, providers, encoders and every parameter's status."""
    providers = list(description["execution_providers"])
    return {
        "engine": ENGINE_NAME,
        "version": version,
        # No host paths: a served capabilities document is public to its clients.
        "facefusion": {"version": description["version"], "python": description["python"]},
        "ops": list(OPS),
        "models": catalog_models(model_files),
        "facefusion_models": model_files.report(description["models"]),
        "model_digests": model_digests(model_files),
        "parameters": parameter_statuses(),
        "unsupported": {name: row.note for name, row in TABLE.items() if row.status == REFUSED},
        "devices": [p for p in providers if p in ("cpu", "cuda")],
        "execution_providers": providers,
        "encoders": list(description["encoders"]["video"]),
        "audio_encoders": list(description["encoders"]["audio"]),
        "strict_models": strict_models,
        "limits": {"image_formats": ["jpg", "jpeg", "png", "bmp", "tiff", "webp"]},
    }


def catalog_models(model_files: models.ModelFiles) -> dict[str, dict[str, dict[str, Any]]]:
    """Catalog model names: run exactly (under FaceFusion's name), with their files' status."""
    names = {
        "face_detector_model": dict(models.DETECTORS),
        "face_landmarker_model": {name: name for name in FACE_LANDMARKER_MODELS},
        "face_swapper_model": dict(models.SWAPPERS),
        "face_enhancer_model": {name: name for name in FACE_ENHANCER_MODELS},
        "face_editor_model": {name: models.EDITORS.get(name, "") for name in FACE_EDITOR_MODELS},
    }
    report: dict[str, dict[str, dict[str, Any]]] = {}
    for parameter, choices in names.items():
        for catalog, facefusion in choices.items():
            if not facefusion:
                report.setdefault(parameter, {})[catalog] = {
                    "status": "refused",
                    "used": "FaceFusion 3.8.1 has no such model",
                }
                continue
            files = _files_of(parameter, facefusion)
            missing = model_files.unusable(files)
            report.setdefault(parameter, {})[catalog] = {
                "status": "exact",
                "used": f"FaceFusion {facefusion}",
                "files": files,
                "available": not missing,
            }
    return report


def model_digests(model_files: models.ModelFiles) -> dict[str, dict[str, Any]]:
    """Per catalog model parameter and value, the .hash of each file it loads, and the
    files every face op loads (``common``): remote clients key their steps on them.

    The age modifier has no catalog model parameter; it is counted with the editor."""
    digests: dict[str, dict[str, Any]] = {
        "common": model_files.digests(
            [
                *models.CONTENT_ANALYSER,
                models.LANDMARK_5_TO_68,
                models.RECOGNIZER,
                models.CLASSIFIER,
                *models.MASKERS,
            ]
        )
    }
    for parameter, choices in catalog_models(model_files).items():
        for catalog, entry in choices.items():
            files = list(entry.get("files", []))
            if parameter == "face_editor_model" and files:
                files.append(models.AGE_MODIFIER)
            digests.setdefault(parameter, {})[catalog] = model_files.digests(files)
    return digests


def step_models(
    model_files: models.ModelFiles, op: str, params: Mapping[str, Any]
) -> dict[str, str]:
    """``{model file: its .hash}`` of every model a step of ``op`` uses (for its cache key)."""
    spec = OPS.get(op)
    if spec is None:
        return {}
    return model_files.digests(files_for(op, spec.params.model_construct(**dict(params))))


def _files_of(parameter: str, facefusion: str) -> list[str]:
    if parameter == "face_detector_model":
        return models.analysis_files(facefusion, "2dfan4")[:1]
    if parameter == "face_landmarker_model":
        return [facefusion]
    if parameter == "face_swapper_model":
        return models.processor_files("face_swapper", {"face_swapper_model": facefusion})
    if parameter == "face_enhancer_model":
        return [facefusion]
    return models.processor_files("face_editor", {})
