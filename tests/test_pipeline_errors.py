"""Every malformed pipeline in tests/bad_pipelines points at its exact line; no tracebacks."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffpipe.graph import build_graph
from ffpipe.pipeline import PipelineErrors, load_pipeline
from ffpipe.pipeline.errors import SpecError, did_you_mean, format_path
from ffpipe.pipeline.instance import Location

BAD = Path(__file__).resolve().parent / "bad_pipelines"
EXAMPLES = Path(__file__).resolve().parent.parent / "pipelines" / "examples"
MEDIA = Path(__file__).resolve().parent.parent / "media"

BAD_FILES = sorted(BAD.glob("*.yaml"))


def _expectation(path: Path) -> tuple[int, int, str, dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^# expect: (\d+):(\d+) (.+)$", text, re.MULTILINE)
    assert match, f"{path.name} has no '# expect: LINE:COL message' header"
    params = re.search(r"^# params: (\S+)=(\S*)$", text, re.MULTILINE)
    overrides = {params.group(1): params.group(2)} if params else {}
    return int(match.group(1)), int(match.group(2)), match.group(3), overrides


def test_there_are_enough_bad_pipelines() -> None:
    assert len(BAD_FILES) >= 25


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda path: path.stem)
def test_bad_pipeline_points_at_its_line(path: Path) -> None:
    line, column, message, overrides = _expectation(path)
    with pytest.raises(PipelineErrors) as caught:
        build_graph(load_pipeline(path, overrides))
    errors = caught.value.errors
    assert errors[0].location.file == str(path)
    text = str(caught.value)
    first = errors[0]
    assert (first.location.line, first.location.column) == (line, column), text
    assert message in str(first), text
    # Each cause is reported once: no knock-on errors from the same mistake.
    assert len(errors) == 1, text


def test_truly_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")
    with pytest.raises(PipelineErrors, match=r"empty.yaml:1:1: the file is empty"):
        load_pipeline(path)


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "version: 1\n"
        "nmae: typo\n"
        "steps:\n"
        "  swap:\n"
        "    uses: swap\n"
        "    with:\n"
        "      source_face: nowhere.jpg\n"
        "      target_media: nowhere.jpg\n"
        "      face_mask_blur: 1.5\n"
        "      face_swaper_model: x\n"
        "  edit:\n"
        "    uses: edit\n"
        "    with:\n"
        "      target_media: '{{ steps.swop.output }}'\n"
    )
    with pytest.raises(PipelineErrors) as caught:
        load_pipeline(path)
    lines = [error.location.line for error in caught.value.errors]
    assert lines == sorted(lines)
    assert {2, 7, 8, 9, 10, 14} <= set(lines)
    assert caught.value.report().startswith(f"{len(lines)} errors in pipeline")


def test_json_form_of_errors() -> None:
    error = SpecError(Location("p.yaml", 3, 5), "steps.a", "bad")
    assert PipelineErrors([error]).to_json() == [
        {"file": "p.yaml", "line": 3, "column": 5, "path": "steps.a", "message": "bad"}
    ]


def test_helpers() -> None:
    assert did_you_mean("face_swaper_model", ["face_swapper_model", "x"]) == (
        " (did you mean 'face_swapper_model'?)"
    )
    assert did_you_mean("zzz", ["face_swapper_model"]) == ""
    assert (
        format_path(("steps", "swap", "with", "regions", 0, 1)) == "steps.swap.with.regions[0][1]"
    )


def _assert_located_or_ok(path: Path) -> None:
    try:
        build_graph(load_pipeline(path))
    except PipelineErrors as failure:
        assert failure.errors
        for error in failure.errors:
            assert error.location.line >= 1 and error.location.column >= 1
            assert error.message
        json.dumps(failure.to_json())


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 300), st.floats(-2, 2), st.text(max_size=12)
)
_keys = st.sampled_from(
    [
        "version",
        "steps",
        "uses",
        "with",
        "needs",
        "if",
        "matrix",
        "params",
        "inputs",
        "defaults",
        "outputs",
        "swap",
        "edit",
        "target_media",
        "face_mask_blur",
        "retry",
        "type",
        "default",
        "include",
        "exclude",
        "{{ steps.swap.output }}",
        "job",
        "timeout",
    ]
) | st.text(max_size=8)
_trees = st.recursive(
    _scalars
    | st.sampled_from(
        [
            "swap",
            "{{ params.age }}",
            "{{ steps.swap.output }}",
            "*.jpg",
            "{{ ''.__class__ }}",
            "{{ matrix.a }}",
        ]
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=_trees)
def test_random_yaml_never_raises_a_traceback(tmp_path: Path, tree: object) -> None:
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    _assert_located_or_ok(path)


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    example=st.sampled_from(sorted(EXAMPLES.glob("*.yaml"))),
    seed=st.integers(0, 2**32),
    edits=st.integers(1, 4),
)
def test_mutated_examples_never_raise_a_traceback(
    tmp_path: Path, example: Path, seed: int, edits: int
) -> None:
    chooser = random.Random(seed)
    lines = example.read_text(encoding="utf-8").splitlines()
    for _ in range(edits):
        index = chooser.randrange(len(lines))
        action = chooser.choice(["drop", "repeat", "char", "indent", "value"])
        line = lines[index]
        if action == "drop":
            del lines[index]
        elif action == "repeat":
            lines.insert(index, line)
        elif action == "char" and line:
            at = chooser.randrange(len(line))
            lines[index] = line[:at] + chooser.choice("\t :{}[]-#'\"x9*&!%|>") + line[at + 1 :]
        elif action == "indent":
            lines[index] = " " * chooser.choice([1, 2, 4]) + line
        elif ":" in line:
            key = line.split(":", 1)[0]
            lines[index] = (
                key + ": " + chooser.choice(["-1", "2.5", "[]", "{}", "null", "x", "1e9"])
            )
        if not lines:
            lines = [""]
    # Same layout as the repository, so the example's ../../media paths still resolve.
    media = tmp_path / "media"
    if not media.exists():
        media.symlink_to(MEDIA, target_is_directory=True)
    path = tmp_path / "pipelines" / "examples" / example.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_located_or_ok(path)
