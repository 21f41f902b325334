"""Rendering deferred values with the views of steps that ran, and validating the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.pipeline import (
    PipelineErrors,
    StepView,
    load_pipeline,
    resolve_condition,
    resolve_output,
    resolve_params,
)

PIPELINE = """
    version: 1
    matrix:
      age: [30, 70]
    steps:
      look:
        uses: detect
        with: {target_media: astronaut.jpg}
      aged:
        uses: edit
        if: "{{ steps.look.result.faces | length > 0 }}"
        with:
          target_media: "{{ steps.look.output }}"
          face_editor_age: "{{ matrix.age }}"
          face_editor_blend: "{{ steps.look.result.blend }}"
    outputs:
      "aged-{{ matrix.age }}.jpg": "{{ steps.aged.output }}"
"""


def _view(path: Path, **result: object) -> StepView:
    return StepView(output=str(path), outputs={"output": str(path)}, result=result)


def test_params_are_rendered_validated_and_dumped(tmp_path: Path, write_pipeline) -> None:
    pipeline = load_pipeline(write_pipeline(tmp_path, PIPELINE, photos=True))
    aged = pipeline.instances["aged[age=70]"]
    views = {"look": _view(tmp_path / "astronaut.jpg", faces=[{"box": [1, 2, 3, 4]}], blend=0.5)}
    params = resolve_params(pipeline, aged, views)
    assert params == {
        "target_media": str(tmp_path / "astronaut.jpg"),
        "face_editor_age": 70,
        "face_editor_blend": 0.5,
    }
    assert resolve_condition(pipeline, aged, views) is True
    no_faces = {"look": _view(tmp_path / "astronaut.jpg", faces=[], blend=0.5)}
    assert resolve_condition(pipeline, aged, no_faces) is False


def test_a_bad_rendered_value_is_a_located_error(tmp_path: Path, write_pipeline) -> None:
    pipeline = load_pipeline(write_pipeline(tmp_path, PIPELINE, photos=True))
    aged = pipeline.instances["aged[age=30]"]
    views = {"look": _view(tmp_path / "astronaut.jpg", faces=[], blend=3.0)}
    with pytest.raises(PipelineErrors) as caught:
        resolve_params(pipeline, aged, views)
    (error,) = caught.value.errors
    assert (error.location.line, error.location.column) == (14, 7)
    assert error.path == "steps.aged.with.face_editor_blend"
    assert "3.0 is greater than the maximum 1.0" in error.message


def test_an_undefined_result_key_is_a_located_error(tmp_path: Path, write_pipeline) -> None:
    pipeline = load_pipeline(write_pipeline(tmp_path, PIPELINE, photos=True))
    aged = pipeline.instances["aged[age=30]"]
    with pytest.raises(PipelineErrors, match=r"pipe.yaml:14:7: .*undefined"):
        resolve_params(pipeline, aged, {"look": _view(tmp_path / "astronaut.jpg", faces=[])})


def test_missing_views_are_a_programming_error(tmp_path: Path, write_pipeline) -> None:
    pipeline = load_pipeline(write_pipeline(tmp_path, PIPELINE, photos=True))
    with pytest.raises(KeyError, match="needs the results of look"):
        resolve_params(pipeline, pipeline.instances["aged[age=30]"], {})


def test_outputs_resolve_to_the_artifact_of_their_instance(tmp_path: Path, write_pipeline) -> None:
    pipeline = load_pipeline(write_pipeline(tmp_path, PIPELINE, photos=True))
    first, second = pipeline.outputs
    assert (first.name, second.name) == ("aged-30.jpg", "aged-70.jpg")
    views = {
        "aged[age=30]": _view(tmp_path / "thirty.jpg"),
        "aged[age=70]": _view(tmp_path / "seventy.jpg"),
    }
    assert resolve_output(pipeline, first, views) == str(tmp_path / "thirty.jpg")
    assert resolve_output(pipeline, second, views) == str(tmp_path / "seventy.jpg")
