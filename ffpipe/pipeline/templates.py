"""Sandboxed, type-preserving jinja2 templates and what they refer to.

A value that is exactly one ``{{ expr }}`` evaluates to the expression's own type
(``"{{ params.age }}"`` -> 65); any other text with templates renders to a string. Each distinct
template text is parsed and compiled once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ffpipe.pipeline import bounds

CONTEXT_NAMES = frozenset({"params", "inputs", "matrix", "env", "steps"})
PUBLIC_ENV_PREFIX = "FFPIPE_PUBLIC_"
"""Only environment variables named so are visible as ``env``: a pipeline file from elsewhere
must not be able to read tokens (``FFPIPE_AUTH``, cloud keys) and send them out in a URL."""
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
_MARKERS = ("{{", "{%", "{#")


_MISSING = object()
_Lookup = tuple[str, tuple[str | int, ...]]


class TemplateProblem(Exception):
    """A template that cannot be parsed or rendered; the message is for the user."""


def _basename(value: Any) -> str:
    return os.path.basename(str(value))


def _stem(value: Any) -> str:
    return os.path.splitext(os.path.basename(str(value)))[0]


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with every operation a template can repeat going through the meter."""

    code_generator_class = bounds.BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+", "-", "/", "//"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        parent = super().call_binop
        return bounds.metered_binop(
            operator, left, right, lambda: parent(context, operator, left, right)
        )

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        parent = super().call
        return bounds.metered_call(
            lambda target, *a, **k: parent(__context, target, *a, **k), __obj, args, kwargs
        )

    def getitem(self, obj: Any, argument: Any) -> Any:
        meter = bounds.current()
        meter.step()
        found = super().getitem(obj, argument)
        return meter.charge(found, "a slice") if isinstance(argument, slice) else found

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__
        formatter = bounds.formatter_for(text, self)
        is_map = value.__name__ == "format_map"

        def metered_format(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                args, kwargs = (), args[0]
            return type(text)(formatter.vformat(text, args, kwargs))

        return metered_format

    @staticmethod
    def bounded_concat(items: Any) -> str:
        return bounds.bounded_concat(items)


def _environment() -> ImmutableSandboxedEnvironment:
    # Not optimized: jinja2's optimizer evaluates constant parts while compiling, outside the meter.
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, optimized=False)
    env.filters["basename"] = _basename
    env.filters["stem"] = _stem
    bounds.meter_filters(env.filters)
    bounds.meter_tests(env.tests)
    del env.globals["lipsum"]  # text generation, sized by its arguments: nothing a pipeline needs
    return env


ENVIRONMENT = _environment()


def public_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """What templates see as ``env``: the variables named ``FFPIPE_PUBLIC_*``, under their names."""
    return {name: value for name, value in environ.items() if name.startswith(PUBLIC_ENV_PREFIX)}


def hidden_env_message(name: str) -> str:
    """Why ``env.NAME`` cannot be read by a template."""
    return (
        f"env.{name} is not visible to templates: only environment variables named"
        f" {PUBLIC_ENV_PREFIX}* are (so a pipeline cannot read secrets)"
    )


def is_template(value: Any) -> bool:
    """Whether ``value`` is a string containing jinja2 markup."""
    # Every marker starts with "{": one scan rules out most strings (called per value per instance).
    return isinstance(value, str) and "{" in value and any(marker in value for marker in _MARKERS)


