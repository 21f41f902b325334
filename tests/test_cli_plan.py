"""``ffpipe plan``: steps in run order with op, rendered parameters and matrix values."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _pipeline_support import BAD, EXAMPLES

from ffpipe.cli import main


@pytest.fixture(autouse=True)
def _fresh_workspace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FFPIPE_WORKSPACE", str(tmp_path / "workspace"))


def test_plan_lists_stages_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(EXAMPLES / "portrait.yaml"), "-p", "age=42"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("portrait: 3 steps in 3 stages\n")
    assert (
        out.index("  swap (swap)") < out.index("  enhance (enhance)") < out.index("  aged (edit)")
    )
    assert "    face_editor_age: 42\n" in out
    assert '    target_media: "{{ steps.swap.output }}"\n' in out
    assert '    face_swapper_model: "inswapper_128"\n' in out


def test_plan_shows_matrix_values_and_conditions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(EXAMPLES / "batch_matrix.yaml")]) == 0
    out = capsys.readouterr().out
    assert "  age[photo=grace_hopper.jpg,age=90] (edit)  [will run (no cache entry)]\n" in out
    assert "    matrix: photo=" in out and "grace_hopper.jpg, age=90\n" in out
    assert "    if: {{ steps.detect.result.faces | length > 0 }}\n" in out
    assert "age[photo=grace_hopper.jpg,age=30]" not in out


def test_plan_targets_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    portrait = str(EXAMPLES / "portrait.yaml")
    assert main(["plan", portrait, "--target", "enhance", "--json"]) == 0
    stages = json.loads(capsys.readouterr().out)
    assert [[item["id"] for item in stage] for stage in stages] == [["swap"], ["enhance"]]
    assert stages[1][0]["params"]["target_media"] == "{{ steps.swap.output }}"
    assert main(["plan", portrait, "--target", "swap", "--downstream", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["plan", portrait, "--target", "swapp"]) == 2
    assert "did you mean 'swap'" in capsys.readouterr().err


def test_plan_refuses_forcing_an_unknown_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(EXAMPLES / "portrait.yaml"), "--force", "enhnace"]) == 2
    assert "--force enhnace: no such step (did you mean 'enhance'?)" in capsys.readouterr().err


def test_plan_refuses_an_invalid_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(BAD / "cycle_three.yaml")]) == 2
    assert "dependency cycle swap -> enhance -> edit -> swap" in capsys.readouterr().err


def test_plan_says_what_is_cached_and_why_the_rest_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pipeline = tmp_path / "faces.yaml"
    photo = shutil.copy(EXAMPLES.parent.parent / "media" / "grace_hopper.jpg", tmp_path)
    pipeline.write_text(
        "version: 1\nname: faces\nparams:\n  score: {type: number, default: 0.5}\n"
        f"steps:\n  find:\n    uses: detect\n    with:\n      target_media: {photo}\n"
        "      face_detector_score: '{{ params.score }}'\n"
    )
    out_dir = str(tmp_path / "out")
    assert main(["run", str(pipeline), "--out", out_dir]) == 0
    capsys.readouterr()
    assert main(["plan", str(pipeline)]) == 0
    assert "  find (detect)  [cached]\n" in capsys.readouterr().out
    assert main(["plan", str(pipeline), "-p", "score=0.4"]) == 0
    assert "  find (detect)  [will run (face_detector_score changed 0.5 -> 0.4)]" in (
        capsys.readouterr().out
    )
    assert main(["plan", str(pipeline), "--force", "find", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0][0]["status"] == "will run (forced)"


def test_plan_names_the_models_the_engine_stands_in_for(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(EXAMPLES / "high_quality_swap.yaml")]) == 0
    out = capsys.readouterr().out
    swap_block = out.split("  swap (swap)", 1)[1].split("  enhance (enhance)", 1)[0]
    assert "    stand-ins: inswapper_128 -> " in swap_block
    assert "scrfd -> YuNet 2023mar" in swap_block


def test_the_text_plan_describes_each_stand_in_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(EXAMPLES / "batch_matrix.yaml")]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "stand-ins:" in line]
    assert len(notes) > 2
    assert sum("live_portrait -> " in line for line in notes) == 1
    assert notes[-1].endswith(" as above") and " -> " not in notes[-1]
    # The JSON plan keeps every step's full description, for tools that read one step.
    assert main(["plan", str(EXAMPLES / "batch_matrix.yaml"), "--json"]) == 0
    stages = json.loads(capsys.readouterr().out)
    full = [n for stage in stages for step in stage for n in step["notes"] if "stand-ins" in n]
    assert all(" as above" not in note for note in full)


ENGINE_MODULES = ("numpy", "cv2", "dlib", "av")


@pytest.mark.slow
def test_plan_on_the_builtin_engine_loads_no_engine_code(tmp_path: Path) -> None:
    """A real process: planning needs the engine's name, version and stand-ins, not the engine
    (cold, and with a workspace whose inputs get hashed)."""
    probe = (
        "import json, sys\n"
        "from ffpipe.cli import main\n"
        "code = main(sys.argv[1:])\n"
        f"loaded = [name for name in {ENGINE_MODULES!r} if name in sys.modules]\n"
        "print('LOADED=' + json.dumps(loaded), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    (tmp_path / "workspace").mkdir()
    for workspace in ("none", "workspace"):
        command = [sys.executable, "-c", probe, "plan", str(EXAMPLES / "portrait.yaml")]
        command += ["--workspace", str(tmp_path / workspace)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "stand-ins: inswapper_128 -> " in done.stdout
        line = next(line for line in done.stderr.splitlines() if line.startswith("LOADED="))
        assert json.loads(line.removeprefix("LOADED=")) == [], workspace


@pytest.mark.parametrize("command", ["plan", "validate", "graph", "status"])
def test_max_instances_is_honoured_by_every_command_that_loads(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # batch_matrix counts up to five combinations (2 x 2 and one included) before its exclusion.
    matrix = str(EXAMPLES / "batch_matrix.yaml")
    assert main([command, matrix, "--max-instances", "4"]) == 2
    assert "--max-instances" in capsys.readouterr().err
    assert main([command, matrix, "--max-instances", "5"]) in (0, 1)  # status: lock may differ


def test_plan_says_the_builtin_engine_guesses_the_age_of_an_auto_age_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    shutil.copyfile(Path(__file__).parent.parent / "media" / "astronaut.jpg", tmp_path / "a.jpg")
    (tmp_path / "p.yaml").write_text(
        "version: 1\nname: ages\nsteps:\n"
        "  guessed: {uses: edit, with: {target_media: a.jpg, face_editor_age: 20}}\n"
        "  chosen: {uses: edit, with: {target_media: a.jpg, face_editor_age: 20,"
        " face_editor_age_direction: younger}}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FFPIPE_SERVER", raising=False)
    assert main(["plan", "p.yaml", "--workspace", str(tmp_path / ".ffpipe")]) == 0
    out = capsys.readouterr().out
    note = "takes every face to look 35, so face_editor_age 20 makes faces younger"
    assert out.count(note) == 1
    assert out.index(note) < out.index("chosen (edit)")
