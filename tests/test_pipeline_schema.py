"""The published JSON Schemas: no drift from the models, and every example validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import yaml

from ffpipe.catalog import OPS
from ffpipe.pipeline.schema import all_schemas, op_schema, pipeline_schema

BAD = Path(__file__).resolve().parent / "bad_pipelines"
EXAMPLES = Path(__file__).resolve().parent.parent / "pipelines" / "examples"
ROOT = Path(__file__).resolve().parent.parent

SCHEMAS = ROOT / "schemas"


def _validator() -> jsonschema.Draft202012Validator:
    def retrieve(uri: str) -> referencing.Resource:
        path = Path(uri.removeprefix("file://"))
        return referencing.Resource.from_contents(json.loads(path.read_text(encoding="utf-8")))

    root = (SCHEMAS / "pipeline.schema.json").as_uri()
    registry = referencing.Registry(retrieve=retrieve)  # type: ignore[call-arg]
    return jsonschema.Draft202012Validator({"$ref": root}, registry=registry)


def _errors(document: Any) -> list[str]:
    return [error.message for error in _validator().iter_errors(document)]


def test_checked_in_schemas_match_the_models() -> None:
    for name, text in all_schemas().items():
        path = SCHEMAS / name
        assert path.is_file(), f"{path} is missing: run `make schemas`"
        assert path.read_text(encoding="utf-8") == text, f"{path} drifted: run `make schemas`"
    published = {f"ops/{p.name}" for p in (SCHEMAS / "ops").glob("*.schema.json")}
    assert published == {f"ops/{op}.schema.json" for op in OPS}


@pytest.mark.slow
def test_schemas_are_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(pipeline_schema())
    for op in OPS:
        jsonschema.Draft202012Validator.check_schema(op_schema(op))


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_examples_validate_against_the_schema(example: Path) -> None:
    assert _errors(yaml.safe_load(example.read_text(encoding="utf-8"))) == []


def _step(uses: str, **params: Any) -> dict[str, Any]:
    return {"version": 1, "steps": {"s": {"uses": uses, "with": params}}}


def test_templates_are_accepted_in_place_of_any_value() -> None:
    assert _errors(_step("edit", target_media="a.jpg", face_editor_age="{{ params.age }}")) == []
    assert (
        _errors(
            {
                "version": 1,
                "steps": {"s": {"uses": "edit", "timeout": "{{ params.t }}", "with": {}}},
            }
        )
        == []
    )


def test_with_is_checked_against_its_op() -> None:
    assert _errors(_step("edit", face_editor_age=130))
    assert _errors(_step("edit", face_editor_age="old"))
    assert _errors(_step("edit", face_swapper_model="inswapper_128"))
    assert _errors(_step("swap", face_swapper_model="inswapper_128")) == []
    assert _errors(_step("swap", face_mask_regions=[[[0.1, 0.2], [0.3, 0.4]]]))
    assert _errors(_step("edit", face_editor_hair_color="#12345G"))


@pytest.mark.parametrize(
    "name",
    [
        "above_maximum",
        "bad_enum",
        "unknown_with_key",
        "unknown_top_key",
        "bad_uses",
        "bad_resolution",
        "polygon_above_one",
        "unknown_step_key",
        "defaults_unknown",
    ],
)
def test_schema_catches_what_it_can_see(name: str) -> None:
    document = yaml.safe_load((BAD / f"{name}.yaml").read_text(encoding="utf-8"))
    assert _errors(document)