def contains_template(value: Any) -> bool:
    """Whether ``value`` or anything nested in it is a template."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(contains_template(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_template(item) for item in value)
    return False


@dataclass(frozen=True)
class Template:
    """A parsed template: how to evaluate it and which steps, matrix axes and names it reads."""

    source: str
    single: bool
    compiled: Any
    step_refs: frozenset[str]
    matrix_axes: frozenset[str] | None
    """Axes read via ``matrix.NAME``; None when the whole ``matrix`` is read."""
    names: frozenset[str]
    """Top-level names the template reads."""
    steps_whole: bool
    """Reads ``steps`` other than as ``steps.ID``."""
    reads: frozenset[str]
    """What it reads, as ``params.NAME``, ``inputs.NAME`` and ``matrix.NAME``."""
    env_names: frozenset[str] = frozenset()
    """Environment variables read as ``env.NAME``."""

    pieces: tuple[str | _Lookup, ...] | None = None
    """Text and ``{{ name.a.b }}`` lookups only: rendered without jinja2 when every lookup
    reads plain mappings (the common case, thousands of times in a matrix)."""
    step_fields: frozenset[tuple[str, str]] = frozenset()
    """``(step id, field)`` for each ``steps.ID.FIELD`` read (``output``, ``result``...)."""

    def render(self, context: Mapping[str, Any]) -> Any:
        """Evaluate with ``context``; raises :class:`TemplateProblem`."""
        if self.pieces is not None:
            found = _render_pieces(self.pieces, context, self.single)
            if found is not _MISSING:
                return found
        # Only the names the template reads: jinja2 copies whatever it is given (env is large).
        hidden = sorted(name for name in self.env_names if not name.startswith(PUBLIC_ENV_PREFIX))
        if hidden:
            raise TemplateProblem(hidden_env_message(hidden[0]))
        context = {name: context[name] for name in self.names if name in context}
        try:
            with bounds.rendering() as meter:
                if self.single:
                    result = self.compiled(**context)
                    if isinstance(result, jinja2.Undefined):
                        str(result)
                    return meter.charge(result, "the rendered value")
                return _render_bounded(self.compiled, context, meter)
        except bounds.TemplateLimit as error:
            raise TemplateProblem(f"template {_excerpt(self.source)} stopped: {error}") from None
        except MemoryError:
            raise TemplateProblem(
                f"template {_excerpt(self.source)} stopped: it ran out of memory"
            ) from None
        except jinja2.exceptions.SecurityError as error:
            raise TemplateProblem(f"refused by the template sandbox: {error}") from None
        except jinja2.UndefinedError as error:
            raise TemplateProblem(f"undefined in template {self.source!r}: {error}") from None
        except Exception as error:  # a template may raise anything (ZeroDivisionError, ...)
            raise TemplateProblem(
                f"template {self.source!r} failed: {type(error).__name__}: {error}"
            ) from None


def _render_bounded(
    compiled: jinja2.Template, context: Mapping[str, Any], meter: bounds.Meter
) -> str:
    parts: list[str] = []
    size = 0
    for part in compiled.generate(**context):
        size += len(part)
        meter.ensure(size, "its text")
        parts.append(part)
    return meter.charge("".join(parts), "its text")


def _excerpt(source: str, width: int = 80) -> str:
    return repr(source if len(source) <= width else source[: width - 3] + "...")


@lru_cache(maxsize=4096)
def parse_template(source: str) -> Template:
    """Parse and compile ``source`` once; raises :class:`TemplateProblem` on syntax errors."""
    match = _SINGLE.match(source)
    expression = match.group("expr") if match else None
    single = expression is not None and not any(m in expression for m in (*_MARKERS, "}}"))
    try:
        tree = ENVIRONMENT.parse(source)
        if single:
            compiled = ENVIRONMENT.compile_expression(expression, undefined_to_none=False)
        else:
            compiled = ENVIRONMENT.from_string(bounds.CountLoops().visit(ENVIRONMENT.parse(source)))
    except jinja2.TemplateSyntaxError as error:
        raise TemplateProblem(f"template syntax error in {source!r}: {error.message}") from None
    except jinja2.TemplateError as error:
        raise TemplateProblem(f"template {_excerpt(source)} cannot be compiled: {error}") from None
    step_refs, steps_whole = _attributes_of(tree, "steps")
    axes, matrix_whole = _attributes_of(tree, "matrix")
    names = _undeclared_names(tree)
    reads = frozenset(
        f"{name}.{attribute}"
        for name in ("params", "inputs", "matrix")
        for attribute in _attributes_of(tree, name)[0]
    )
    return Template(
        env_names=_attributes_of(tree, "env")[0],
        step_fields=_step_fields(tree),
        pieces=_pieces(tree),
        source=source,
        single=single,
        compiled=compiled,
        step_refs=step_refs,
        matrix_axes=None if matrix_whole else axes,
        names=names,
        steps_whole=steps_whole,
        reads=reads,
    )


class _NameTracker(meta.TrackingCodeGenerator):
    """jinja2's finder of undeclared names, without the optimizer: that would evaluate constant
    parts of the template (filters included) while compiling, outside the meter."""

    def __init__(self, environment: jinja2.Environment) -> None:
        CodeGenerator.__init__(
            self, environment, "<introspection>", "<introspection>", optimized=False
        )
        self.undeclared_identifiers: set[str] = set()


def _undeclared_names(tree: nodes.Template) -> frozenset[str]:
    tracker = _NameTracker(ENVIRONMENT)
    tracker.visit(tree)
    return frozenset(tracker.undeclared_identifiers)


def _lookup(node: nodes.Node) -> _Lookup | None:
    """``("matrix", ("age",))`` for ``matrix.age``; None for any other expression."""
    keys: list[str | int] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
            keys.append(node.arg.value)
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name) or not keys:
        return None
    return node.name, tuple(reversed(keys))


def _pieces(tree: nodes.Template) -> tuple[str | _Lookup, ...] | None:
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    pieces: list[str | _Lookup] = []
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            pieces.append(node.data)
            continue
        found = _lookup(node)
        if found is None:
            return None
        pieces.append(found)
    return tuple(pieces)


def _render_pieces(
    pieces: tuple[str | _Lookup, ...], context: Mapping[str, Any], single: bool
) -> Any:
    if single:
        for piece in pieces:
            if not isinstance(piece, str):
                return _direct_lookup(context, *piece)
    parts = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(piece)
            continue
        value = _direct_lookup(context, *piece)
        if value is _MISSING:
            return _MISSING
        parts.append(str(value))
    return "".join(parts)


def _direct_lookup(context: Mapping[str, Any], name: str, keys: tuple[str | int, ...]) -> Any:
    """The value jinja2 would give for plain dicts, or ``_MISSING`` to let jinja2 decide.

    jinja2 reads ``a.b`` as an attribute first, so keys that are dict attributes (``items``)
    and private names are left to it, as is anything that is not a plain dict.
    """
    value = context.get(name, _MISSING)
    for key in keys:
        if type(value) is not dict or key not in value:
            return _MISSING
        if isinstance(key, str) and (key.startswith("_") or hasattr(dict, key)):
            return _MISSING
        value = value[key]
    return value


def _step_fields(tree: nodes.Node) -> frozenset[tuple[str, str]]:
    """``(ID, FIELD)`` for every ``steps.ID.FIELD`` (or ``steps['ID']['FIELD']``) in ``tree``."""
    found = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        lookup = _lookup(node)
        if lookup is not None and lookup[0] == "steps" and len(lookup[1]) == 2:
            step, field = lookup[1]
            if isinstance(step, str) and isinstance(field, str):
                found.add((step, field))
    return frozenset(found)


def _attributes_of(tree: nodes.Node, name: str) -> tuple[frozenset[str], bool]:
    """Attributes read from the variable ``name`` (``name.x``, ``name['x']``), and whether the
    variable is also read in any other way."""
    found: set[str] = set()
    named = [n for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    covered: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == name):
            continue
        if isinstance(node, nodes.Getattr):
            found.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add(node.arg.value)
        else:
            continue
        covered.add(id(target))
    return frozenset(found), any(id(n) not in covered for n in named)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template in ``value`` (nested lists and mappings included)."""
    if isinstance(value, str):
        return parse_template(value).render(context) if is_template(value) else value
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def templates_in(value: Any) -> list[Template]:
    """Every template nested in ``value``, parsed."""
    if isinstance(value, str):
        return [parse_template(value)] if is_template(value) else []
    if isinstance(value, dict):
        return [t for item in value.values() for t in templates_in(item)]
    if isinstance(value, list):
        return [t for item in value for t in templates_in(item)]
    return []
