"""Pipeline files cannot make validate hang or eat the machine: every limit is a located error.

Each case finished only after minutes (or gigabytes) before the limits existed; the timeout
marks make a regression fail instead of hanging the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _pipeline_support import write_pipeline

from ffpipe.cli import main
from ffpipe.pipeline import PipelineErrors, load_pipeline
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
