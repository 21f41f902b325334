"""Pydantic validation errors turned into located errors with plain messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from ffpipe.catalog.base import RESOLUTION_PATTERN
from ffpipe.catalog.edit import HEX_COLOUR_PATTERN
from ffpipe.pipeline.errors import did_you_mean
from ffpipe.pipeline.model import IDENTIFIER_PATTERN

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]
"""A path inside the validated value and a message."""

_PATTERN_MEANING = {
    HEX_COLOUR_PATTERN: "is not a colour of the form #RRGGBB, e.g. '#A0522D'",
    RESOLUTION_PATTERN: "is not a resolution of the form WIDTHxHEIGHT, e.g. '1280x720'",
    IDENTIFIER_PATTERN: "is not a name of letters, digits and _ (not starting with a digit)",
}


def show(value: Any) -> str:
    """A short rendering of a user's value for messages."""
    text = repr(value) if isinstance(value, str) else _plain(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)


def _located(loc: Sequence[Any], data: Any) -> Loc:
    """The part of pydantic's ``loc`` that names places in ``data`` (union tags dropped)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if part == "[key]":
            continue
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif isinstance(part, str) and not isinstance(current, dict | list):
            continue
        elif isinstance(current, dict) and isinstance(part, str) and _is_field_name(part):
            # A missing or unknown key: still part of the path.
            path.append(part)
            current = None
    return tuple(path)


def _is_field_name(part: str) -> bool:
    return re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", part) is not None and not part[0].isupper()


def message_for(error: dict[str, Any], known_keys: Iterable[str]) -> str:
    """A plain message for one pydantic error."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "less_than_equal":
        return f"{show(value)} is greater than the maximum {ctx['le']}"
    if kind == "less_than":
        return f"{show(value)} must be less than {ctx['lt']}"
    if kind == "greater_than_equal":
        return f"{show(value)} is less than the minimum {ctx['ge']}"
    if kind == "greater_than":
        return f"{show(value)} must be greater than {ctx['gt']}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if not choices:
            return f"{show(value)} must be {ctx.get('expected')}"
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
        return f"{show(value)} is not one of {ctx.get('expected')}{hint}"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        return f"unknown key {key!r}{did_you_mean(key, known_keys)}"
    if kind == "missing":
        last = error["loc"][-1]
        if isinstance(last, int):
            return f"has too few items (item [{last}] is missing)"
        return f"missing required key {last!r}"
    if kind == "string_pattern_mismatch":
        meaning = _PATTERN_MEANING.get(ctx.get("pattern", ""))
        return (
            f"{show(value)} {meaning}"
            if meaning
            else (f"{show(value)} does not match the pattern {ctx.get('pattern')}")
        )
    if kind == "too_short":
        return f"has {ctx.get('actual_length')} item(s); at least {ctx.get('min_length')} needed"
    if kind == "too_long":
        return f"has {ctx.get('actual_length')} item(s); at most {ctx.get('max_length')} allowed"
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = str(error["msg"])
    if text.startswith("Input should be"):
        return f"{show(value)} should be" + text.removeprefix("Input should be")
    return f"{show(value)}: {text}"


def problems(
    error: ValidationError, data: Any, known_keys: Callable[[Loc], Iterable[str]]
) -> list[Problem]:
    """The errors of ``error`` as (path inside ``data``, message), most specific only.

    ``known_keys(path)`` gives the keys allowed at a mapping ``path`` (for did-you-mean).
    """
    found: dict[Loc, list[str]] = {}
    for item in error.errors(include_url=False):
        path = _located(item["loc"], data)
        if item["type"] == "missing" and path and path[-1] == item["loc"][-1]:
            path = path[:-1]
        parent = path[:-1] if item["type"] == "extra_forbidden" else path
        message = message_for(item, known_keys(parent))
        found.setdefault(path, [])
        if message not in found[path]:
            found[path].append(message)
    paths = list(found)
    result = []
    for path in paths:
        if any(other != path and other[: len(path)] == path for other in paths):
            continue
        result.append((path, " or ".join(found[path])))
    return result
