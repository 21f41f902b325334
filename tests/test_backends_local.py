"""The local backend: the builtin engine in-process, imported only when a step runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ffpipe.backends import make_backend
from ffpipe.backends.base import BackendError, StepRequest
from ffpipe.backends.local import LocalBackend

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"


def test_identity_is_the_builtin_engine() -> None:
    identity = LocalBackend().identity()
    assert identity.kind == "local"
    assert identity.engine == "builtin"
    assert identity.engine_version
    assert identity.key_fields() == {"engine": "builtin", "engine_version": identity.engine_version}


def test_make_backend_is_local_without_a_server() -> None:
    assert isinstance(make_backend(), LocalBackend)
    assert make_backend(jobs=3).max_concurrency() == 3


def test_detect_on_a_real_photo(tmp_path: Path) -> None:
    progress: list[float] = []
    result = LocalBackend().run(
        StepRequest(
            "detect",
            {"target_media": str(ASTRONAUT)},
            tmp_path,
            lambda fraction, stage: progress.append(fraction),
        )
    )
    assert result.files["output"].parent == tmp_path
    assert json.loads(result.files["output"].read_text())
    assert "substitutions" in result.result
    assert progress


def test_engine_errors_become_backend_errors_with_their_message(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jpg"
    with pytest.raises(BackendError, match=r"missing\.jpg"):
        LocalBackend().run(StepRequest("detect", {"target_media": str(missing)}, tmp_path))


def test_invalid_params_are_backend_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="face_detector_score"):
        LocalBackend().run(
            StepRequest(
                "detect", {"target_media": str(ASTRONAUT), "face_detector_score": 3}, tmp_path
            )
        )
    with pytest.raises(BackendError, match="unknown op"):
        LocalBackend().run(StepRequest("teleport", {}, tmp_path))


@pytest.mark.slow
def test_identity_does_not_import_the_heavy_libraries() -> None:
    probe = (
        "import sys\n"
        "from ffpipe.backends import make_backend\n"
        "make_backend().identity()\n"
        "print([m for m in ('cv2', 'dlib', 'gradio', 'gradio_client') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_strict_models_refuses_stand_ins(tmp_path: Path) -> None:
    request = StepRequest("detect", {"target_media": str(ASTRONAUT)}, tmp_path)
    with pytest.raises(BackendError, match="retinaface"):
        LocalBackend(strict_models=True).run(request)
