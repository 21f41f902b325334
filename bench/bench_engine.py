"""The builtin engine on the sample photos: detection and swap speed, and identity distances.

Speed targets on a 512x512 portrait with the models loaded: detection under 0.1 s, a whole swap
op (decode, detect source and target, warp, blend, encode) under 0.3 s median. Identity: after a
swap the face's embedding must be closer to the source face than to the target's original face.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import Section, table

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "media" / "astronaut.jpg"
GRACE = ROOT / "media" / "grace_hopper.jpg"


def _load(path: Path) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _collage() -> np.ndarray:
    import cv2

    astronaut = cv2.resize(_load(ASTRONAUT)[30:250, 110:330], (240, 240), cv2.INTER_CUBIC)
    grace = cv2.resize(_load(GRACE)[100:400, 120:420], (240, 240), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.hstack([astronaut, grace, astronaut[:, ::-1]]))


def _timings(action: Callable[[], object], repeat: int = 7) -> tuple[float, float]:
    """Median and fastest wall time of ``action``; the fastest shows the cost on a quiet machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def _speed() -> list[list[object]]:
    from ffpipe.engine import RunContext
    from ffpipe.engine.builtin import BuiltinEngine
    from ffpipe.engine.builtin.faces import detect_faces

    portrait = _load(ASTRONAUT)
    engine = BuiltinEngine()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as folder:
        context = RunContext(Path(folder))
        swap = {"source_face": str(GRACE), "target_media": str(ASTRONAUT)}
        engine.run("swap", swap, context)
        cases = [
            (
                "detection (boxes + 68 landmarks)",
                0.1,
                lambda: detect_faces(portrait, with_embeddings=False),
            ),
            ("detection + embedding", None, lambda: detect_faces(portrait)),
            ("swap op, 512x512 JPEG in and out", 0.3, lambda: engine.run("swap", swap, context)),
            (
                "enhance op (gfpgan_1.4 stand-in)",
                None,
                lambda: engine.run("enhance", {"target_media": str(ASTRONAUT)}, context),
            ),
            (
                "edit op (smile 0.5)",
                None,
                lambda: engine.run(
                    "edit",
                    {"target_media": str(ASTRONAUT), "face_editor_mouth_smile": 0.5},
                    context,
                ),
            ),
        ]
        for label, target, action in cases:
            median, fastest = _timings(action)
            verdict = "" if target is None else ("pass" if median < target else "FAIL")
            goal = "" if target is None else f"< {target}"
            rows.append([label, f"{median:.3f}", f"{fastest:.3f}", goal, verdict])
    return rows


def _nearest(image: np.ndarray, box: tuple[int, int, int, int]):
    from ffpipe.engine.builtin.faces import detect_faces

    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    faces = detect_faces(image, score=0.25)
    return min(faces, key=lambda face: float(np.linalg.norm(np.array(face.center) - centre)))


def _identity() -> list[list[object]]:
    from ffpipe.engine.builtin.faces import detect_faces, embedding_distance
    from ffpipe.engine.builtin.swap import prepare_source, swap_face

    people = {"astronaut": _load(ASTRONAUT), "grace": _load(GRACE)}
    faces = {name: detect_faces(image)[0] for name, image in people.items()}
    other = {"astronaut": "grace", "grace": "astronaut"}
    jobs = [
        (f"{other[name]} onto {name}", people[name], faces[name], other[name])
        for name in ("astronaut", "grace")
    ]
    picture = _collage()
    for number, face in enumerate(detect_faces(picture)):
        who = min(faces, key=lambda name: embedding_distance(face.embedding, faces[name].embedding))
        jobs.append((f"{other[who]} onto collage face {number} ({who})", picture, face, other[who]))
    rows: list[list[object]] = []
    for label, image, target, source in jobs:
        for boost in (128, 256):
            prepared = prepare_source(people[source], faces[source])
            swapped = _nearest(swap_face(image, target, prepared, boost), target.box)
            to_source = embedding_distance(swapped.embedding, faces[source].embedding)
            to_target = embedding_distance(swapped.embedding, target.embedding)
            verdict = "pass" if to_source < to_target else "FAIL"
            rows.append([label, boost, f"{to_source:.3f}", f"{to_target:.3f}", verdict])
    return rows


def run() -> Section:
    speed = table(["what", "median s", "fastest s", "target (median)", ""], _speed())
    identity = table(
        ["swap", "pixel boost", "to source", "to original target", "closer to source"],
        _identity(),
    )
    body = "\n\n".join(
        [
            "Median of 7 runs each, models loaded, on the 512x512 astronaut portrait "
            "(source: the Grace Hopper portrait).",
            speed,
            "Identity after a swap, as Euclidean distances between dlib face embeddings (the "
            "engine's own recognizer; same person below about 0.6). The swapped face is found "
            "again in the output and compared with the source face and with the target's "
            "original face.",
            identity,
        ]
    )
    return Section(title="Builtin engine", body=body)
