"""``ffpipe ops`` and docs/parameters.md, both read from the catalog models."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.catalog import OPS
from ffpipe.catalog.reference import parameters, parameters_markdown
from ffpipe.cli import main


def test_ops_lists_every_op(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(OPS)


def test_one_op_shows_type_range_choices_default_and_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ops", "swap"]) == 0
    out = capsys.readouterr().out
    assert "face_mask_blur: number  [0.0-1.0]  default: 0.3" in out
    assert "face_swapper_model: text  [inswapper_128, " in out
    assert "source_face: file  default: (required)" in out
    assert "trim_frame_start: integer or null  [≥ 0]  default: unset" in out
    assert "Edge softness of the mask" in out
    # Every parameter of the model is there, none invented.
    named = {line.split(":")[0] for line in out.splitlines()[2:] if not line.startswith(" ")}
    assert named == set(OPS["swap"].params.model_fields)


@pytest.mark.parametrize("op", ["swap", "enhance", "edit"])
def test_defaults_made_by_a_factory_are_shown_as_they_are(op: str) -> None:
    # The JSON Schema leaves out defaults built by a factory; the reference must not say "unset".
    rows = {row.name: row.default for row in parameters(op)}
    assert rows["face_mask_types"] == '["box"]'
    assert rows["face_mask_regions"] == "[]"


def test_unknown_op_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "sawp"]) == 2
    assert "unknown op 'sawp'" in capsys.readouterr().err


def test_a_required_list_parameter_reads_well() -> None:
    rows = {row.name: row for row in parameters("process")}
    assert rows["processors"].type == "list of text"
    assert rows["processors"].allowed == "swap, enhance, edit; at least 1 item"
    assert rows["processors"].default == "(required)"


def test_checked_in_reference_matches_the_models(
    repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (repo_root / "docs" / "parameters.md").read_text() == parameters_markdown()
    assert main(["ops", "--markdown"]) == 0
    assert capsys.readouterr().out == parameters_markdown()


@pytest.mark.slow
def test_schema_check_covers_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schemas"
    assert main(["schema", "--out", str(out)]) == 0
    docs = tmp_path / "docs" / "parameters.md"
    assert docs.read_text() == parameters_markdown()
    docs.write_text(docs.read_text().replace("0.0-1.0", "0-2", 1))
    capsys.readouterr()
    assert main(["schema", "--check", "--out", str(out)]) == 1
    assert str(docs) in capsys.readouterr().err
    assert main(["schema", "--out", str(out)]) == 0
    assert main(["schema", "--check", "--out", str(out)]) == 0
