"""YAML reading with positions: marks, duplicate keys, syntax errors, odd YAML."""

from __future__ import annotations

import pytest

from ffpipe.pipeline import PipelineErrors
from ffpipe.pipeline.source import parse_source


def test_marks_point_at_keys_and_items() -> None:
    tree = parse_source("version: 1\nsteps:\n  swap:\n    with:\n      regions: [a, b]\n", "f.yaml")
    assert tree.data["steps"]["swap"]["with"]["regions"] == ["a", "b"]
    assert str(tree.locate(("steps", "swap", "with"))) == "f.yaml:4:5"
    assert str(tree.locate(("steps", "swap", "with", "regions", 1))) == "f.yaml:5:20"
    # A path the file does not spell out falls back to its nearest ancestor.
    assert str(tree.locate(("steps", "swap", "with", "missing"))) == "f.yaml:4:5"


def test_duplicate_keys_are_errors_with_both_lines() -> None:
    with pytest.raises(PipelineErrors) as caught:
        parse_source("a: 1\nb: 2\na: 3\n", "f.yaml")
    (error,) = caught.value.errors
    assert (error.location.line, error.location.column) == (3, 1)
    assert "duplicate key 'a' (first given on line 1)" in error.message


def test_keys_keep_their_text() -> None:
    # YAML 1.1 would read the key `on` as True; a pipeline key is always its text.
    assert parse_source("on: yes\n", "f.yaml").data == {"on": True}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("[1, 2]\n", "top level must be a mapping"),
        ("a: 1\n---\nb: 2\n", "YAML syntax error"),
        ("a: &x [*x]\n", "contains it"),
        ("a: !!python/object:os.system x\n", "cannot read this value"),
        ("? [a, b]\n: 1\n", "keys must be plain names"),
    ],
)
def test_bad_yaml_is_one_located_error(text: str, expected: str) -> None:
    with pytest.raises(PipelineErrors) as caught:
        parse_source(text, "f.yaml")
    assert expected in str(caught.value)
    assert all(error.location.line >= 1 for error in caught.value.errors)


@pytest.mark.slow
def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(PipelineErrors, match="expands to more than"):
        parse_source("\n".join(lines) + "\n", "f.yaml")


def test_report_shows_the_line_and_a_caret() -> None:
    with pytest.raises(PipelineErrors) as caught:
        parse_source("steps:\n  a: 1\n  a: 2\n", "f.yaml")
    report = str(caught.value)
    assert "f.yaml:3:3: steps.a: duplicate key" in report
    assert "\n      a: 2\n      ^" in report


@pytest.mark.parametrize(
    "value", ["!!timestamp 99999-01-01", "!!timestamp yesterday", "!!int 0xZZ", "!!float nope"]
)
def test_values_a_tag_cannot_read_are_located_errors(value: str) -> None:
    with pytest.raises(PipelineErrors) as caught:
        parse_source(f"version: 1\nwhen: {value}\n", "f.yaml")
    (error,) = caught.value.errors
    assert (error.location.line, error.path) == (2, "when")
    assert "cannot read this value" in error.message
