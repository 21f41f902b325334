"""A writable copy of a FaceFusion checkout with stand-in models, for tests and benchmarks.

No model weights can be downloaded here, so :func:`install_test_models` writes the tiny stand-ins
of ``bench/facefusion_models.py`` (run in FaceFusion's own Python, which has ``onnx``) into a copy
made by :func:`copy_facefusion`. ``tests/_facefusion_support.py`` builds the tests' fixtures on
these; docs/facefusion-testing.md describes the whole test bed.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

MODEL_WRITER = Path(__file__).with_name("facefusion_models.py")
RUN_TIMEOUT = 300.0
"""Seconds one FaceFusion subprocess may take before the test fails (a hang guard, not a target)."""

RelativeBox = tuple[float, float, float, float]
"""left, top, right, bottom as fractions of an image's width and height."""

_COPY_SKIPS = shutil.ignore_patterns(".assets", ".jobs", "__pycache__", "*.pyc", ".git")


def copy_facefusion(source: Path, destination: Path) -> Path:
    """A writable copy of the checkout at ``source`` (CI lays shared/ out read-only; FaceFusion
    writes its models, jobs and temp files inside its own folder). Models are not copied."""
    shutil.copytree(source, destination, ignore=_COPY_SKIPS)
    for folder, _, files in os.walk(destination):
        for path in [folder, *(os.path.join(folder, name) for name in files)]:
            os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    return destination


def install_test_models(
    facefusion_copy: Path, *, python: Path, faces: Sequence[RelativeBox]
) -> dict[str, object]:
    """Write the stand-in models (bench/facefusion_models.py) into ``facefusion_copy``.

    Runs in FaceFusion's ``python``, which has the ``onnx`` package; returns the writer's summary
    (model names, total bytes, faces).
    """
    result = subprocess.run(
        [str(python), str(MODEL_WRITER), str(facefusion_copy), "--faces", json.dumps(faces)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"writing FaceFusion test models failed:\n{result.stderr}")
    return json.loads(result.stdout)
