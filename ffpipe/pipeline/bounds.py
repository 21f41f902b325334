"""What templates may cost: a meter of steps and bytes for a whole pipeline, and per-value limits.

A pipeline file is code run at ``validate``; without limits a line of jinja2 could hang it for
hours or allocate gigabytes. Every operation the sandbox lets a template perform goes through
a :class:`Meter`: calls (macros, methods, ``str.format``), filters, tests, binary operators,
``~``, slicing and loop iterations each spend steps, and every value they build spends bytes.
Operations whose result can be sized from their arguments (padding widths, ``%`` and
``str.format`` specs, repetition, replacement, joining) are refused *before* they run when that
size would not fit; the others are bounded by what already exists and are charged as they
finish. One meter covers a whole pipeline load (all values of all matrix instances), so many
cheap-looking values cannot add up to hours; nested calls (macro recursion included) are capped
in depth.

The limits are generous for real pipelines (paths, labels, small lists) and not configurable: a
template needing more is better written as data.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedFormatter
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

MAX_RENDERED_CHARS = 1_000_000
"""Largest string (or total size of a list/mapping's strings and items) a template may build."""
MAX_LOOP_ITERATIONS = 100_000
"""``{% for %}`` iterations, all loops of one template rendering together."""
MAX_INTEGER_BITS = 4096
"""Largest integer a template may compute (about 1200 decimal digits)."""
MAX_CALL_DEPTH = 40
"""Calls nested in calls (macros calling macros, recursive loops, blocks) within one rendering."""
BUDGET_MESSAGE = "the pipeline's templates together would exceed"
"""Start of the message of a spent pipeline budget (reported once, not for every later value)."""

LOOP_FILTER = "ffpipe_counted_loop"
_PERCENT_SPEC = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0 +\-]*(?P<width>\*|\d+)?"
    r"(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<kind>.?)",
    re.DOTALL,
)
_NUMBER = re.compile(r"\d+")
CALL_STEPS = 10
"""Steps one call spends: a macro call does about as much work as ten operators."""
_SLACK = 400
"""Characters a conversion may produce beyond its width and precision (a float's 309 digits)."""
_REPR_FACTOR = 10
"""Most characters ``repr`` writes for one character (``\\U0001f600``)."""


class TemplateLimit(Exception):
    """A template went past one of the limits; the message names it."""


@dataclass(frozen=True)
class Budget:
    """What all the templates of one pipeline may spend together."""

    steps: int = 1_000_000
    """Operations: calls, filters, tests, operators, loop iterations, items filters walk."""
    chars: int = 20_000_000
    """Characters and items of every value built (not only the ones kept)."""


DEFAULT_BUDGET = Budget()


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
    """``value``, or :class:`TemplateLimit` when it weighs more than the per-value limit."""
    if weight(value) > MAX_RENDERED_CHARS:
        raise _too_big(what)
    return value


def _length(value: Any) -> int:
    """Items a filter walks in ``value`` (0 for strings: they cost bytes, not steps)."""
    if isinstance(value, str | bytes):
        return 0
    try:
        return len(value)
    except TypeError:
        return 0


