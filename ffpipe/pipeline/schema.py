"""JSON Schemas generated from the models: the pipeline file and the ``with`` of each op.

Every value may also be a ``{{ ... }}`` template (checked by ``ffpipe validate`` once rendered),
and op schemas require nothing, since ``defaults:`` may supply any parameter.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ffpipe.catalog import OPS
from ffpipe.pipeline.model import PipelineDecl

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TEMPLATE = {
    "type": "string",
    "pattern": r"\{\{.*\}\}|\{%",
    "description": "A jinja2 template, rendered before validation.",
}
_CARRIED = ("title", "description", "default", "examples")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def _with_templates(schema: Any) -> Any:
    """Accept a template wherever ``schema`` (a value's schema) accepts a value."""
    if not isinstance(schema, dict):
        return schema
    inner = _deep(schema)
    outer = {key: inner.pop(key) for key in _CARRIED if key in inner}
    if inner == {} or inner == {"type": "string"}:
        return {**outer, **inner}
    return {**outer, "anyOf": [inner, TEMPLATE]}


def _deep(schema: dict[str, Any]) -> dict[str, Any]:
    result = dict(schema)
    if isinstance(result.get("properties"), dict):
        result["properties"] = {k: _with_templates(v) for k, v in result["properties"].items()}
    if isinstance(result.get("patternProperties"), dict):
        result["patternProperties"] = {
            k: _with_templates(v) for k, v in result["patternProperties"].items()
        }
    if isinstance(result.get("additionalProperties"), dict):
        result["additionalProperties"] = _with_templates(result["additionalProperties"])
    if isinstance(result.get("items"), dict):
        result["items"] = _with_templates(result["items"])
    for key in _SCHEMA_LISTS:
        if isinstance(result.get(key), list):
            result[key] = [_deep(item) if isinstance(item, dict) else item for item in result[key]]
    if key_defs := result.get("$defs"):
        result["$defs"] = {name: _deep(item) for name, item in key_defs.items()}
    return result


def op_schema(op: str) -> dict[str, Any]:
    """Schema of a step's ``with`` for ``op``."""
    spec = OPS[op]
    schema = _deep(spec.params.model_json_schema())
    schema.pop("required", None)
    return {
        "$schema": DIALECT,
        **schema,
        "title": f"with: of a '{op}' step",
        "description": spec.description,
    }


def pipeline_schema() -> dict[str, Any]:
    """Schema of a pipeline file, checking each step's ``with`` against its op."""
    schema = _deep(PipelineDecl.model_json_schema())
    step = schema["$defs"]["StepDecl"]
    step["properties"]["uses"] = PipelineDecl.model_json_schema()["$defs"]["StepDecl"][
        "properties"
    ]["uses"]
    step["allOf"] = [
        {
            "if": {"properties": {"uses": {"const": op}}, "required": ["uses"]},
            "then": {"properties": {"with": {"$ref": f"ops/{op}.schema.json"}}},
        }
        for op in OPS
    ]
    defaults: dict[str, Any] = {}
    for spec in OPS.values():
        for name, field_schema in _deep(spec.params.model_json_schema())["properties"].items():
            defaults.setdefault(name, field_schema)
    schema["properties"]["defaults"] = {
        **{k: v for k, v in schema["properties"]["defaults"].items() if k in _CARRIED},
        "type": "object",
        "properties": defaults,
        "additionalProperties": False,
    }
    op_defs = {}
    for spec in OPS.values():
        op_defs.update(copy.deepcopy(_deep(spec.params.model_json_schema()).get("$defs", {})))
    if op_defs:
        schema["$defs"] = {**op_defs, **schema["$defs"]}
    return {"$schema": DIALECT, **schema, "title": "ffpipe pipeline"}


def all_schemas() -> dict[str, str]:
    """Relative file name -> JSON text of every published schema."""
    files = {"pipeline.schema.json": _dump(pipeline_schema())}
    for op in OPS:
        files[f"ops/{op}.schema.json"] = _dump(op_schema(op))
    return files


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
