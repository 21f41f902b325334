"""Face detection on real photographs, and swap speed, before and after the YuNet detector.

The photos (``tests/_realphotos.py``): 41 photographs from nine packages on the index, 84 faces
labelled by hand (73 clear; 11 hard: profile, occluded, blurred, sunglasses, rotated), ten without
a face; plus a large group photo (a real group of six repeated 4x4, 5120x3544: 96 faces of about
12 px at 640). Each engine runs in a child process on the same photos in the same run: ``now``
(this checkout), ``YuNet alone`` (one FaceDetectorYN pass at 640 on the letterboxed image, no
tiles, no re-orientation) and ``before`` (the checkout named by ``FFPIPE_BENCH_BEFORE``, e.g. a
worktree of the commit before the detector changed; without it, that column is left out).
All at the catalog defaults: face_detector_size 640, face_detector_score 0.5.

Times are CPU seconds of the detecting process per image (detection and 68 landmarks, no
embeddings), median and mean; the swap rows time the swap op end to end (512 px portrait, median
of 5; a 2 s 720p clip, once), wall clock, old and new one after the other in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import Section, table

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, statistics, sys, time
from pathlib import Path
task = json.loads(sys.argv[1])
sys.path.insert(0, task["tests"])
from _realphotos import mosaic, real_photos

def yunet_alone(image):
    import cv2
    from ffpipe.engine.builtin import detection
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    scale = detection.working_scale(bgr.shape, 640)
    found = detection._run(detection._resized(bgr, scale), 0.5, 640)
    return [[value / scale for value in item.box] for item in found]

def builtin(image):
    from ffpipe.engine.builtin.faces import detect_faces
    return [list(face.box) for face in detect_faces(image, with_embeddings=False)]

if task["kind"] == "detect":
    detect = yunet_alone if task["engine"] == "yunet" else builtin
    photos = real_photos()
    group = next(photo for photo in photos if photo.name == "insightface:t1.jpg")
    images = [photo.image for photo in photos] + [mosaic(group, 4)[0]]
    detect(images[0])
    out = []
    for image in images:
        start = time.process_time()
        boxes = detect(image)
        out.append({"boxes": boxes, "cpu": time.process_time() - start})
    print(json.dumps(out))
else:
    from ffpipe.engine.api import RunContext
    from ffpipe.engine.builtin.engine import BuiltinEngine
    from ffpipe.catalog.ops import SwapParams
    params = SwapParams(source_face=task["source"], target_media=task["target"])
    engine = BuiltinEngine()
    walls = []
    for number in range(task["repeat"] + 1):
        start = time.perf_counter()
        engine.run("swap", params, RunContext(Path(task["work"]) / str(number)))
        walls.append(time.perf_counter() - start)
    print(json.dumps({"wall": statistics.median(walls[1:] or walls)}))
"""


