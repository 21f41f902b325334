"""The parameter reference: every op's parameters with type, range or choices, default and
description, read from the same models as the JSON Schemas (``ffpipe ops``, docs/parameters.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from ffpipe.catalog.ops import OPS

MARKDOWN_TITLE = "# Parameters"


@dataclass(frozen=True)
class Parameter:
    """One parameter of an op as people read it."""

    name: str
    type: str
    allowed: str
    """A range (``0-100``, ``> 0``), the choices (``box, occlusion``) or a pattern; may be ''."""
    default: str
    """The default as YAML would spell it, ``(required)`` when there is none."""
    description: str


def parameters(op: str) -> list[Parameter]:
    """The parameters of ``op`` in the model's order; raises KeyError for an unknown op."""
    model = OPS[op].params
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    rows = []
    for name, field in schema["properties"].items():
        shape = _non_null(field)
        rows.append(
            Parameter(
                name=name,
                type=_type(shape) + (" or null" if shape is not field else ""),
                allowed=_allowed(shape),
                default="(required)" if name in required else _show(_default(model, name)),
                description=str(field.get("description", "")),
            )
        )
    return rows


def _default(model: type[Any], name: str) -> Any:
    # The schema omits defaults made by a factory (``face_mask_types: [box]``); the field has them.
    field = model.model_fields[name]
    return to_jsonable_python(field.get_default(call_default_factory=True))


def ops_table() -> list[tuple[str, str]]:
    """``(op, description)`` of every op."""
    return [(name, spec.description) for name, spec in OPS.items()]


def parameters_markdown() -> str:
    """docs/parameters.md: every op and every parameter, generated (checked by schema --check)."""
    lines = [
        MARKDOWN_TITLE,
        "",
        "Generated from the catalog models by `ffpipe schema` (also `ffpipe ops --markdown`); do "
        "not edit by hand. `ffpipe ops OP` prints one op's table in a terminal.",
        "",
    ]
    lines += [f"- [`{name}`](#{name.replace('_', '-')}): {text}" for name, text in ops_table()]
    for name, description in ops_table():
        lines += ["", f"## {name}", "", description, ""]
        lines += ["| parameter | type | range or choices | default | description |"]
        lines += ["| --- | --- | --- | --- | --- |"]
        for row in parameters(name):
            cells = [f"`{row.name}`", row.type, row.allowed, row.default, row.description]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _non_null(field: dict[str, Any]) -> dict[str, Any]:
    options = field.get("anyOf")
    if not options:
        return field
    concrete = [option for option in options if option.get("type") != "null"]
    return concrete[0] if len(concrete) == 1 else field


def _type(shape: dict[str, Any]) -> str:
    if "anyOf" in shape:
        return " or ".join(_type(option) for option in shape["anyOf"])
    kind = shape.get("type", "any")
    if shape.get("x-ffpipe-file"):
        return "file"
    if kind == "array":
        if "prefixItems" in shape:
            inner = ", ".join(_type(item) for item in shape["prefixItems"])
            return f"[{inner}]"
        return f"list of {_type(shape.get('items', {}))}"
    return {"number": "number", "integer": "integer", "string": "text", "boolean": "boolean"}.get(
        kind, str(kind)
    )


def _allowed(shape: dict[str, Any]) -> str:
    if "enum" in shape:
        return ", ".join(str(choice) for choice in shape["enum"])
    if shape.get("type") == "array":
        inner = shape.get("items") or (shape.get("prefixItems") or [{}])[0]
        found = _allowed(inner)
        counts = _count(shape)
        return "; ".join(part for part in (found, counts) if part)
    low = shape.get("minimum")
    high = shape.get("maximum")
    if "exclusiveMinimum" in shape:
        low_text = f"> {shape['exclusiveMinimum']}"
        return low_text + (f", ≤ {high}" if high is not None else "")
    if low is not None and high is not None:
        return f"{low}-{high}"
    if low is not None:
        return f"≥ {low}"
    if high is not None:
        return f"≤ {high}"
    if "pattern" in shape:
        examples = shape.get("examples")
        return f"e.g. {', '.join(examples)}" if examples else f"pattern {shape['pattern']}"
    return ""


def _count(shape: dict[str, Any]) -> str:
    low, high = shape.get("minItems"), shape.get("maxItems")
    if low is not None and low == high:
        return f"exactly {low} items"
    if low is not None:
        return f"at least {low} item{'s' if low != 1 else ''}"
    return ""


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
