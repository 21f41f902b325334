"""Face detection on the generated hard set at the catalog defaults: recall and time per image.

The hard set (``tests/_hardset.py``) places heads cut from the sample photos, with known boxes,
into generated scenes: small faces on large canvases, collages of 2-8 faces at mixed sizes, a
1280x886 group of six, two people side by side, rotated heads, dark and bright exposure, blur and
partial occlusion. Recall is faces found / faces present; a found box that matches no placed face
counts as a false detection.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.common import Section, table

ROOT = Path(__file__).resolve().parent.parent


def _measure() -> tuple[list[list[object]], float, float]:
    sys.path.insert(0, str(ROOT / "tests"))
    from _hardset import DETECTOR_SIZE, hard_set, matches

    from ffpipe.engine.faces import detect_faces

    present: dict[str, int] = defaultdict(int)
    found: dict[str, int] = defaultdict(int)
    false: dict[str, int] = defaultdict(int)
    seconds: dict[str, list[float]] = defaultdict(list)
    cases = hard_set()
    detect_faces(cases[0].image, with_embeddings=False)  # load the models outside the timing
    for case in cases:
        start = time.perf_counter()
        faces = detect_faces(case.image, detector_size=DETECTOR_SIZE, with_embeddings=False)
        seconds[case.kind].append(time.perf_counter() - start)
        matched = matches([face.box for face in faces], case.faces)
        hits = sum(index is not None for index in matched)
        present[case.kind] += len(case.faces)
        found[case.kind] += hits
        false[case.kind] += len(faces) - hits
    rows: list[list[object]] = []
    for kind in present:
        rows.append(
            [
                kind,
                len(seconds[kind]),
                f"{found[kind]}/{present[kind]}",
                f"{found[kind] / present[kind]:.0%}",
                false[kind],
                f"{statistics.median(seconds[kind]):.3f}",
            ]
        )
    total_found, total_present = sum(found.values()), sum(present.values())
    every = [value for values in seconds.values() for value in values]
    rows.append(
        [
            "**all**",
            len(every),
            f"{total_found}/{total_present}",
            f"{total_found / total_present:.0%}",
            sum(false.values()),
            f"{statistics.median(every):.3f}",
        ]
    )
    return rows, total_found / total_present, statistics.median(every)


def run() -> Section:
    rows, recall, median = _measure()
    body = "\n\n".join(
        [
            "`detect_faces` at the catalog defaults (face_detector_size 640, "
            "face_detector_score 0.5), boxes and landmarks, models loaded; seconds are the "
            "median per image.",
            table(["kind", "images", "found", "recall", "false", "median s"], rows),
            f"Overall recall {recall:.1%}, median {median:.3f} s per image.",
        ]
    )
    return Section(title="Face detection on the hard set", body=body)
