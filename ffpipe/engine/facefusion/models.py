"""Which FaceFusion model files a request uses, and whether each is present in the checkout.

Model files live in ``<checkout>/.assets/models/NAME.onnx`` with ``NAME.hash`` beside them: the
hash is ``format(zlib.crc32(file), '08x')`` and FaceFusion re-downloads a file that does not match.
A file is *present* when it exists and matches its hash; *downloadable* when it is not, but the
worker may download (``--facefusion-downloads``); *missing* otherwise. The ``.hash`` text is the
model's digest in every step's cache key.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRESENT = "present"
DOWNLOADABLE = "downloadable"
MISSING = "missing"

# Catalog model names -> FaceFusion's.
DETECTORS = {
    "retinaface": "retinaface",
    "yoloface": "yolo_face",
    "scrfd": "scrfd",
    "yunet": "yunet",
}
SWAPPERS = {
    "inswapper_128": "inswapper_128",
    "inswapper_128_fp16": "inswapper_128_fp16",
    "simswap_256": "simswap_256",
    "simswap_512_unofficial": "simswap_unofficial_512",
    "ghost_2_unet_2": "ghost_2_256",
    "uniface_256": "uniface_256",
}
EDITORS = {"live_portrait": "live_portrait"}
AGE_MODIFIER = "fran"

# FaceFusion model name -> the files (stems under .assets/models) it loads.
_DETECTOR_FILES = {
    "retinaface": ("retinaface_10g",),
    "yolo_face": ("yoloface_8n",),
    "scrfd": ("scrfd_2.5g",),
    "yunet": ("yunet_2023_mar",),
}
_SWAPPER_FILES = {
    "inswapper_128": ("inswapper_128",),
    "inswapper_128_fp16": ("inswapper_128_fp16",),
    "simswap_256": ("simswap_256", "crossface_simswap"),
    "simswap_unofficial_512": ("simswap_unofficial_512", "crossface_simswap"),
    "ghost_2_256": ("ghost_2_256", "crossface_ghost"),
    "uniface_256": ("uniface_256",),
}
_LIVE_PORTRAIT = tuple(
    f"live_portrait_{part}"
    for part in (
        "feature_extractor",
        "motion_extractor",
        "eye_retargeter",
        "lip_retargeter",
        "stitcher",
        "generator",
    )
)
RECOGNIZER = "arcface_w600k_r50"
CLASSIFIER = "fairface"
LANDMARK_5_TO_68 = "fan_68_5"
CONTENT_ANALYSER = ("nsfw_1", "nsfw_2", "nsfw_3")
MASKERS = ("xseg_1", "bisenet_resnet_34")
"""FaceFusion's default occluder and parser: checked before every processor runs."""


def analysis_files(detector: str, landmarker: str) -> list[str]:
    """Files FaceFusion's face analysis loads: detector, landmarkers, recognizer, classifier."""
    return [*_DETECTOR_FILES[detector], landmarker, LANDMARK_5_TO_68, RECOGNIZER, CLASSIFIER]


def processor_files(processor: str, options: dict[str, str]) -> list[str]:
    """Files of one FaceFusion processor with the chosen ``options`` (model names)."""
    if processor == "face_swapper":
        return list(_SWAPPER_FILES[options["face_swapper_model"]])
    if processor == "face_enhancer":
        return [options["face_enhancer_model"]]
    if processor == "face_editor":
        return list(_LIVE_PORTRAIT)
    if processor == "age_modifier":
        return [AGE_MODIFIER]
    raise KeyError(processor)


def run_files(detector: str, landmarker: str, processors: list[str], options: dict[str, str]):
    """Every file a headless run with these processors loads or checks, in a stable order."""
    files = [*CONTENT_ANALYSER, *analysis_files(detector, landmarker), *MASKERS]
    for processor in processors:
        files += processor_files(processor, options)
    return list(dict.fromkeys(files))


@dataclass(frozen=True)
class ModelState:
    """One model file: its status and the text of its .hash file (None when absent)."""

    status: str
    digest: str | None


class ModelFiles:
    """Reads model files' hashes and checks files against them, remembering checked files."""

    def __init__(self, models_dir: Path, *, allow_downloads: bool = False) -> None:
        self.models_dir = models_dir
        self.allow_downloads = allow_downloads
        self._checked: dict[Path, tuple[tuple[int, int], bool]] = {}
        self._lock = threading.Lock()

    def digest(self, name: str) -> str | None:
        """The exact text of ``NAME.hash``, or None without one."""
        try:
            return (self.models_dir / f"{name}.hash").read_text(encoding="utf-8").strip()
        except OSError:
            return None

    def digests(self, names: list[str]) -> dict[str, str]:
        """``{name: hash text}`` for the cache key (``"absent"`` for a file with no hash)."""
        return {name: self.digest(name) or "absent" for name in names}

    def state(self, name: str) -> ModelState:
        digest = self.digest(name)
        present = digest is not None and self._matches(self.models_dir / f"{name}.onnx", digest)
        if present:
            return ModelState(PRESENT, digest)
        return ModelState(DOWNLOADABLE if self.allow_downloads else MISSING, digest)

    def _matches(self, path: Path, digest: str) -> bool:
        try:
            info = path.stat()
        except OSError:
            return False
        signature = (info.st_size, info.st_mtime_ns)
        with self._lock:
            known = self._checked.get(path)
        if known is not None and known[0] == signature:
            return known[1]
        # Checked in one go as FaceFusion does: the files are read whole.
        matches = format(zlib.crc32(path.read_bytes()), "08x") == digest
        with self._lock:
            self._checked[path] = (signature, matches)
        return matches

    def unusable(self, names: list[str]) -> list[str]:
        """``"NAME (missing)"`` for each of ``names`` that is not present."""
        found = []
        for name in names:
            state = self.state(name)
            if state.status != PRESENT:
                found.append(f"{name} ({state.status})")
        return found

    def report(self, inventory: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
        """Every model FaceFusion knows (from the worker's inventory) with its files' status."""
        report: dict[str, Any] = {}
        for module, models in inventory.items():
            for model, paths in models.items():
                stems = [Path(path).stem for path in paths if path.endswith(".onnx")]
                states = [self.state(stem) for stem in stems]
                statuses = {state.status for state in states}
                status = PRESENT if statuses == {PRESENT} else MISSING
                if status != PRESENT and self.allow_downloads:
                    status = DOWNLOADABLE
                report.setdefault(module, {})[model] = {"status": status, "files": stems}
        return report
