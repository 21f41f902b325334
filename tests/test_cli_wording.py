"""The commands count alike: ``1 step``, ``2 steps (4 instances)`` in validate, plan and run."""

from __future__ import annotations

from pathlib import Path

import pytest
from _report_support import write_matrix_project

from ffpipe.cli import main
from ffpipe.run import events as ev
from ffpipe.run.reporters import _plain_line
from ffpipe.words import noun, plural, steps_and_instances


def test_plural_and_noun() -> None:
    assert plural(1, "step") == "1 step"
    assert plural(0, "step") == "0 steps"
    assert plural(2, "entry") == "2 entries"
    assert plural(3, "index", "indices") == "3 indices"
    assert noun(1, "object") == "object" and noun(5, "object") == "objects"


def test_steps_and_instances() -> None:
    assert steps_and_instances(1, 1) == "1 step"
    assert steps_and_instances(3, 3) == "3 steps"
    assert steps_and_instances(2, 8) == "2 steps (8 instances)"


def test_run_start_line_counts_steps_and_instances() -> None:
    start = ev.RunStart(run_id="r", pipeline="p", steps=1, instances=1, jobs=1, backend="local")
    assert _plain_line(start) == "run r: p, 1 step, 1 at a time on local"
    matrix = ev.RunStart(run_id="r", pipeline="p", steps=2, instances=8, jobs=2, backend="b")
    assert "p, 2 steps (8 instances)," in str(_plain_line(matrix))


def test_validate_plan_and_run_use_the_same_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FFPIPE_WORKSPACE", str(tmp_path / ".ffpipe"))
    monkeypatch.delenv("FFPIPE_SERVER", raising=False)
    write_matrix_project(tmp_path)
    assert main(["validate", "smiles.yaml"]) == 0
    assert capsys.readouterr().out.strip() == "smiles.yaml: ok, 2 steps (8 instances)"
    assert main(["plan", "smiles.yaml"]) in (0, 1)
    assert capsys.readouterr().out.startswith("smiles: 2 steps (8 instances) in 2 stages\n")
    assert (
        main(["run", "smiles.yaml", "--no-lock", "--target", "smile[photo=grace.jpg,smile=0.0]"])
        == 0
    )
    assert ", 1 step, " in capsys.readouterr().out