def _child(task: dict[str, Any], checkout: Path | None) -> Any:
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    task = {**task, "tests": str(ROOT / "tests")}
    # The child starts in the checkout it measures: ``python -c`` puts its working folder first on
    # the import path, ahead of PYTHONPATH.
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(task)],
        capture_output=True,
        text=True,
        env=env,
        cwd=checkout or ROOT,
        check=True,
        timeout=3600,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _score(runs: list[dict[str, Any]]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from _realphotos import matched, mosaic, real_photos

    photos = real_photos()
    group = next(photo for photo in photos if photo.name == "insightface:t1.jpg")
    labels = [photo.faces for photo in photos] + [mosaic(group, 4)[1]]
    found: dict[str, int] = defaultdict(int)
    present: dict[str, int] = defaultdict(int)
    false: dict[str, int] = defaultdict(int)
    images: dict[str, int] = defaultdict(int)
    cpu: dict[str, list[float]] = defaultdict(list)
    misses = []
    for number, (faces, run) in enumerate(zip(labels, runs, strict=True)):
        group_row = number == len(photos)
        where = "large group (mosaic)" if group_row else "photos"
        matches = matched(run["boxes"], faces)
        for face, index in zip(faces, matches, strict=True):
            kind = where if group_row else ("clear" if face.clear else f"hard: {face.kind}")
            present[kind] += 1
            found[kind] += index is not None
            if index is None and not group_row:
                misses.append(f"{photos[number].name} ({face.kind})")
        false[where] += len(run["boxes"]) - sum(index is not None for index in matches)
        images[where] += 1
        image_kind = "face-less" if not faces else ("one face" if len(faces) == 1 else "group")
        cpu[image_kind if not group_row else where].append(run["cpu"])
    return {
        "found": found,
        "present": present,
        "false": false,
        "images": images,
        "cpu": cpu,
        "misses": misses,
    }


def _recall(score: dict[str, Any], kinds: list[str]) -> str:
    found = sum(score["found"][kind] for kind in kinds)
    present = sum(score["present"][kind] for kind in kinds)
    return f"{found}/{present} ({found / present:.0%})" if present else "-"


def _detection_tables(scores: dict[str, dict[str, Any]]) -> str:
    names = list(scores)
    first = next(iter(scores.values()))
    hard = sorted(kind for kind in first["present"] if kind.startswith("hard"))
    rows = [["clear faces", *[_recall(scores[name], ["clear"]) for name in names]]]
    rows.append(["hard faces, all", *[_recall(scores[name], hard) for name in names]])
    rows += [[kind, *[_recall(scores[name], [kind]) for name in names]] for kind in hard]
    rows.append(
        ["large group (mosaic)", *[_recall(scores[n], ["large group (mosaic)"]) for n in names]]
    )
    photos = first["images"]["photos"]
    rows.append(
        [
            "false detections per photo",
            *[f"{scores[n]['false']['photos'] / photos:.3f}" for n in names],
        ]
    )
    rows.append(
        ["false detections, mosaic", *[scores[n]["false"]["large group (mosaic)"] for n in names]]
    )
    recall = table(["faces", *names], rows)
    time_rows = []
    for kind in ("one face", "group", "face-less", "large group (mosaic)"):
        cells = []
        for name in names:
            values = sorted(scores[name]["cpu"][kind])
            median = values[len(values) // 2]
            cells.append(f"{median:.3f} / {sum(values) / len(values):.3f}")
        time_rows.append([f"{kind} ({len(values)})", *cells])
    times = table(["CPU s per image, median / mean", *names], time_rows)
    return recall + "\n\n" + times


def _swaps(checkouts: dict[str, Path | None], work: Path) -> str:
    from bench.bench_video import _clip

    clip = _clip(work, 2.0, "hd.mp4")
    media = ROOT / "media"
    portrait = {"source": str(media / "grace_hopper.jpg"), "target": str(media / "astronaut.jpg")}
    video = {"source": str(media / "grace_hopper.jpg"), "target": str(clip)}
    rows = []
    for label, target, repeat in (("512 px portrait", portrait, 5), ("720p clip, 2 s", video, 0)):
        cells = []
        walls = {}
        for name, checkout in checkouts.items():
            task = {"kind": "swap", "repeat": repeat, "work": str(work / name / label), **target}
            walls[name] = _child(task, checkout)["wall"]
            cells.append(f"{walls[name]:.3f}")
        ratio = walls["now"] / walls["before"] if "before" in walls else None
        rows.append([label, *cells, f"{ratio:.2f}" if ratio else "-"])
    return table(["swap op, wall s", *checkouts, "now / before"], rows)


def run() -> Section:
    before = os.environ.get("FFPIPE_BENCH_BEFORE")
    engines: dict[str, tuple[str, Path | None]] = {"now": ("builtin", None)}
    engines["YuNet alone"] = ("yunet", None)
    if before:
        engines["before"] = ("builtin", Path(before))
    scores = {
        name: _score(_child({"kind": "detect", "engine": engine}, checkout))
        for name, (engine, checkout) in engines.items()
    }
    checkouts = {
        name: checkout for name, (engine, checkout) in engines.items() if engine != "yunet"
    }
    with tempfile.TemporaryDirectory() as folder:
        swaps = _swaps(checkouts, Path(folder))
    misses = ", ".join(scores["now"]["misses"]) or "none"
    body = "\n\n".join(
        [
            (__doc__ or "").split("\n\n", 1)[1].strip(),
            ("`before`: " + before)
            if before
            else "`before` not measured (no FFPIPE_BENCH_BEFORE).",
            _detection_tables(scores),
            f"Missed now: {misses}.",
            swaps,
        ]
    )
    return Section(title="Face detection on real photographs", body=body)
