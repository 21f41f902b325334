"""load_pipeline on real files: params, inputs, defaults, matrix fan-out, step keys, outputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ffpipe.catalog import OPS
from ffpipe.pipeline import Deferred, LoadOptions, PipelineErrors, RetryPolicy, load_pipeline

EXAMPLES = Path(__file__).resolve().parent.parent / "pipelines" / "examples"
MEDIA = Path(__file__).resolve().parent.parent / "media"

SWAP = """
    version: 1
    inputs:
      source: grace_hopper.jpg
      target: astronaut.jpg
    steps:
      swap:
        uses: swap
        with:
          source_face: "{{ inputs.source }}"
          target_media: "{{ inputs.target }}"
"""


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_loads(example: Path) -> None:
    pipeline = load_pipeline(example)
    assert pipeline.instances
    assert pipeline.digest == hashlib.sha256(example.read_bytes()).hexdigest()
    assert example.read_text().startswith(
        "# yaml-language-server: $schema=../../schemas/pipeline.schema.json\n"
    )
    for instance in pipeline.instances.values():
        for name in OPS[instance.op].file_fields:
            value = instance.params.get(name)
            if isinstance(value, str):
                assert Path(value).is_absolute() and Path(value).is_file()


def test_params_are_typed_and_overridable(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        params:
          age: {type: integer, default: 65, minimum: 0, maximum: 100}
          blend: {type: number, default: 1}
        steps:
          aged:
            uses: edit
            with:
              target_media: astronaut.jpg
              face_editor_age: "{{ params.age }}"
              face_editor_blend: "{{ params.blend }}"
              output_path: "aged_{{ params.age }}.jpg"
        """,
        photos=True,
    )
    pipeline = load_pipeline(path)
    assert pipeline.params == {"age": 65, "blend": 1.0}
    params = pipeline.instances["aged"].params
    assert params["face_editor_age"] == 65 and params["output_path"] == "aged_65.jpg"
    overridden = load_pipeline(path, {"age": "30"})
    assert overridden.instances["aged"].params["face_editor_age"] == 30
    with pytest.raises(PipelineErrors, match="greater than the maximum 100"):
        load_pipeline(path, {"age": "130"})


def test_inputs_resolve_paths_globs_and_urls(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        inputs:
          one: astronaut.jpg
          all: "*.jpg"
          remote: https://example.invalid/face.jpg
        steps:
          look:
            uses: detect
            with:
              target_media: "{{ inputs.one }}"
        """,
        photos=True,
    )
    inputs = load_pipeline(path).inputs
    assert inputs["one"] == str(tmp_path / "astronaut.jpg")
    assert inputs["all"] == [str(tmp_path / "astronaut.jpg"), str(tmp_path / "grace_hopper.jpg")]
    assert inputs["remote"] == "https://example.invalid/face.jpg"


def test_plain_relative_file_fields_are_resolved(tmp_path: Path, write_pipeline) -> None:
    sub = tmp_path / "recipes"
    sub.mkdir()
    path = sub / "p.yaml"
    path.write_text(
        "version: 1\nsteps:\n  look:\n    uses: detect\n    with:\n"
        "      target_media: ../astronaut.jpg\n"
    )
    write_pipeline(tmp_path, "version: 1\n", name="unused.yaml", photos=True)
    params = load_pipeline(path, None, LoadOptions(allow_outside_files=True)).instances["look"]
    assert params.params["target_media"] == str(tmp_path / "astronaut.jpg")


def test_defaults_apply_where_the_op_takes_them_and_with_wins(
    tmp_path: Path, write_pipeline
) -> None:
    path = write_pipeline(
        tmp_path,
        SWAP
        + """
      restore:
        uses: enhance
        with:
          target_media: "{{ steps.swap.output }}"
          face_mask_blur: 0.9
      look:
        uses: detect
        with:
          target_media: astronaut.jpg
    defaults:
      face_mask_blur: 0.1
      face_enhancer_blend: 0.5
    """,
        photos=True,
    )
    instances = load_pipeline(path).instances
    assert instances["swap"].params["face_mask_blur"] == 0.1
    assert "face_enhancer_blend" not in instances["swap"].params
    assert instances["restore"].params["face_mask_blur"] == 0.9
    assert instances["restore"].params["face_enhancer_blend"] == 0.5
    assert "face_mask_blur" not in instances["look"].params
    assert instances["swap"].param_locations["face_mask_blur"].line == 22


def test_references_become_deferred_values_and_edges(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(
        tmp_path,
        SWAP
        + """
      restore:
        uses: enhance
        needs: swap
        if: "{{ steps.swap.result.faces | length > 0 }}"
        with:
          target_media: "{{ steps.swap.output }}"
    """,
        photos=True,
    )
    restore = load_pipeline(path).instances["restore"]
    target = restore.params["target_media"]
    assert isinstance(target, Deferred)
    assert target.refs == {"swap"} and target.path == "steps.restore.with.target_media"
    assert (target.location.line, target.location.column) == (17, 7)
    assert isinstance(restore.condition, Deferred)
    assert restore.needs == {"swap"}


def test_step_keys(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        params:
          limit: {type: number, default: 12.5}
        steps:
          a:
            uses: detect
            retry: 5
            timeout: "{{ params.limit }}"
            cache: false
            async: true
            job: {priority: 9, job_id: face-1}
            if: "{{ params.limit > 100 }}"
            with: {target_media: astronaut.jpg}
          b:
            uses: detect
            retry: {attempts: 2, backoff: 0.5}
            with: {target_media: astronaut.jpg}
        """,
        photos=True,
    )
    a, b = load_pipeline(path).instances.values()
    assert a.retry == RetryPolicy(attempts=5)
    assert a.timeout == 12.5 and a.cache is False and a.asynchronous is True
    assert a.job == {"priority": 9, "job_id": "face-1"}
    assert a.condition is False
    assert b.retry == RetryPolicy(attempts=2, backoff=0.5)
    assert b.condition is True and b.timeout is None


