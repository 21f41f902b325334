"""Pipeline files cannot make validate hang or eat the machine: every limit is a located error.

Each case finished only after minutes (or gigabytes) before the limits existed; the timeout
marks make a regression fail instead of hanging the suite.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline

from ffpipe.cli import main
from ffpipe.pipeline import PipelineErrors, bounds, load_pipeline
from ffpipe.pipeline.loader import LoadOptions

STEP = """
steps:
  look:
    uses: detect
    with:
      target_media: astronaut.jpg
      face_detector_score: {score}
"""


def _errors(path: Path, options: LoadOptions | None = None) -> list[str]:
    with pytest.raises(PipelineErrors) as caught:
        load_pipeline(path, None, options)
    return [str(error) for error in caught.value.errors]


def _with_input(tmp_path: Path, template: str) -> Path:
    return write_pipeline(
        tmp_path,
        f"""
        version: 1
        inputs:
          photo: "{template}"
        steps:
          look:
            uses: detect
            with:
              target_media: "{{{{ inputs.photo }}}}"
        """,
        photos=True,
    )


HOSTILE = {
    "nested loops": "{% for a in range(100000) %}{% for b in range(100000) %}"
    "{% endfor %}{% endfor %}astronaut.jpg",
    "huge format width": "{{ '%0999999999d'|format(1) }}",
    "huge indent": "{{ 'a\\nb'|indent(10**9) }}",
    "repeated string": "{{ 'a' * 10**9 }}",
    "method padding": "{{ 'a'.ljust(10**9) }}",
    "str.format width": "{{ '{:>999999999}'.format(1) }}",
    "doubling in a namespace": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "doubling with +": "{% set ns = namespace(s=[1]) %}{% for i in range(60) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "big power": "{{ 7 ** 99999999 }}",
    "lipsum": "{{ lipsum(n=100000, min=1000, max=1000) }}",
}


@pytest.mark.slow
@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", HOSTILE)
def test_templates_that_would_run_away_are_located_errors(tmp_path: Path, case: str) -> None:
    path = _with_input(tmp_path, HOSTILE[case])
    [error] = _errors(path)
    assert error.startswith(f"{path}:3:")
    assert "inputs.photo" in error
    assert "limit" in error or "undefined" in error


def test_ordinary_loops_and_formatting_still_render(tmp_path: Path) -> None:
    path = _with_input(
        tmp_path,
        "{% for i in range(3) %}{% endfor %}{{ '%05d'|format(1)|replace('00001', 'astronaut') }}"
        "{{ '.jpg'.ljust(4) }}",
    )
    assert load_pipeline(path).inputs["photo"].endswith("astronaut.jpg")


def _matrix(tmp_path: Path, size: int) -> Path:
    values = ", ".join(str(index) for index in range(size))
    return write_pipeline(
        tmp_path,
        f"""
        version: 1
        matrix:
          a: [{values}]
          b: [{values}]
        steps:
          look:
            uses: detect
            with:
              target_media: astronaut.jpg
              face_detector_score: "{{{{ (matrix.a + matrix.b) / 10000 }}}}"
        """,
        photos=True,
    )


@pytest.mark.timeout(30)
def test_a_matrix_past_the_instance_limit_is_refused_before_expanding(tmp_path: Path) -> None:
    path = _matrix(tmp_path, 1000)
    [error] = _errors(path)
    assert error.startswith(f"{path}:2:") and "matrix" in error
    assert "1000000 combinations" in error and "--max-instances" in error


def test_the_instance_limit_can_be_raised(tmp_path: Path) -> None:
    path = _matrix(tmp_path, 40)
    assert "1600 combinations" in _errors(path, LoadOptions(max_instances=1000))[0]
    loaded = load_pipeline(path, None, LoadOptions(max_instances=2000))
    assert len(loaded.instances) == 1600


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pattern", ["/**/*", "../**/*.jpg", "/etc/*"])
def test_globs_outside_the_pipeline_folder_are_refused_without_walking(
    tmp_path: Path, pattern: str
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    path = write_pipeline(
        folder,
        f"""
        version: 1
        inputs:
          photos: "{pattern}"
        steps:
          look:
            uses: detect
            with:
              target_media: astronaut.jpg
        """,
        photos=True,
    )
    [error] = _errors(path)
    assert error.startswith(f"{path}:3:") and "outside" in error
    assert "--allow-outside-files" in error


def test_a_glob_outside_is_allowed_with_the_flag(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    path = write_pipeline(
        folder,
        """
        version: 1
        inputs:
          photos: "../elsewhere/*.jpg"
        steps:
          look:
            uses: detect
            with:
              target_media: astronaut.jpg
        """,
        photos=True,
    )
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.jpg").write_bytes(b"x")
    loaded = load_pipeline(path, None, LoadOptions(allow_outside_files=True))
    assert loaded.inputs["photos"] == [str(tmp_path / "elsewhere" / "x.jpg")]


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_validate_reports_the_limits_and_its_flags_raise_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _matrix(tmp_path, 40)
    assert main(["validate", str(path), "--max-instances", "100"]) == 2
    assert "over the limit of 100; pass --max-instances N" in capsys.readouterr().err
    assert main(["validate", str(path), "--max-instances", "1600"]) == 0
    assert "1600 instances" in capsys.readouterr().out
    hostile = _with_input(tmp_path, "{{ 'a'|indent(10**9) }}")
    assert main(["validate", str(hostile)]) == 2
    assert "limit of 1000000 characters" in capsys.readouterr().err


def _peak_bytes_while(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


MEMORY_BOMBS = {
    "nested str.format width": "{{ '{0:{1}}'.format('x', 2000000000) }}",
    "star width of %": "{{ '%*s' % (2000000000, 'x') }}",
    "star precision of %": "{{ '%.*f' % (2000000000, 1.5) }}",
    "format_map nested width": "{{ '{a:>{w}}'.format_map({'a': 'x', 'w': 2000000000}) }}",
    "computed centre widths": "{{ range(1000)|map('center', 999999)|list|length }}",
    "computed wordwrap separator": "{{ ('ab' * 4000)|wordwrap(1, true, 'x' * 99999)|length }}",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", MEMORY_BOMBS)
def test_memory_bombs_are_refused_before_allocating(tmp_path: Path, case: str) -> None:
    path = _with_input(tmp_path, MEMORY_BOMBS[case])
    found: list[list[str]] = []
    peak = _peak_bytes_while(lambda: found.append(_errors(path)))
    [[error]] = found
    assert error.startswith(f"{path}:3:"), error
    assert "limit" in error or "budget" in error, error
    assert peak < 100_000_000, f"{peak} bytes allocated before refusing"


RECURSIVE_MACRO = (
    "{% macro twice(n) %}{% if n > 0 %}{{ twice(n - 1) }}{{ twice(n - 1) }}{% endif %}"
    "{% endmacro %}{{ twice(22) }}astronaut.jpg"
)


@pytest.mark.timeout(60)
def test_a_macro_doubling_per_level_spends_the_budget_instead_of_minutes(tmp_path: Path) -> None:
    [error] = _errors(_with_input(tmp_path, RECURSIVE_MACRO))
    assert "budget of" in error and "steps" in error


@pytest.mark.timeout(60)
def test_endless_macro_recursion_stops_at_the_depth_limit(tmp_path: Path) -> None:
    endless = "{% macro deeper(n) %}{{ deeper(n + 1) }}{% endmacro %}{{ deeper(0) }}"
    [error] = _errors(_with_input(tmp_path, endless))
    assert f"limit of {bounds.MAX_CALL_DEPTH}" in error


@pytest.mark.timeout(120)
def test_one_budget_covers_every_instance_of_a_matrix(tmp_path: Path) -> None:
    """Each value copies a 1 MB string a thousand times: within any per-value limit, hours for a
    thousand instances; the pipeline-wide budget stops it once, with one error."""
    values = ", ".join(str(index) for index in range(1000))
    copying = (
        "{% set s = 'x' * 999999 %}{% for i in range(1000) %}{% set t = s ~ '' %}{% endfor %}"
        "{{ matrix.a }}"
    )
    path = write_pipeline(
        tmp_path,
        f"""
        version: 1
        matrix:
          a: [{values}]
        steps:
          look:
            uses: detect
            with:
              target_media: astronaut.jpg
              face_selector_order: "{copying}"
        """,
    )
    errors = _errors(path, LoadOptions(max_instances=1000))
    budget = [error for error in errors if bounds.BUDGET_MESSAGE in error]
    assert len(budget) == 1 and f"{bounds.DEFAULT_BUDGET.chars} characters" in budget[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("link_to", ["..", "/"])
def test_globs_do_not_follow_folder_links_back_up_or_out(tmp_path: Path, link_to: str) -> None:
    folder = tmp_path / "project"
    (folder / "d" / "sub").mkdir(parents=True)
    (folder / "d" / "sub" / "a.png").write_bytes(b"png")
    (folder / "d" / "up").symlink_to(link_to)
    (folder / "d" / "sub" / "again").symlink_to("../..")
    path = write_pipeline(
        folder,
        """
        version: 1
        inputs:
          found: "d/**/*.png"
          none: "d/**/nomatch*.png"
        steps:
          look:
            uses: detect
            with:
              target_media: astronaut.jpg
        """,
        photos=True,
    )
    [error] = _errors(path)
    assert error.startswith(f"{path}:4:") and "matches no files" in error
    path.write_text(path.read_text().replace('  none: "d/**/nomatch*.png"\n', ""))
    assert load_pipeline(path).inputs["found"] == [str(folder / "d" / "sub" / "a.png")]


@pytest.mark.slow
def test_a_glob_walk_is_bounded_however_links_multiply_it(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    level = folder / "d"
    level.mkdir(parents=True)
    for _depth in range(16):  # each level links twice to the next: 2**16 paths, few folders
        (level / "next").mkdir()
        (level / "a").symlink_to("next")
        (level / "b").symlink_to("next")
        level = level / "next"
    path = _with_input(folder, "d/**/nomatch*.png")
    [error] = _errors(path)
    assert "more than" in error and "folder entries" in error
