"""The facefusion engine's warm worker against one ``facefusion.py headless-run`` per image.

Same op on both sides (a face swap of 20 different images with the test models), side by side in
one run: the engine keeps FaceFusion and its model sessions loaded in one worker process; a
subprocess imports FaceFusion, builds its parser and loads every model for each image. Target: the
warm engine at least 3x faster. The first call (worker start + first request) is reported apart.

Needs FFPIPE_FACEFUSION and FFPIPE_FACEFUSION_PYTHON (``make facefusion-env``); without them the
section says so and measures nothing.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import Section, table

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "media" / "astronaut.jpg"
GRACE = ROOT / "media" / "grace_hopper.jpg"
IMAGES = 20
TARGET_RATIO = 3.0
FACE_BOX = (0.3, 0.2, 0.7, 0.6)
"""Where the test detectors report the face (fractions of the image): the portrait's face."""
TITLE = "FaceFusion engine: warm worker vs headless-run subprocesses"


def _targets(folder: Path) -> list[Path]:
    """20 different images: the portrait at 20 brightness levels (no cache can serve a repeat)."""
    import cv2
    import numpy as np

    portrait = cv2.imread(str(ASTRONAUT)).astype(np.int16)
    paths = []
    for number in range(IMAGES):
        path = folder / f"target_{number:02d}.jpg"
        cv2.imwrite(str(path), np.clip(portrait + number - IMAGES // 2, 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


def _install(folder: Path) -> tuple[Path, Path]:
    from bench.facefusion_testbed import copy_facefusion, install_test_models

    source, python = (
        Path(os.environ["FFPIPE_FACEFUSION"]),
        Path(os.environ["FFPIPE_FACEFUSION_PYTHON"]),
    )
    root = copy_facefusion(source.resolve(), folder / "facefusion")
    install_test_models(root, python=python.absolute(), faces=[FACE_BOX])
    return root, python.absolute()


def _engine_times(
    root: Path, python: Path, targets: list[Path], out: Path
) -> tuple[float, list[float], list[str]]:
    from ffpipe.engine.api import RunContext
    from ffpipe.engine.facefusion import FaceFusionEngine

    started = time.perf_counter()
    engine = FaceFusionEngine(root, python)
    warm_up = {"source_face": str(GRACE), "target_media": str(ASTRONAUT)}
    first = engine.run("swap", warm_up, RunContext(out / "first"))
    first_call = time.perf_counter() - started
    times = []
    try:
        for number, target in enumerate(targets):
            values = {"source_face": str(GRACE), "target_media": str(target)}
            begin = time.perf_counter()
            engine.run("swap", values, RunContext(out / f"engine_{number:02d}"))
            times.append(time.perf_counter() - begin)
    finally:
        engine.close()
    return first_call, times, first.result["facefusion"]["runs"][0]


def _subprocess_times(
    root: Path, python: Path, argv: list[str], targets: list[Path], out: Path
) -> list[float]:
    """The engine's own arguments, run by ``facefusion.py headless-run`` once per image."""
    environment = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    times = []
    for number, target in enumerate(targets):
        arguments = list(argv[1:])
        arguments[arguments.index("-t") + 1] = str(target)
        arguments[arguments.index("-o") + 1] = str(out / f"cli_{number:02d}.jpg")
        jobs = out / f"jobs_{number:02d}"
        command = [str(python), "facefusion.py", "headless-run", *arguments]
        command += ["--jobs-path", str(jobs), "--temp-path", str(out / "temp")]
        begin = time.perf_counter()
        done = subprocess.run(
            command, cwd=root, env=environment, capture_output=True, text=True, check=False
        )
        times.append(time.perf_counter() - begin)
        if done.returncode != 0 or not (out / f"cli_{number:02d}.jpg").is_file():
            raise RuntimeError(f"headless-run failed:\n{done.stderr[-2000:]}")
    return times


def run() -> Section:
    if not os.environ.get("FFPIPE_FACEFUSION") or not os.environ.get("FFPIPE_FACEFUSION_PYTHON"):
        return Section(
            TITLE,
            "Not measured: set FFPIPE_FACEFUSION and FFPIPE_FACEFUSION_PYTHON "
            "(`make facefusion-env`; `.ci/run` sets both).",
        )
    with tempfile.TemporaryDirectory(prefix="ffpipe-bench-ff-") as scratch:
        folder = Path(scratch)
        root, python = _install(folder)
        targets = _targets(folder)
        out = folder / "out"
        out.mkdir()
        first_call, engine, argv = _engine_times(root, python, targets, out)
        # The swap's own arguments; -s keeps the source the engine used.
        cli = _subprocess_times(root, python, argv, targets, out)
    engine_total, cli_total = sum(engine), sum(cli)
    ratio = cli_total / engine_total
    rows = [
        ["warm engine (one worker)", IMAGES, f"{engine_total:.1f}", f"{engine_total / IMAGES:.2f}"],
        [
            "`facefusion.py headless-run` per image",
            IMAGES,
            f"{cli_total:.1f}",
            f"{cli_total / IMAGES:.2f}",
        ],
    ]
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    body = "\n\n".join(
        [
            "Face swap (inswapper_128 stand-in, 512x512 JPEG) of 20 different images with the "
            "test models, CPU; the engine's time includes its checks and FaceFusion's face "
            "analysis of target and source before each run.",
            table(["path", "images", "total s", "per image s"], rows),
            f"Speed-up: {ratio:.1f}x (target {TARGET_RATIO:g}x: {verdict}). "
            f"First call (worker start, FaceFusion import, first swap): {first_call:.2f} s.",
        ]
    )
    return Section(TITLE, body)
