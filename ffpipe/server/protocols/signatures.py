"""Python signatures for the gradio endpoints, generated from the catalog models.

gradio derives an endpoint's parameter names, defaults and JSON types from the function's
signature and type hints, so each op's function gets a ``__signature__`` and ``__annotations__``
built from ``OPS[op].params``: the catalog's names, its defaults, its types with the pydantic
constraints stripped (the model itself validates them on every call).
"""

from __future__ import annotations

import inspect
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from ffpipe.catalog import OPS


def plain_type(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` metadata, recursively, for gradio's schema builder."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return plain_type(get_args(annotation)[0])
    if origin is Literal:
        return annotation
    if origin in (Union, types.UnionType):
        members = tuple(plain_type(arg) for arg in get_args(annotation))
        return Union[members]  # noqa: UP007 - built from a runtime tuple
    if origin in (list, tuple, dict, set, frozenset):
        args = tuple(arg if arg is Ellipsis else plain_type(arg) for arg in get_args(annotation))
        return origin[args] if args else origin
    return annotation


def endpoint_parameters(op: str, order: list[str], file_type: Any) -> list[inspect.Parameter]:
    """One keyword-capable parameter per catalog field of ``op``, in ``order``.

    File fields take ``file_type`` (gradio's FileData, so clients see an upload); an optional
    file field (``process``'s ``source_face``) takes ``file_type | None``.
    """
    model = OPS[op].params
    files = set(OPS[op].file_fields)
    parameters = []
    for name in order:
        field = model.model_fields[name]
        default = (
            inspect.Parameter.empty
            if field.is_required()
            else field.get_default(call_default_factory=True)
        )
        if isinstance(default, tuple):
            default = list(default)
        if name in files:
            annotation = file_type if field.is_required() else file_type | None
        else:
            annotation = plain_type(field.annotation)
        parameters.append(
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=default,
                annotation=annotation,
            )
        )
    return parameters