class Meter:
    """Steps and characters spent by templates, refused once past a :class:`Budget`."""

    def __init__(self, budget: Budget = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self.steps = 0
        self.chars = 0
        self.depth = 0
        self.loop_iterations = 0

    def step(self, count: int = 1) -> None:
        """Spend ``count`` steps."""
        if self.steps + count > self.budget.steps:
            raise TemplateLimit(f"{BUDGET_MESSAGE} the budget of {self.budget.steps} steps")
        self.steps += count

    def ensure(self, size: int, what: str) -> None:
        """Refuse to build a value of ``size`` characters that would not fit."""
        if size > MAX_RENDERED_CHARS:
            raise _too_big(what)
        if self.chars + size > self.budget.chars:
            raise TemplateLimit(f"{BUDGET_MESSAGE} the budget of {self.budget.chars} characters")

    def charge(self, value: Any, what: str = "a value") -> Any:
        """Spend the characters ``value`` holds (it was just built); ``value`` when they fit."""
        if isinstance(value, int | float | bool) or value is None:
            return value
        size = weight(value)
        self.ensure(size, what)
        self.chars += size
        return value

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """``iterable``, spending a step (and a loop iteration) per item."""
        for item in iterable:
            self.loop_iterations += 1
            if self.loop_iterations > MAX_LOOP_ITERATIONS:
                raise TemplateLimit(
                    f"loops would exceed the limit of {MAX_LOOP_ITERATIONS} iterations"
                )
            self.step()
            yield item

    @contextlib.contextmanager
    def nested_call(self) -> Iterator[None]:
        """One call deeper, refused past :data:`MAX_CALL_DEPTH`."""
        if self.depth >= MAX_CALL_DEPTH:
            raise TemplateLimit(
                f"calls nested in calls (recursion) would exceed the limit of {MAX_CALL_DEPTH}"
            )
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1


_ACTIVE: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("ffpipe_meter", default=None)


@contextlib.contextmanager
def metered(budget: Budget = DEFAULT_BUDGET) -> Iterator[Meter]:
    """Charge every template rendered inside to one meter (one pipeline load)."""
    meter = Meter(budget)
    token = _ACTIVE.set(meter)
    try:
        yield meter
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def rendering() -> Iterator[Meter]:
    """The meter one template rendering charges: the pipeline's, or its own when none is open.

    Loop iterations and call depth start afresh for each rendering; steps and characters go on.
    """
    meter = _ACTIVE.get()
    if meter is None:
        with metered() as own:
            yield own
        return
    meter.loop_iterations = 0
    meter.depth = 0
    yield meter


def current() -> Meter:
    """The meter of the rendering under way (a throwaway one outside any rendering)."""
    return _ACTIVE.get() or Meter()


# -- sizing operations before they run ---------------------------------------------------------


def percent_format_size(pattern: str, arguments: Any) -> int:
    """An upper bound of the length of ``pattern % arguments``, ``*`` widths included."""
    positional = list(arguments) if isinstance(arguments, tuple) else [arguments]
    mapping = arguments if isinstance(arguments, Mapping) else None
    size = len(pattern)
    index = 0

    def take() -> Any:
        nonlocal index
        value = positional[index] if index < len(positional) else None
        index += 1
        return value

    for match in _PERCENT_SPEC.finditer(pattern):
        if match.group("kind") == "%" and not any(match.group(g) for g in ("width", "precision")):
            continue
        widths = 0
        for group in ("width", "precision"):
            text = match.group(group)
            if text == "*":
                star = take()
                widths += abs(star) if isinstance(star, int) else 0
            elif text:
                widths += int(text)
        key = match.group("key")
        value = mapping.get(key) if key is not None and mapping is not None else take()
        size += widths + _SLACK + _REPR_FACTOR * weight(value)
    return size


def format_spec_size(value: Any, spec: str) -> int:
    """An upper bound of the length of ``format(value, spec)``: every number in the spec may be
    a width or a precision."""
    numbers = sum(int(number) for number in _NUMBER.findall(spec))
    return numbers + _SLACK + _REPR_FACTOR * weight(value)


class MeteredFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, refusing a field before formatting it when its spec
    (nested ``{}`` specs already filled in) asks for more than fits."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        meter = current()
        meter.step()
        meter.ensure(format_spec_size(value, format_spec), "a str.format field")
        return meter.charge(super().format_field(value, format_spec), "a str.format field")


class MeteredEscapeFormatter(MeteredFormatter, EscapeFormatter):
    """:class:`MeteredFormatter` for markup strings (escapes what it inserts)."""


def formatter_for(text: str, environment: Any) -> SandboxedFormatter:
    """The metered formatter for ``text.format`` / ``text.format_map``."""
    if isinstance(text, Markup):
        return MeteredEscapeFormatter(environment, escape=text.escape)
    return MeteredFormatter(environment)


def _repeat_size(left: Any, right: Any) -> int:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int) and count > 0:
            return weight(sequence) * count
    return 0


