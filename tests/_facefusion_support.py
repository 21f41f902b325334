"""Running the real FaceFusion 3.8.1 offline in tests: a writable copy with stand-in models.

Tests that need FaceFusion find it through two environment variables, which ``.ci/run`` sets:

- ``FFPIPE_FACEFUSION``: a FaceFusion 3.8.1 checkout (read-only is fine; it is copied),
- ``FFPIPE_FACEFUSION_PYTHON``: the Python of FaceFusion's own virtual environment
  (``make facefusion-env`` makes ``.venv-facefusion/bin/python``).

Without them the tests are skipped with :data:`ENABLE_HINT`; set but wrong, they fail.
A test module gets the session's copy through a fixture of its own::

    @pytest.fixture(scope="session")
    def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
        return session_facefusion(tmp_path_factory)

    def test_something(facefusion: FaceFusionInstall, tmp_path: Path) -> None:
        result = facefusion.headless_run(["--processors", "face_swapper", ...], tmp_path)

docs/facefusion-testing.md describes the environment, the PATH shims and the fake models.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.facefusion_testbed import (
    RUN_TIMEOUT,
    RelativeBox,
    copy_facefusion,
    install_test_models,
)

REPO = Path(__file__).resolve().parents[1]
SOURCE_VARIABLE = "FFPIPE_FACEFUSION"
PYTHON_VARIABLE = "FFPIPE_FACEFUSION_PYTHON"
ENABLE_HINT = (
    "set FFPIPE_FACEFUSION to a FaceFusion 3.8.1 checkout and FFPIPE_FACEFUSION_PYTHON to its "
    "venv's python (make facefusion-env)"
)


@dataclass(frozen=True)
class FaceFusionInstall:
    """A writable FaceFusion checkout with stand-in models, and the Python that runs it."""

    root: Path
    python: Path
    faces: tuple[RelativeBox, ...]
    """Where the fake detectors report faces in every image."""

    @property
    def models(self) -> Path:
        return self.root / ".assets" / "models"

    def environment(self) -> dict[str, str]:
        """This process's environment with FaceFusion's bin folder first on PATH (ffmpeg, ffprobe
        and the offline curl stand-in live there)."""
        return facefusion_environment(self.python)

    def headless_run(
        self, arguments: Sequence[str], work: Path, *, timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """``facefusion.py headless-run ARGUMENTS`` in FaceFusion's Python, working directory the
        checkout, jobs and temp files under ``work`` (one jobs folder per call: FaceFusion names
        jobs by the second and two runs in one second would collide)."""
        jobs = work / f"jobs-{len(list(work.glob('jobs-*')))}"
        temp = work / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        command = [str(self.python), "facefusion.py", "headless-run", *arguments]
        command += ["--jobs-path", str(jobs), "--temp-path", str(temp)]
        return subprocess.run(
            command,
            cwd=self.root,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def facefusion_environment(python: Path) -> dict[str, str]:
    """The environment to run FaceFusion with ``python``: that venv's bin folder first on PATH."""
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join([str(python.parent), environment.get("PATH", "")])
    return environment


def configured_facefusion() -> tuple[Path, Path]:
    """The checkout and Python named by the environment; skips the test when either is unset."""
    source = os.environ.get(SOURCE_VARIABLE)
    python = os.environ.get(PYTHON_VARIABLE)
    if not source or not python:
        pytest.skip(ENABLE_HINT)
    source_path, python_path = Path(source).resolve(), Path(python).absolute()
    if not (source_path / "facefusion.py").is_file():
        pytest.fail(f"{SOURCE_VARIABLE}={source}: no facefusion.py there ({ENABLE_HINT})")
    if not python_path.is_file():
        pytest.fail(f"{PYTHON_VARIABLE}={python}: no such interpreter ({ENABLE_HINT})")
    return source_path, python_path


def face_box_fractions(image_path: Path) -> list[RelativeBox]:
    """The faces ffpipe's builtin (dlib) detector finds in ``image_path``, left to right, as
    fractions of its size: where the fake detectors should report faces for that image."""
    import numpy as np
    from PIL import Image

    from ffpipe.engine.builtin.faces import detect_faces

    image = np.asarray(Image.open(image_path).convert("RGB"))
    height, width = image.shape[:2]
    boxes = [face.box for face in detect_faces(image, with_embeddings=False)]
    return [
        (left / width, top / height, right / width, bottom / height)
        for left, top, right, bottom in boxes
    ]


def prepare_facefusion(destination: Path, faces: Sequence[RelativeBox]) -> FaceFusionInstall:
    """A fresh copy of the configured FaceFusion in ``destination`` with test models for ``faces``.

    For layouts other than the session's (several faces, another place), call this in a test's
    own fixture; copying and writing take about a second.
    """
    source, python = configured_facefusion()
    root = copy_facefusion(source, destination)
    install_test_models(root, python=python, faces=faces)
    return FaceFusionInstall(root=root, python=python, faces=tuple(tuple(f) for f in faces))


SESSION_FACE_IMAGE = REPO / "media" / "astronaut.jpg"
_session: list[FaceFusionInstall] = []


def session_facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    """The one FaceFusion copy of this test session (made on first use, shared by every module),
    its fake detectors reporting one face where the builtin detector finds it in
    media/astronaut.jpg (at the same fractions of every image). Skips when not configured."""
    configured_facefusion()
    if not _session:
        faces = face_box_fractions(SESSION_FACE_IMAGE)
        if len(faces) != 1:
            pytest.fail(
                f"{SESSION_FACE_IMAGE}: expected one face for the fake detectors, got {faces}"
            )
        destination = tmp_path_factory.mktemp("facefusion") / "facefusion"
        _session.append(prepare_facefusion(destination, faces))
    return _session[0]