def test_matrix_fans_out_only_the_steps_that_read_it(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        matrix:
          photo: "*.jpg"
          age: [30, 70]
        steps:
          look:
            uses: detect
            with: {target_media: "{{ matrix.photo }}"}
          aged:
            uses: edit
            with:
              target_media: "{{ matrix.photo }}"
              face_editor_age: "{{ matrix.age }}"
          restore:
            uses: enhance
            needs: [look]
            with: {target_media: "{{ steps.aged.output }}"}
          once:
            uses: detect
            with: {target_media: astronaut.jpg}
        outputs:
          "{{ matrix.photo | stem }}-{{ matrix.age }}.jpg": "{{ steps.restore.output }}"
        """,
        photos=True,
    )
    pipeline = load_pipeline(path)
    ids = list(pipeline.instances)
    assert ids[:2] == ["look[photo=astronaut.jpg]", "look[photo=grace_hopper.jpg]"]
    assert "aged[photo=astronaut.jpg,age=70]" in ids and "once" in ids
    assert len(ids) == 2 + 4 + 4 + 1
    restore = pipeline.instances["restore[photo=grace_hopper.jpg,age=30]"]
    assert restore.needs == {"look[photo=grace_hopper.jpg]", "aged[photo=grace_hopper.jpg,age=30]"}
    assert restore.matrix == {"photo": str(tmp_path / "grace_hopper.jpg"), "age": 30}
    names = [output.name for output in pipeline.outputs]
    assert names == [
        "astronaut-30.jpg",
        "astronaut-70.jpg",
        "grace_hopper-30.jpg",
        "grace_hopper-70.jpg",
    ]


def test_output_names_must_differ_across_instances(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        matrix: {age: [1, 2]}
        steps:
          aged:
            uses: edit
            with: {target_media: astronaut.jpg, face_editor_age: "{{ matrix.age }}"}
        outputs:
          same.jpg: "{{ steps.aged.output }}"
        """,
        photos=True,
    )
    with pytest.raises(PipelineErrors, match=r"pipe.yaml:8:3: outputs.same.jpg: .*repeats"):
        load_pipeline(path)


