"""Write the README's before/after pictures, made by the builtin engine from the sample photos.

Run from the repository root: ``.venv/bin/python docs/make_pictures.py``. It writes
``docs/images/<op>_before.jpg`` and ``<op>_after.jpg`` for detect, swap, enhance, edit and
process. The video ops (video, extract_frames) have no still to show.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ffpipe.engine import RunContext
from ffpipe.engine.builtin import BuiltinEngine

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "media" / "astronaut.jpg"
GRACE = ROOT / "media" / "grace_hopper.jpg"
IMAGES = Path(__file__).resolve().parent / "images"
# The pictures show the head: a crop around it, scaled to this width.
WIDTH = 320


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def _head(picture: np.ndarray, source: Path) -> np.ndarray:
    top, bottom, left, right = {
        ASTRONAUT.name: (20, 260, 100, 340),
        GRACE.name: (60, 420, 90, 450),
    }[source.name]
    crop = picture[top:bottom, left:right]
    height = round(crop.shape[0] * WIDTH / crop.shape[1])
    return cv2.resize(crop, (WIDTH, height), interpolation=cv2.INTER_AREA)


def _save(name: str, picture: np.ndarray) -> None:
    cv2.imwrite(str(IMAGES / name), picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote docs/images/{name}")


def _degraded(folder: Path) -> Path:
    """Grace Hopper's portrait made soft and blocky, for the enhancer to work on."""
    picture = _read(GRACE)
    small = cv2.resize(picture, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    soft = cv2.resize(small, (picture.shape[1], picture.shape[0]), interpolation=cv2.INTER_LINEAR)
    path = folder / "grace_soft.jpg"
    cv2.imwrite(str(path), soft, [cv2.IMWRITE_JPEG_QUALITY, 35])
    return path


def _detect_drawing(picture: np.ndarray, faces_json: Path) -> np.ndarray:
    drawn = picture.copy()
    for face in json.loads(faces_json.read_text())["faces"]:
        left, top, right, bottom = face["box"]
        cv2.rectangle(drawn, (left, top), (right, bottom), (60, 220, 60), 2)
        for x, y in face["landmarks"]:
            cv2.circle(drawn, (round(x), round(y)), 2, (40, 40, 240), -1)
        label = f"face {face['index']}: {face['score']:.2f}"
        cv2.putText(drawn, label, (left, top - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (60, 220, 60), 1)
    return drawn


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    engine = BuiltinEngine()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        context = RunContext(folder / "out")
        soft = _degraded(folder)
        runs = {
            "detect": (ASTRONAUT, {"target_media": str(ASTRONAUT)}),
            "swap": (ASTRONAUT, {"source_face": str(GRACE), "target_media": str(ASTRONAUT)}),
            "enhance": (
                soft,
                {"target_media": str(soft), "face_enhancer_blend": 1.0, "output_path": "e.png"},
            ),
            "edit": (
                ASTRONAUT,
                {
                    "target_media": str(ASTRONAUT),
                    "face_editor_mouth_smile": 0.8,
                    "face_editor_age": 70,
                    "face_editor_age_direction": "older",
                    "face_editor_head_roll": 8.0,
                    "output_path": "edit.png",
                },
            ),
            "process": (
                GRACE,
                {
                    "source_face": str(ASTRONAUT),
                    "target_media": str(GRACE),
                    "processors": ["swap", "enhance", "edit"],
                    "face_enhancer_blend": 0.6,
                    "face_editor_eye_open_ratio": 1.3,
                    "output_path": "process.png",
                },
            ),
        }
        for op, (target, params) in runs.items():
            output = engine.run(op, params, context).files["output"]
            before = _read(target)
            after = _detect_drawing(before, output) if op == "detect" else _read(output)
            crop_as = GRACE if target == soft else target
            _save(f"{op}_before.jpg", _head(before, crop_as))
            _save(f"{op}_after.jpg", _head(after, crop_as))
    return 0


if __name__ == "__main__":
    sys.exit(main())
