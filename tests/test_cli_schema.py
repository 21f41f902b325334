"""``ffpipe schema``: writing the schemas and checking them for drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ffpipe.catalog import OPS
from ffpipe.cli import main


def test_write_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schemas"
    assert main(["schema", "--check", "--out", str(out)]) == 1
    assert "pipeline.schema.json" in capsys.readouterr().err
    assert main(["schema", "--out", str(out)]) == 0
    assert {p.name for p in (out / "ops").iterdir()} == {f"{op}.schema.json" for op in OPS}
    assert json.loads((out / "pipeline.schema.json").read_text())["title"] == "ffpipe pipeline"
    assert main(["schema", "--check", "--out", str(out)]) == 0


@pytest.mark.slow
def test_check_names_the_drifted_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schemas"
    main(["schema", "--out", str(out)])
    (out / "ops" / "edit.schema.json").write_text("{}\n")
    (out / "ops" / "retired.schema.json").write_text("{}\n")
    capsys.readouterr()
    assert main(["schema", "--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "ops/edit.schema.json" in err and "ops/retired.schema.json" in err
    assert "ops/swap.schema.json" not in err
    assert main(["schema", "--out", str(out)]) == 0
    assert not (out / "ops" / "retired.schema.json").exists()
    assert main(["schema", "--check", "--out", str(out)]) == 0


def test_an_unwritable_folder_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the schemas folder should go")
    assert main(["schema", "--out", str(blocker / "schemas")]) == 2
    assert f"cannot write the schemas to {blocker / 'schemas'}" in capsys.readouterr().err