def binop_size(operator: str, left: Any, right: Any) -> int:
    """What ``left OPERATOR right`` will build (0 for plain numbers); refuses huge integers."""
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if abs(left).bit_length() + abs(right).bit_length() > MAX_INTEGER_BITS:
                raise TemplateLimit(f"a product would exceed the limit of {MAX_INTEGER_BITS} bits")
            return 0
        return _repeat_size(left, right)
    if operator == "**":
        integers = isinstance(left, int) and isinstance(right, int) and abs(left) > 1
        if integers and right * abs(left).bit_length() > MAX_INTEGER_BITS:
            raise TemplateLimit(f"a power would exceed the limit of {MAX_INTEGER_BITS} bits")
        return 0
    if operator == "%" and isinstance(left, str):
        return percent_format_size(left, right)
    if operator == "+" and isinstance(left, str | list | tuple):
        return weight(left) + weight(right)
    return 0


def _replacement_size(text: Any, old: Any, new: Any) -> int:
    text, old, new = str(text), str(old), str(new)
    occurrences = text.count(old) if old else len(text) + 1
    return len(text) + occurrences * max(len(new) - len(old), 0)


def _padding_size(text: Any, width: Any = 0, *_: Any, **__: Any) -> int:
    return max(len(str(text)), width if isinstance(width, int) else 0)


def _expandtabs_size(text: Any, tabsize: Any = 8, **_: Any) -> int:
    tabsize = tabsize if isinstance(tabsize, int) else 8
    return len(str(text)) + str(text).count("\t") * max(tabsize, 0)


def _join_size(separator: Any, items: list[Any]) -> int:
    return sum(weight(item) for item in items) + len(str(separator)) * len(items)


