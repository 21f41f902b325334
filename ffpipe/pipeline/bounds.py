"""Limits on what one template may cost: rendered size, loop iterations, big numbers.

A pipeline file is code run at ``validate``; without these a line of jinja2 could hang it for
minutes or allocate gigabytes. Each limit is checked *before* the costly operation where its size
can be predicted (padding widths, repetition, replacement), and on every intermediate value where
it cannot, so a runaway template stops near the limit, not after exhausting memory.

The limits are generous for real pipelines (paths, labels, small lists) and not configurable: a
template needing more is better written as data.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.visitor import NodeTransformer

MAX_RENDERED_CHARS = 1_000_000
"""Largest string (or total size of a list/mapping's strings and items) a template may build."""
MAX_LOOP_ITERATIONS = 100_000
"""``{% for %}`` iterations, all loops of one template rendering together."""
MAX_INTEGER_BITS = 4096
"""Largest integer a template may compute (about 1200 decimal digits)."""

LOOP_FILTER = "ffpipe_counted_loop"
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\d*)(?:\.(\d*))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_NUMBER = re.compile(r"\d+")


class TemplateLimit(Exception):
    """A template went past one of the limits; the message names it."""


def _too_big(what: str) -> TemplateLimit:
    return TemplateLimit(f"{what} would exceed the limit of {MAX_RENDERED_CHARS} characters")


def weight(value: Any, limit: int = MAX_RENDERED_CHARS) -> int:
    """Characters and items in ``value``, counted until ``limit`` is passed (then cheap to stop).

    A list holding the same long string a million times weighs a million times that string: it
    is what printing or joining it would cost.
    """
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, Mapping):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            if item.bit_length() > MAX_INTEGER_BITS:
                raise TemplateLimit(f"a number would exceed the limit of {MAX_INTEGER_BITS} bits")
            total += 1
        else:
            total += 1
    return total


def check_size(value: Any, what: str = "a value") -> Any:
    """``value``, or :class:`TemplateLimit` when it weighs more than the limit."""
    if weight(value) > MAX_RENDERED_CHARS:
        raise _too_big(what)
    return value


def _format_widths(text: str) -> Iterator[int]:
    for match in _PERCENT_SPEC.finditer(text):
        for group in match.groups():
            if group:
                yield int(group)
    for match in _BRACE_SPEC.finditer(text):
        yield from (int(number) for number in _NUMBER.findall(match.group(1)))


