"""Gradio widgets generated from the catalog models: one per parameter, the right kind for its type.

A range becomes a slider, a choice a dropdown, a list of choices a multiselect, a yes/no a
checkbox; an optional number a number box left empty for "unset"; other lists (polygons,
padding) a JSON text box. Labels are the catalog's names, defaults and help texts the models'.
A model choice shows the engine's status beside each name (``stand-in: ...`` or FaceFusion's
``present``/``missing``), from the capabilities document.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import gradio as gr
from pydantic.fields import FieldInfo

from ffpipe.catalog import OPS

_SLIDER_STEPS = 100
"""A float slider moves in hundredths of its range (0.01 for 0-1)."""


@dataclass(frozen=True)
class ParamWidget:
    """A parameter, its widget and how the widget's value becomes the parameter's value."""

    name: str
    component: gr.components.Component
    kind: str
    """``file``, ``json``, ``text`` or ``value`` (taken as it is)."""
    optional: bool

    def value_of(self, raw: Any) -> Any:
        """The parameter value of the widget value ``raw``; raises ValueError for bad JSON."""
        if self.kind == "file":
            return {"path": str(raw)} if raw else None
        if self.kind in ("json", "text") and isinstance(raw, str) and not raw.strip():
            return None
        if self.kind == "json":
            try:
                return json.loads(raw)
            except ValueError as error:
                raise ValueError(f"{self.name}: not JSON ({error})") from None
        if raw is None or (raw == [] and self.optional):
            return None
        return raw


def _members(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None`` and whether ``None`` was allowed."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(get_args(annotation))
        return (members[0] if len(members) == 1 else annotation), optional
    return annotation, False


def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for item in field.metadata:
        low = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else low
        low = getattr(item, "gt", None) if getattr(item, "gt", None) is not None else low
        high = getattr(item, "le", None) if getattr(item, "le", None) is not None else high
        high = getattr(item, "lt", None) if getattr(item, "lt", None) is not None else high
    return low, high


def _model_choices(name: str, choices: tuple[str, ...], models: Mapping[str, Any]) -> list[Any]:
    """``(label, value)`` pairs: each model name with the engine's status beside it."""
    known = models.get(name)
    if not isinstance(known, Mapping):
        return list(choices)
    labelled = []
    for choice in choices:
        entry = known.get(choice)
        if not isinstance(entry, Mapping):
            labelled.append((f"{choice} (unknown to this engine)", choice))
            continue
        status = str(entry.get("status", ""))
        used = entry.get("used")
        if status == "substituted":
            label = f"{choice} (stand-in: {used})" if used else f"{choice} (stand-in)"
        elif status:
            label = f"{choice} ({status}: {used})" if used else f"{choice} ({status})"
        else:
            label = choice
        labelled.append((label, choice))
    return labelled


def make_widget(op: str, name: str, models: Mapping[str, Any]) -> ParamWidget:
    """The widget of parameter ``name`` of ``op`` (call inside a gradio Blocks context)."""
    spec = OPS[op]
    field = spec.params.model_fields[name]
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    info = field.description or None
    common: dict[str, Any] = {"label": name, "info": info, "elem_id": f"{op}-{name}"}
    annotation, optional = _members(field.annotation)
    if name in spec.file_fields:
        component = gr.File(label=name, elem_id=f"{op}-{name}", type="filepath")
        return ParamWidget(name, component, "file", not field.is_required())
    origin = get_origin(annotation)
    if origin is Literal:
        choices = _model_choices(name, get_args(annotation), models)
        component = gr.Dropdown(choices=choices, value=default, **common)
        return ParamWidget(name, component, "value", optional)
    if origin is list and get_origin(get_args(annotation)[0]) is Literal:
        choices = list(get_args(get_args(annotation)[0]))
        component = gr.Dropdown(choices=choices, value=default, multiselect=True, **common)
        return ParamWidget(name, component, "value", optional)
    if annotation is bool:
        component = gr.Checkbox(value=bool(default), **common)
        return ParamWidget(name, component, "value", optional)
    if annotation in (int, float):
        return _number(name, annotation, field, default, optional, common)
    if origin in (list, tuple):
        text = "" if default in (None, [], ()) else json.dumps(list(default))
        component = gr.Textbox(value=text, placeholder="JSON", **common)
        return ParamWidget(name, component, "json", optional)
    component = gr.Textbox(value=default or "", placeholder="unset" if optional else None, **common)
    return ParamWidget(name, component, "text", optional)


def _number(
    name: str,
    annotation: Any,
    field: FieldInfo,
    default: Any,
    optional: bool,
    common: dict[str, Any],
) -> ParamWidget:
    low, high = _bounds(field)
    precision = 0 if annotation is int else None
    if low is not None and high is not None and not optional:
        step = 1 if annotation is int else (high - low) / _SLIDER_STEPS
        component = gr.Slider(minimum=low, maximum=high, step=step, value=default, **common)
        return ParamWidget(name, component, "value", optional)
    if optional:
        common = {**common, "placeholder": "unset"}
    component = gr.Number(value=default, minimum=low, maximum=high, precision=precision, **common)
    return ParamWidget(name, component, "value", optional)
