"""Endpoint signatures come from the catalog models: names, defaults, plain types."""

from __future__ import annotations

import inspect
from typing import Annotated, Literal, Union, get_args

import pytest
from pydantic import Field

from ffpipe.catalog import OPS
from ffpipe.server.execute import parameter_order
from ffpipe.server.protocols.signatures import endpoint_parameters, plain_type


class FileMarker:
    """Stands in for gradio's FileData so this test does not import gradio."""


@pytest.mark.parametrize("op", list(OPS))
def test_every_catalog_field_is_a_parameter_with_its_default(op: str) -> None:
    model = OPS[op].params
    order = parameter_order(op)
    assert sorted(order) == sorted(model.model_fields)
    parameters = endpoint_parameters(op, order, FileMarker)
    signature = inspect.Signature(parameters)  # valid: no required after optional
    for name, parameter in signature.parameters.items():
        field = model.model_fields[name]
        if field.is_required():
            assert parameter.default is inspect.Parameter.empty
        else:
            default = field.get_default(call_default_factory=True)
            expected = list(default) if isinstance(default, tuple) else default
            assert parameter.default == expected


def test_swap_starts_like_the_catalog_example() -> None:
    assert parameter_order("swap")[:3] == ["source_face", "target_media", "output_path"]
    assert parameter_order("enhance")[0] == "target_media"
    assert parameter_order("process")[:3] == ["target_media", "processors", "source_face"]


def test_file_fields_take_the_file_type() -> None:
    parameters = {
        p.name: p for p in endpoint_parameters("process", parameter_order("process"), FileMarker)
    }
    assert parameters["target_media"].annotation is FileMarker
    assert set(get_args(parameters["source_face"].annotation)) == {FileMarker, type(None)}


def test_plain_type_strips_constraints_recursively() -> None:
    bounded = Annotated[float, Field(ge=0.0)]
    assert plain_type(bounded) is float
    assert plain_type(list[Annotated[int, Field(ge=0)]]) == list[int]
    assert plain_type(Literal["a", "b"]) == Literal["a", "b"]
    assert plain_type(Union[bounded, None]) == Union[float, None]  # noqa: UP007
    assert plain_type(tuple[bounded, bounded]) == tuple[float, float]