def check_format_widths(text: Any) -> None:
    """Refuse a ``%`` or ``str.format`` pattern whose width or precision is over the limit."""
    if isinstance(text, str) and any(w > MAX_RENDERED_CHARS for w in _format_widths(text)):
        raise _too_big("a format width")


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > MAX_RENDERED_CHARS:
        raise _too_big(what)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``*``, ``**`` and ``%`` whose result could be predicted to be over a limit."""
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            repeats = isinstance(sequence, str | list | tuple) and isinstance(count, int)
            if repeats and count > 0 and weight(sequence) * count > MAX_RENDERED_CHARS:
                raise _too_big("repeating a value")
    elif operator == "**":
        integers = isinstance(left, int) and isinstance(right, int) and abs(left) > 1
        if integers and right * abs(left).bit_length() > MAX_INTEGER_BITS:
            raise TemplateLimit(f"a power would exceed the limit of {MAX_INTEGER_BITS} bits")
    elif operator == "%" and isinstance(left, str):
        check_format_widths(left)


def check_call(target: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse string methods whose result could be predicted to be over the limit."""
    bound = getattr(target, "__wrapped__", target)
    owner = getattr(bound, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(bound, "__name__", "")
    values = (*args, *kwargs.values())
    if name in _PADDING_METHODS:
        for value in values:
            _check_width(value, f"str.{name}")
    elif name == "format":
        check_format_widths(owner)
    elif name == "replace" and len(args) >= 2:
        _check_replacement(owner, args[0], args[1])
    elif name == "join" and args:
        check_size(list(args[0]) if not isinstance(args[0], str) else args[0], "str.join")


def _check_replacement(text: str, old: Any, new: Any) -> None:
    if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        occurrences = text.count(old) if old else len(text) + 1
        if len(text) + occurrences * (len(new) - len(old)) > MAX_RENDERED_CHARS:
            raise _too_big("a replacement")


class LoopBudget(threading.local):
    """Iterations left to the template rendering on this thread."""

    def __init__(self) -> None:
        self.left = MAX_LOOP_ITERATIONS

    def reset(self) -> None:
        self.left = MAX_LOOP_ITERATIONS

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.left -= 1
            if self.left < 0:
                raise TemplateLimit(
                    f"loops would exceed the limit of {MAX_LOOP_ITERATIONS} iterations"
                )
            yield item


LOOPS = LoopBudget()


class CountLoops(NodeTransformer):
    """Rewrites every ``{% for x in ITER %}`` to iterate ``ITER|ffpipe_counted_loop``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, LOOP_FILTER, [], [], None, None, lineno=node.lineno)
        return node


def bounded_concat(items: Iterable[Any]) -> str:
    """``a ~ b``: the parts joined, refused when the result would be over the limit."""
    parts = [str(item) for item in items]
    if sum(map(len, parts)) > MAX_RENDERED_CHARS:
        raise _too_big("joining text with ~")
    return "".join(parts)


class BoundedCodeGenerator(CodeGenerator):
    """jinja2's code generator with ``~`` going through :func:`bounded_concat`."""

    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        self.write("environment.bounded_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


def _bounded_indent(original: Callable[..., Any]) -> Callable[..., Any]:
    def indent(text: Any, width: Any = 4, *args: Any, **kwargs: Any) -> Any:
        lines = str(text).count("\n") + 1
        pad = width if isinstance(width, int) else len(str(width))
        if len(str(text)) + lines * pad > MAX_RENDERED_CHARS:
            raise _too_big("indent")
        return original(text, width, *args, **kwargs)

    return indent


def _bounded_format(original: Callable[..., Any]) -> Callable[..., Any]:
    def format_(text: Any, *args: Any, **kwargs: Any) -> Any:
        check_format_widths(text)
        return check_size(original(text, *args, **kwargs), "format")

    return format_


def _bounded_center(original: Callable[..., Any]) -> Callable[..., Any]:
    def center(text: Any, width: Any = 80) -> Any:
        _check_width(width, "center")
        return original(text, width)

    return center


def _bounded_counts(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    def counted(value: Any, count: Any, *args: Any, **kwargs: Any) -> Any:
        _check_width(count, what)
        return original(value, count, *args, **kwargs)

    return counted


def _bounded_replace(original: Callable[..., Any]) -> Callable[..., Any]:
    def replace(eval_ctx: Any, text: Any, old: Any, new: Any, *args: Any) -> Any:
        _check_replacement(str(text), str(old), str(new))
        return original(eval_ctx, text, old, new, *args)

    replace.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return replace


def _bounded_join(original: Callable[..., Any]) -> Callable[..., Any]:
    def join(eval_ctx: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        items = list(value)
        check_size(items, "join")
        return check_size(original(eval_ctx, items, *args, **kwargs), "join")

    join.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def bound_filters(filters: dict[str, Callable[..., Any]]) -> None:
    """Replace, in place, the filters whose cost a small argument can blow up."""
    filters["indent"] = _bounded_indent(filters["indent"])
    filters["format"] = _bounded_format(filters["format"])
    filters["center"] = _bounded_center(filters["center"])
    filters["batch"] = _bounded_counts(filters["batch"], "batch")
    filters["slice"] = _bounded_counts(filters["slice"], "slice")
    filters["replace"] = _bounded_replace(filters["replace"])
    filters["join"] = _bounded_join(filters["join"])
    filters[LOOP_FILTER] = LOOPS.counted
