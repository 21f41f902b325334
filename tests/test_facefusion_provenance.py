"""What made a FaceFusion render, in the run record, ``status --json`` and the report.

One real run on FaceFusion 3.8.1 (stand-in models); the lock file keeps the provenance so
``status --json`` can say what made the locked output. Skipped without FFPIPE_FACEFUSION(_PYTHON).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _facefusion_support import FaceFusionInstall, session_facefusion
from _pipeline_support import write_pipeline
from _run_support import copy_photos

from ffpipe.cli import main

PIPELINE = """
    version: 1
    name: made
    inputs: {target: astronaut.jpg}
    steps:
      enhance:
        uses: enhance
        with: {target_media: "{{ inputs.target }}", face_enhancer_model: gfpgan_1.4}
    outputs:
      enhanced.jpg: "{{ steps.enhance.output }}"
"""


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


def test_record_status_and_report_name_what_made_the_output(
    facefusion: FaceFusionInstall, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_photos(tmp_path)
    pipeline = write_pipeline(tmp_path, PIPELINE)
    workspace = ["--workspace", str(tmp_path / ".ffpipe")]
    engine = ["--engine", "facefusion", "--facefusion", str(facefusion.root)]
    engine += ["--facefusion-python", str(facefusion.python)]
    out = ["--out", str(tmp_path / "out")]
    assert main(["run", str(pipeline), *workspace, *out, *engine]) == 0
    record = json.loads(next((tmp_path / ".ffpipe" / "runs").glob("*/run.json")).read_text())
    made = record["steps"]["enhance"]["provenance"]
    assert made["facefusion"] == {"version": "3.8.1", "commit": None}
    # Every model file the step loads, with the hash FaceFusion checks it against.
    assert made["models"]["gfpgan_1.4"] == (facefusion.models / "gfpgan_1.4.hash").read_text()
    assert {"2dfan4", "fan_68_5", "arcface_w600k_r50"} <= set(made["models"])
    assert made["ffmpeg"] == {"version": "6.0", "workaround": None}
    assert made["onnxruntime"]["version"] == "1.28.0"
    assert "CPUExecutionProvider" in made["onnxruntime"]["providers"]
    assert made["execution_providers"] == ["cpu"]
    capsys.readouterr()

    # status compares with the builtin engine (it has no --engine): only the engine differs.
    assert main(["status", str(pipeline), *workspace, "--json"]) == 1
    step = json.loads(capsys.readouterr().out)[0]["steps"]["enhance"]
    assert {difference["kind"] for difference in step["differences"]} == {"engine"}
    assert step["provenance"] == made

    assert main(["report", *workspace]) == 0
    page = next((tmp_path / ".ffpipe" / "runs").glob("*/report/index.html")).read_text()
    assert "made by: FaceFusion 3.8.1" in page
    assert f"gfpgan_1.4 {made['models']['gfpgan_1.4']}" in page
    assert "ffmpeg 6.0" in page and "onnxruntime 1.28.0" in page