def test_name_defaults_to_the_file_stem_and_missing_file_is_located(
    tmp_path: Path, write_pipeline
) -> None:
    path = write_pipeline(
        tmp_path,
        "version: 1\nsteps:\n  a: {uses: detect, with: {target_media: astronaut.jpg}}\n",
        name="my_recipe.yaml",
        photos=True,
    )
    assert load_pipeline(path).name == "my_recipe"
    with pytest.raises(PipelineErrors, match="cannot read the file"):
        load_pipeline(tmp_path / "absent.yaml")


def test_media_folder_is_the_repository_one() -> None:
    assert (MEDIA / "astronaut.jpg").is_file()


@pytest.mark.parametrize("name", ["../escaped", "a/b", ".hidden", "..", "' '"])
def test_a_name_that_is_not_one_folder_is_refused(
    tmp_path: Path, name: str, write_pipeline
) -> None:
    # The name is the folder under out/ that outputs go to: it must not point elsewhere.
    path = write_pipeline(
        tmp_path, SWAP.replace("version: 1", f"version: 1\n    name: {name}"), photos=True
    )
    with pytest.raises(PipelineErrors, match=r"pipe.yaml:2:1: name: .* is not a plain name"):
        load_pipeline(path)


def test_a_field_no_step_has_is_reported_where_it_is_read(tmp_path: Path, write_pipeline) -> None:
    # Caught by validate, not after the upstream step has run.
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        steps:
          a:
            uses: detect
            with: {target_media: astronaut.jpg}
          b:
            uses: enhance
            if: "{{ steps.a.reslt.faces | length > 0 }}"
            with: {target_media: "{{ steps.a.outptu }}"}
        outputs:
          x: "{{ steps.b.output }}"
        """,
        photos=True,
    )
    with pytest.raises(PipelineErrors) as raised:
        load_pipeline(path)
    assert [(error.location.line, error.message) for error in raised.value.errors] == [
        (
            8,
            "steps.a.reslt: a step has no 'reslt' (did you mean 'result'?); it has output, "
            "outputs, result",
        ),
        (
            9,
            "steps.a.outptu: a step has no 'outptu' (did you mean 'output'?); it has output, "
            "outputs, result",
        ),
    ]


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400"])
def test_a_number_param_must_be_finite(tmp_path: Path, text: str, write_pipeline) -> None:
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        params:
          scale: {type: number, default: 1}
        steps:
          e:
            uses: enhance
            with: {target_media: astronaut.jpg, output_path: "x{{ params.scale }}.jpg"}
        """,
        photos=True,
    )
    with pytest.raises(PipelineErrors, match=r"pipe.yaml:3:3: params.scale: .* finite"):
        load_pipeline(path, {"scale": text})


@pytest.mark.parametrize("timeout", ["30", '"{{ params.limit }}"'])
def test_a_needs_entry_that_is_not_text_is_reported_once(
    tmp_path: Path, timeout: str, write_pipeline
) -> None:
    path = write_pipeline(
        tmp_path,
        f"""
        version: 1
        params:
          limit: {{type: number, default: 30}}
        steps:
          e:
            uses: enhance
            needs: [5]
            timeout: {timeout}
            with: {{target_media: astronaut.jpg}}
        """,
        photos=True,
    )
    with pytest.raises(PipelineErrors) as raised:
        load_pipeline(path)
    assert [str(error).split(": ", 1)[1] for error in raised.value.errors] == [
        "steps.e.needs[0]: 5 should be a valid string"
    ]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ('"a\\0b"', "control character"),
        ('"."', "'.'"),
        ('"sub/./x"', "'.'"),
        ('"sub//x"', "empty"),
        ('"' + "x" * 300 + '"', "bytes"),
        ('"' + "é" * 120 + '"', "bytes"),
    ],
)
def test_output_names_that_cannot_be_files_are_located_errors(
    tmp_path: Path, name: str, problem: str, write_pipeline
) -> None:
    path = write_pipeline(
        tmp_path,
        f"""
        version: 1
        steps:
          look:
            uses: detect
            with:
              target_media: astronaut.jpg
        outputs:
          {name}: "{{{{ steps.look.output }}}}"
        """,
        photos=True,
    )
    with pytest.raises(PipelineErrors) as caught:
        load_pipeline(path)
    (error,) = caught.value.errors
    assert error.location.line == 8 and problem in error.message
