"""FaceFusion's own job files in and out: ``ffpipe import facefusion`` and ``export facefusion``.

Jobs are made and run by FaceFusion 3.8.1's real CLI (``job-create``, ``job-add-step``,
``job-remix-step``, ``job-run``) in the session's copy with stand-in models, in a jobs folder of
the test's own (``--jobs-path``). Skipped without FFPIPE_FACEFUSION(_PYTHON).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from _facefusion_support import RUN_TIMEOUT, FaceFusionInstall, session_facefusion
from _pipeline_support import write_pipeline

from ffpipe.cli import main
from ffpipe.engine.facefusion.jobs_io import JobFileError, read_job

MEDIA = Path(__file__).resolve().parents[1] / "media"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


def facefusion_cli(facefusion: FaceFusionInstall, *arguments: str) -> None:
    answer = subprocess.run(
        [str(facefusion.python), "facefusion.py", *arguments],
        cwd=facefusion.root,
        env=facefusion.environment(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr


def engine_options(facefusion: FaceFusionInstall) -> list[str]:
    return ["--facefusion", str(facefusion.root), "--facefusion-python", str(facefusion.python)]


def photos(folder: Path) -> tuple[Path, Path]:
    """PNG copies of the sample photos: lossless, so two renders compare pixel for pixel."""
    target, source = folder / "astronaut.png", folder / "grace.png"
    cv2.imwrite(str(target), cv2.imread(str(MEDIA / "astronaut.jpg")))
    cv2.imwrite(str(source), cv2.imread(str(MEDIA / "grace_hopper.jpg")))
    return target, source


def render(folder: Path, facefusion: FaceFusionInstall) -> None:
    code = main(
        [
            "run",
            str(folder / "pipe.yaml"),
            "--workspace",
            str(folder / ".ffpipe"),
            "--out",
            str(folder / "out"),
            "--no-lock",
            "--engine",
            "facefusion",
            *engine_options(facefusion),
        ]
    )
    assert code == 0


def face_change(before: Path, after: Path, facefusion: FaceFusionInstall) -> float:
    a = cv2.imread(str(before)).astype(np.int16)
    b = cv2.imread(str(after)).astype(np.int16)
    left, top, right, bottom = facefusion.faces[0]
    height, width = a.shape[:2]
    # The middle of the face box: inside every mask, whatever its blur.
    inset_x, inset_y = (right - left) / 4, (bottom - top) / 4
    rows = slice(int((top + inset_y) * height), int((bottom - inset_y) * height))
    columns = slice(int((left + inset_x) * width), int((right - inset_x) * width))
    return float(np.abs(a[rows, columns] - b[rows, columns]).mean())


def test_a_job_made_by_facefusions_cli_imports_and_renders(
    facefusion: FaceFusionInstall, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, source = photos(tmp_path)
    jobs = tmp_path / "jobs"
    facefusion_cli(facefusion, "job-create", "portrait", "--jobs-path", str(jobs))
    facefusion_cli(
        facefusion,
        *("job-add-step", "portrait", "--jobs-path", str(jobs)),
        *("-s", str(source), "-t", str(target), "-o", str(tmp_path / "ff" / "swapped.png")),
        *("--processors", "face_swapper", "--face-swapper-model", "inswapper_128"),
        *("--face-selector-order", "left-right", "--face-mask-blur", "0.5"),
        *("--face-swapper-weight", "0.7"),
    )
    facefusion_cli(
        facefusion,
        *("job-remix-step", "portrait", "0", "--jobs-path", str(jobs)),
        *("-o", str(tmp_path / "ff" / "enhanced.png"), "--processors", "face_enhancer"),
        *("--face-selector-order", "left-right", "--face-enhancer-blend", "60"),
    )
    job_file = jobs / "drafted" / "portrait.json"
    assert main(["import", "facefusion", str(job_file), "-o", str(tmp_path / "pipe.yaml")]) == 0
    err = capsys.readouterr().err
    assert "step portrait_0: FaceFusion argument(s) with no catalog name" in err
    assert "face_swapper_weight" in err
    text = (tmp_path / "pipe.yaml").read_text()
    assert "uses: swap" in text and "uses: enhance" in text
    assert 'face_swapper_model: "inswapper_128"' in text
    assert "face_mask_blur: 0.5" in text and "face_enhancer_blend: 0.6" in text
    assert 'target_media: "{{ steps.portrait_0.output }}"' in text
    assert "#   face_swapper_weight: 0.7" in text
    assert 'target: "astronaut.png"' in text
    render(tmp_path, facefusion)
    final = tmp_path / "out" / "portrait" / "enhanced.png"
    assert final.is_file()
    assert face_change(target, final, facefusion) > 40


def test_a_file_that_is_no_job_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "job.json"
    bad.write_text(json.dumps({"version": "1", "steps": []}))
    with pytest.raises(JobFileError, match="no steps"):
        read_job(bad)
    bad.write_text(
        json.dumps({"version": "1", "steps": [{"args": {"processors": ["lip_syncer"]}}]})
    )
    with pytest.raises(JobFileError, match="include none of the catalog's"):
        read_job(bad)
    assert main(["import", "facefusion", str(tmp_path / "missing.json")]) == 2


EXPORTED = """
    version: 1
    name: exported
    matrix:
      blend: [0.5, 0.9]
    inputs: {source: grace.png, target: astronaut.png}
    steps:
      swap:
        uses: swap
        with:
          source_face: "{{ inputs.source }}"
          target_media: "{{ inputs.target }}"
          face_swapper_model: inswapper_128
      enhance:
        uses: enhance
        with:
          target_media: "{{ steps.swap.output }}"
          face_enhancer_blend: "{{ matrix.blend }}"
    outputs:
      "enhanced_{{ matrix.blend }}.png": "{{ steps.enhance.output }}"
"""


def test_an_exported_pipeline_runs_in_facefusions_job_run_and_matches_ffpipe(
    facefusion: FaceFusionInstall, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos(tmp_path)
    write_pipeline(tmp_path, EXPORTED)
    render(tmp_path, facefusion)
    ours = tmp_path / "out" / "exported" / "enhanced_0.9.png"
    assert ours.is_file()
    capsys.readouterr()
    jobs = tmp_path / "jobs"
    code = main(
        [
            *("export", "facefusion", str(tmp_path / "pipe.yaml")),
            *("--jobs-path", str(jobs), "--out", str(tmp_path / "ff")),
            *engine_options(facefusion),
        ]
    )
    assert code == 0, capsys.readouterr()
    job = json.loads((jobs / "queued" / "exported.json").read_text())
    # The matrix instances are steps of their own; each enhance reads the swap's output.
    assert [step["args"]["processors"] for step in job["steps"]] == [
        ["face_swapper"],
        ["face_enhancer"],
        ["face_enhancer"],
    ]
    assert job["steps"][1]["args"]["target_path"].endswith("astronaut-exported-0.png")
    facefusion_cli(facefusion, "job-run", "exported", "--jobs-path", str(jobs))
    assert (jobs / "completed" / "exported.json").is_file()
    theirs = sorted((tmp_path / "ff").glob("enhance*/astronaut.png"))
    assert len(theirs) == 2
    assert ["0.5" in path.parent.name for path in theirs] == [True, False]
    matching = next(path for path in theirs if "0.9" in path.parent.name)
    assert np.array_equal(cv2.imread(str(matching)), cv2.imread(str(ours)))
