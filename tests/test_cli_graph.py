"""``ffpipe graph``: mermaid and dot drawings, --out and --target."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pipeline_support import EXAMPLES

from ffpipe.cli import main


def test_mermaid_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(EXAMPLES / "portrait.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert out.count(" --> ") == 2


def test_dot_to_a_file_with_a_target(tmp_path: Path) -> None:
    target = tmp_path / "g.dot"
    args = ["graph", str(EXAMPLES / "batch_matrix.yaml"), "--format", "dot", "-o", str(target)]
    assert main([*args, "--target", "age[photo=astronaut.jpg,age=30]"]) == 0
    dot = target.read_text()
    assert '"detect[photo=astronaut.jpg]" -> "age[photo=astronaut.jpg,age=30]";' in dot
    assert "restore" not in dot and "grace_hopper" not in dot


def test_unknown_format_is_an_argument_error() -> None:
    with pytest.raises(SystemExit):
        main(["graph", str(EXAMPLES / "portrait.yaml"), "--format", "png"])


def test_an_unwritable_out_file_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "g.md"
    assert main(["graph", str(EXAMPLES / "portrait.yaml"), "-o", str(target)]) == 2
    assert capsys.readouterr().err == (
        f"ffpipe: error: cannot write {target}: No such file or directory\n"
    )
