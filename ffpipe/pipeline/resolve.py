"""Rendering what waited for results: a step's parameters, its ``if:`` and pipeline outputs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ffpipe.catalog import OPS
from ffpipe.pipeline.errors import PipelineErrors, SpecError, format_path
from ffpipe.pipeline.instance import Deferred, LoadedPipeline, OutputSpec, StepInstance, StepView
from ffpipe.pipeline.loader import truthy
from ffpipe.pipeline.paths import is_url
from ffpipe.pipeline.templates import TemplateProblem, parse_template, public_environment
from ffpipe.pipeline.validation import problems


def _sources(pipeline: LoadedPipeline, file: str) -> dict[str, str]:
    try:
        return {file: pipeline.path.read_text(encoding="utf-8")}
    except OSError:
        return {}


def _render(
    pipeline: LoadedPipeline,
    deferred: Deferred,
    matrix: Mapping[str, Any],
    views: Mapping[str, StepView],
) -> Any:
    missing = sorted(ref for ref in deferred.refs if ref not in views)
    if missing:
        raise KeyError(f"{deferred.path} needs the results of {', '.join(missing)}")
    steps = {pipeline.instances[ref].step: views[ref] for ref in deferred.refs}
    context = {
        "params": pipeline.params,
        "inputs": pipeline.inputs,
        "matrix": dict(matrix),
        "env": public_environment(),
        "steps": steps,
    }
    try:
        return parse_template(deferred.source).render(context)
    except TemplateProblem as error:
        raise PipelineErrors(
            [SpecError(deferred.location, deferred.path, str(error))],
            _sources(pipeline, deferred.location.file),
        ) from None


def resolve_params(
    pipeline: LoadedPipeline, instance: StepInstance, views: Mapping[str, StepView]
) -> dict[str, Any]:
    """The instance's parameters with step results filled in, validated by the op's model.

    Returns ``model_dump(mode="json", exclude_defaults=True)``; raises located
    :class:`PipelineErrors` when a rendered value is invalid.
    """
    values: dict[str, Any] = {}
    for name, value in instance.params.items():
        if isinstance(value, Deferred):
            value = _render(pipeline, value, instance.matrix, views)
            if (
                name in OPS[instance.op].file_fields
                and isinstance(value, str)
                and not (is_url(value) or os.path.isabs(value))
            ):
                value = os.path.normpath(pipeline.path.parent / value)
        values[name] = value
    model = OPS[instance.op].params
    try:
        validated = model.model_validate(values)
    except ValidationError as failure:
        errors = []
        default = instance.location
        for loc, message in problems(
            failure, values, lambda loc: model.model_fields if not loc else ()
        ):
            name = loc[0] if loc else None
            location = instance.param_locations.get(str(name), default) if name else default
            path = format_path(("steps", instance.step, "with", *loc))
            errors.append(SpecError(location, path, f"{message} (in {instance.id})"))
        raise PipelineErrors(errors, _sources(pipeline, default.file)) from None
    return validated.model_dump(mode="json", exclude_defaults=True)


def resolve_condition(
    pipeline: LoadedPipeline, instance: StepInstance, views: Mapping[str, StepView]
) -> bool:
    """Whether the instance runs: its ``if:`` rendered with the results it reads."""
    if isinstance(instance.condition, bool):
        return instance.condition
    return truthy(_render(pipeline, instance.condition, instance.matrix, views))


def resolve_output(
    pipeline: LoadedPipeline, output: OutputSpec, views: Mapping[str, StepView]
) -> str:
    """The path of the artifact a declared output copies."""
    if isinstance(output.value, str):
        return output.value
    first = next(iter(output.value.refs), None)
    matrix = pipeline.instances[first].matrix if first in pipeline.instances else {}
    value = _render(pipeline, output.value, matrix, views)
    if not isinstance(value, str) or not value:
        raise PipelineErrors(
            [
                SpecError(
                    output.location,
                    output.value.path,
                    f"renders to {value!r}, not the path of an artifact",
                )
            ],
            _sources(pipeline, output.location.file),
        )
    return (
        value if is_url(value) or os.path.isabs(value) else str(Path(pipeline.path.parent, value))
    )
