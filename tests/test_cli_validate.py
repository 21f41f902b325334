"""``ffpipe validate``: ok lines, every error with its location, --json, -p, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _pipeline_support import BAD, EXAMPLES, ROOT

from ffpipe.cli import main


def test_examples_are_ok(capsys: pytest.CaptureFixture[str]) -> None:
    examples = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    assert main(["validate", *examples]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(examples)
    assert all(": ok, " in line for line in out)


def test_errors_are_reported_with_lines_and_carets(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(BAD / "above_maximum.yaml")
    assert main(["validate", bad, str(EXAMPLES / "portrait.yaml")]) == 2
    captured = capsys.readouterr()
    assert "portrait.yaml: ok" in captured.out
    assert (
        f"{bad}:12:7: steps.swap.with.face_mask_blur: 1.5 is greater than the maximum 1.0"
        in captured.err
    )
    assert "      face_mask_blur: 1.5\n          ^" in captured.err


def test_json_lists_every_error(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(BAD / "above_maximum.yaml"), str(BAD / "cycle_three.yaml")]
    assert main(["validate", "--json", *files]) == 2
    errors = json.loads(capsys.readouterr().out)
    assert [(e["line"], e["column"]) for e in errors] == [(12, 7), (7, 3)]
    assert set(errors[0]) == {"file", "line", "column", "path", "message"}
    assert main(["validate", "--json", str(EXAMPLES / "portrait.yaml")]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_param_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    portrait = str(EXAMPLES / "portrait.yaml")
    assert main(["validate", portrait, "-p", "age=30"]) == 0
    assert main(["validate", portrait, "-p", "age=old"]) == 2
    assert "-p age=old: 'old' is not an integer" in capsys.readouterr().err
    assert main(["validate", portrait, "-p", "age"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


@pytest.mark.slow
def test_no_traceback_from_the_console(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nsteps:\n  a:\n\tuses: swap\n")
    result = subprocess.run(
        [sys.executable, "-m", "ffpipe", "validate", str(broken)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{broken}:4:1: YAML syntax error: tabs are not allowed" in result.stderr
