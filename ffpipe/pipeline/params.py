"""Pipeline params: type checks of defaults and of ``-p name=value`` overrides."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ffpipe.errors import UserError
from ffpipe.pipeline.errors import SpecError, did_you_mean
from ffpipe.pipeline.model import ParamDecl
from ffpipe.pipeline.source import SourceTree

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class BadValue(Exception):
    """A value that does not fit its param's declaration; the message is for the user."""


def _from_text(decl: ParamDecl, text: str) -> Any:
    kind = decl.type
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if kind in ("array", "object"):
            return json.loads(text)
    except ValueError:
        raise BadValue(f"{text!r} is not {_ARTICLE[kind]}") from None
    return text


_ARTICLE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "array": "an array (JSON list)",
    "object": "an object (JSON mapping)",
}


def check_value(decl: ParamDecl, value: Any) -> Any:
    """``value`` checked against ``decl`` (ints accepted as numbers); raises :class:`BadValue`."""
    kind = decl.type
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]
    if not ok:
        raise BadValue(f"{value!r} is not {_ARTICLE[kind]}")
    if kind == "number":
        value = float(value)
        if not math.isfinite(value):
            # nan and inf have no canonical form in a cache key, and no step takes them.
            raise BadValue(f"{value!r} is not a finite number")
    if decl.minimum is not None and kind in ("integer", "number") and value < decl.minimum:
        raise BadValue(f"{value!r} is less than the minimum {decl.minimum:g}")
    if decl.maximum is not None and kind in ("integer", "number") and value > decl.maximum:
        raise BadValue(f"{value!r} is greater than the maximum {decl.maximum:g}")
    if decl.enum is not None and value not in decl.enum:
        choices = ", ".join(repr(choice) for choice in decl.enum)
        raise BadValue(f"{value!r} is not one of {choices}")
    return value


def resolve_params(
    decls: Mapping[str, ParamDecl],
    overrides: Mapping[str, str],
    tree: SourceTree,
    errors: list[SpecError],
    failed: set[str],
) -> dict[str, Any]:
    """Each param's value: its ``-p`` override or its default, type-checked.

    Params that fail are added to ``failed`` (as ``params.NAME``) and left out."""
    values: dict[str, Any] = {}
    for name, text in overrides.items():
        if name not in decls:
            known = ", ".join(decls) or "none"
            errors.append(
                tree.error(
                    ("params",),
                    f"-p {name}={text}: the pipeline has no param {name!r}"
                    f"{did_you_mean(name, decls)}; its params: {known}",
                    display="params",
                )
            )
    for name, decl in decls.items():
        path = ("params", name)
        try:
            if name in overrides:
                try:
                    values[name] = check_value(decl, _from_text(decl, overrides[name]))
                except BadValue as error:
                    raise BadValue(f"-p {name}={overrides[name]}: {error}") from None
            elif decl.default is None:
                raise BadValue(f"has no default; give it with -p {name}=VALUE")
            else:
                values[name] = check_value(decl, decl.default)
        except BadValue as error:
            errors.append(tree.error(path, str(error)))
            failed.add(f"params.{name}")
    return values


class OverrideError(UserError):
    """A ``-p`` argument that is not of the form NAME=VALUE."""


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """``["age=30"]`` -> ``{"age": "30"}``; raises :class:`OverrideError` without an '='."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise OverrideError(f"-p {pair}: expected NAME=VALUE, e.g. -p age=30")
        result[name.strip()] = value
    return result
