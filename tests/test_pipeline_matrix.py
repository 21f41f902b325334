"""Matrix expansion: product order, include/exclude, globs and instance ids."""

from __future__ import annotations

import sys
from pathlib import Path

from ffpipe.pipeline.matrix import expand_matrix
from ffpipe.pipeline.source import parse_source


def _expand(text: str, base: Path) -> tuple[object, list[str]]:
    tree = parse_source(text, "m.yaml")
    errors: list = []
    matrix = expand_matrix(tree.data["matrix"], tree, base, errors)
    return matrix, [str(error) for error in errors]


def test_product_include_and_exclude(tmp_path: Path) -> None:
    matrix, errors = _expand(
        "matrix:\n  a: [1, 2]\n  b: [x, y]\n  exclude:\n    - {a: 1, b: y}\n"
        "  include:\n    - {a: 3, b: z}\n",
        tmp_path,
    )
    assert errors == []
    assert [dict(c) for c in matrix.combinations] == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 3, "b": "z"},
    ]
    assert matrix.project(["a"]) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert matrix.instance_id("swap", {"a": 2, "b": "y"}) == "swap[a=2,b=y]"
    assert matrix.instance_id("swap", {}) == "swap"


def test_globs_expand_sorted_and_label_by_file_name(tmp_path: Path, write_pipeline) -> None:
    write_pipeline(tmp_path, "version: 1\n", photos=True)
    matrix, errors = _expand(
        "matrix:\n  photo: '*.jpg'\n  exclude:\n    - {photo: astronaut.jpg}\n", tmp_path
    )
    assert errors == []
    assert [c["photo"] for c in matrix.combinations] == [str(tmp_path / "grace_hopper.jpg")]
    assert matrix.instance_id("s", matrix.combinations[0]) == "s[photo=grace_hopper.jpg]"


def test_same_file_names_in_two_folders_show_in_full(tmp_path: Path) -> None:
    matrix, _ = _expand("matrix:\n  photo: [a/face.jpg, b/face.jpg]\n", tmp_path)
    assert matrix.instance_id("s", {"photo": "a/face.jpg"}) == "s[photo=a/face.jpg]"


def test_mistakes_are_located(tmp_path: Path) -> None:
    _, errors = _expand("matrix:\n  a: [1]\n  b: []\n", tmp_path)
    assert "m.yaml:3:3: matrix.b: an axis needs at least one value" in errors
    _, errors = _expand(
        "matrix:\n  a: [1]\n  b: [x]\n  include:\n    - {a: 2}\n  exclude:\n    - {c: 1}\n",
        tmp_path,
    )
    assert any(
        e.startswith("m.yaml:5:7: matrix.include[0]: an include gives every axis") for e in errors
    )
    assert any(e.startswith("m.yaml:7:8: matrix.exclude[0].c: no matrix axis 'c'") for e in errors)


def _matrix_text(excludes: int) -> str:
    """A 100 x 100 matrix (10,000 combinations) with ``excludes`` excludes of distinct pairs."""
    lines = ["matrix:", f"  a: {list(range(100))}", f"  b: {list(range(100))}", "  exclude:"]
    lines += [f"    - {{a: {n % 100}, b: {n // 100}}}" for n in range(excludes)]
    return "\n".join(lines) + "\n"


def _python_calls_expanding(text: str, budget: int) -> tuple[int, int]:
    """Python function calls (generator steps included) made by expand_matrix, and its size.

    Counting stops past ``budget`` so a quadratic expansion is reported without being traced.
    """
    tree = parse_source(text, "m.yaml")
    calls = 0

    def count(_frame, event, _arg):
        nonlocal calls
        if event == "call":
            calls += 1
            if calls > budget:
                sys.setprofile(None)

    sys.setprofile(count)
    try:
        matrix = expand_matrix(tree.data["matrix"], tree, Path("."), [], max_instances=20_000)
    finally:
        sys.setprofile(None)
    return calls, len(matrix.combinations)


def test_excludes_cost_grows_linearly_not_with_excludes_times_combinations() -> None:
    few_calls, few_kept = _python_calls_expanding(_matrix_text(1), budget=10**7)
    assert few_kept == 9_999
    budget = 2 * few_calls + 100 * 5_000  # the cost of one exclude, plus a linear share of each
    many_calls, many_kept = _python_calls_expanding(_matrix_text(5_000), budget)
    assert many_kept == 5_000
    assert many_calls <= budget, f"{many_calls} calls for 5,000 excludes, {few_calls} for one"
