"""The dlib models shipped in ``face_recognition_models``, loaded once per process, lazily."""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()

HOG_DETECTOR = "dlib-hog-frontal"
LANDMARKER = "dlib-shape-predictor-68"
RECOGNIZER = "dlib-resnet-face-recognition-v1"


def models_dir() -> Path:
    """Folder holding the model files of the ``face_recognition_models`` package.

    The package's own ``__init__`` needs ``pkg_resources``, which recent setuptools dropped, so its
    folder is located without importing it.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face_recognition_models package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@cache
def _load(kind: str) -> Any:
    import dlib

    folder = models_dir()
    if kind == HOG_DETECTOR:
        return dlib.get_frontal_face_detector()
    if kind == LANDMARKER:
        return dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))
    if kind == RECOGNIZER:
        return dlib.face_recognition_model_v1(
            str(folder / "dlib_face_recognition_resnet_model_v1.dat")
        )
    raise KeyError(kind)


def model(kind: str) -> Any:
    """The model ``kind`` (one of the constants above), loaded on first use, thread-safe."""
    with _LOCK:
        return _load(kind)