def call_size(target: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """What a call of a ``str`` method will build, for the methods that can build much."""
    bound = getattr(target, "__wrapped__", target)
    owner = getattr(bound, "__self__", None)
    if not isinstance(owner, str):
        return 0
    name = getattr(bound, "__name__", "")
    if name in {"ljust", "rjust", "center", "zfill"}:
        return _padding_size(owner, *args[:1])
    if name == "expandtabs":
        return _expandtabs_size(owner, *args, **kwargs)
    if name == "replace" and len(args) >= 2:
        return _replacement_size(owner, args[0], args[1])
    return 0


# -- filters --------------------------------------------------------------------------------------


def _indent_size(text: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    pad = width if isinstance(width, int) else len(str(width))
    return len(str(text)) + (str(text).count("\n") + 1) * max(pad, 0)


def _wordwrap_size(
    text: Any,
    width: Any = 79,
    break_long_words: Any = True,
    wrapstring: Any = None,
    *_: Any,
    **kwargs: Any,
) -> int:
    text = str(text)
    separator = kwargs.get("wrapstring", wrapstring) or "\n"
    lines = len(text) // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
    return len(text) + lines * len(str(separator))


def _format_filter_size(text: Any, *args: Any, **kwargs: Any) -> int:
    return percent_format_size(str(text), kwargs or args)


def _fill_size(value: Any, count: Any = 0, fill_with: Any = None, *_: Any) -> int:
    return count if isinstance(count, int) else 0


def _replace_size(text: Any, old: Any = "", new: Any = "", *_: Any) -> int:
    return _replacement_size(text, old, new)


def _center_size(text: Any, width: Any = 80) -> int:
    return _padding_size(text, width)


_FILTER_SIZES: dict[str, Callable[..., int]] = {
    "center": _center_size,
    "indent": _indent_size,
    "wordwrap": _wordwrap_size,
    "format": _format_filter_size,
    "batch": _fill_size,
    "slice": _fill_size,
    "replace": _replace_size,
}


def _metered(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` (a filter or test) spending steps for the items it walks and characters for
    what it builds, refused first when a size can be told from its arguments."""
    pass_arg = getattr(original, "jinja_pass_arg", None)
    skip = 1 if pass_arg is not None else 0
    size_of = _FILTER_SIZES.get(name)

    def metered_filter(*args: Any, **kwargs: Any) -> Any:
        meter = current()
        value = args[skip] if len(args) > skip else None
        meter.step(1 + _length(value))
        if size_of is not None:
            meter.ensure(size_of(*args[skip:], **kwargs), f"the {name} filter")
        return meter.charge(original(*args, **kwargs), f"the {name} filter")

    if pass_arg is not None:
        metered_filter.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    metered_filter.__name__ = getattr(original, "__name__", name)
    return metered_filter


def _metered_join(original: Callable[..., Any]) -> Callable[..., Any]:
    def join(eval_ctx: Any, value: Any, d: Any = "", *args: Any, **kwargs: Any) -> Any:
        meter = current()
        items = list(value)
        meter.step(1 + len(items))
        meter.ensure(_join_size(d, items), "the join filter")
        return meter.charge(original(eval_ctx, items, d, *args, **kwargs), "the join filter")

    join.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def _metered_sum(original: Callable[..., Any]) -> Callable[..., Any]:
    """``sum``: adding sequences copies the running total each time, so that is what it costs."""

    def sum_(environment: Any, iterable: Any, *args: Any, **kwargs: Any) -> Any:
        meter = current()
        items = list(iterable)
        meter.step(1 + len(items))
        start = kwargs.get("start", args[1] if len(args) > 1 else 0)
        if not isinstance(start, int | float):
            running = weight(start)
            for item in items:
                running += weight(item)
                meter.step(running)
                meter.ensure(running, "the sum filter")
        return meter.charge(original(environment, items, *args, **kwargs), "the sum filter")

    sum_.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return sum_


def meter_filters(filters: dict[str, Callable[..., Any]]) -> None:
    """Replace, in place, every filter with its metered form (and add the loop counter)."""
    for name, original in list(filters.items()):
        if name == "join":
            filters[name] = _metered_join(original)
        elif name == "sum":
            filters[name] = _metered_sum(original)
        else:
            filters[name] = _metered(name, original)
    filters[LOOP_FILTER] = lambda iterable: current().counted(iterable)


def meter_tests(tests: dict[str, Callable[..., Any]]) -> None:
    """Replace, in place, every test with its metered form."""
    for name, original in list(tests.items()):
        tests[name] = _metered(name, original)


# -- the sandbox's hooks ----------------------------------------------------------------------


def metered_call(call: Callable[..., Any], target: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    """A call from a template: one step, one level deeper, sized first where it can be."""
    meter = current()
    meter.step(CALL_STEPS)
    meter.ensure(call_size(target, args, kwargs), "a string method")
    if isinstance(target, LoopContext) and args:
        # A recursive loop's next level: its items are loop iterations like the first level's.
        args = (meter.counted(args[0]), *args[1:])
    with meter.nested_call():
        return meter.charge(call(target, *args, **kwargs), "a call")


def metered_binop(operator: str, left: Any, right: Any, apply: Callable[[], Any]) -> Any:
    """``left OPERATOR right``, refused first when what it builds would not fit."""
    meter = current()
    meter.step()
    meter.ensure(binop_size(operator, left, right), f"the {operator} operator")
    return meter.charge(apply(), f"the {operator} operator")


def bounded_concat(items: Iterable[Any]) -> str:
    """``a ~ b``: the parts joined, refused when the result would not fit."""
    meter = current()
    meter.step()
    parts = [str(item) for item in items]
    meter.ensure(sum(map(len, parts)), "joining text with ~")
    return meter.charge("".join(parts), "joining text with ~")


class CountLoops(NodeTransformer):
    """Rewrites every ``{% for x in ITER %}`` to iterate ``ITER|ffpipe_counted_loop``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, LOOP_FILTER, [], [], None, None, lineno=node.lineno)
        return node


class BoundedCodeGenerator(CodeGenerator):
    """jinja2's code generator with ``~`` going through :func:`bounded_concat`."""

    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        self.write("environment.bounded_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")
