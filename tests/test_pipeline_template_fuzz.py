"""Grammar-based fuzzing of templates: whatever a template does, it renders or is refused within
the pipeline's budget of steps and characters, and its memory stays near that budget.

Templates are built from every construct the sandbox allows (literals, the binary operators,
``~``, every filter and test, ``str`` methods, ``str.format``/``format_map`` with nested specs,
``%`` with ``*`` widths, loops, recursive loops, namespaces and a self-calling macro), with
arguments that include huge widths and counts. The run is derandomized and has a fixed example
count, so it takes the same bounded time everywhere. While it runs, the process's address space
is capped (RLIMIT_AS) so a template that escapes the meter fails with MemoryError instead of
exhausting the machine.
"""

from __future__ import annotations

import contextlib
import resource
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffpipe.pipeline import bounds
from ffpipe.pipeline.templates import ENVIRONMENT, TemplateProblem, parse_template

BUDGET = bounds.Budget(steps=20_000, chars=400_000)
PEAK_BYTES = 48_000_000
"""Far above what the budget lets templates build (a 100 000-item range as a list is ~4 MB),
far below what any of the bombs allocates unmetered (gigabytes)."""
ADDRESS_SPACE_HEADROOM = 1_500_000_000

NUMBERS = ["0", "1", "3", "-2", "17", "999", "999999", "2000000000", "10 ** 9", "2.5", "n"]
STRINGS = [
    "'x'",
    "'ab\\ncd'",
    "'a\\tb'",
    "'{0:{1}}'",
    "'{:>{}}'",
    "'{a:{w}}'",
    "'{}-{}'",
    "'%*s'",
    "'%.*f'",
    "'%s|%d'",
    "'%(a)s'",
    "ns.v",
]
SEQUENCES = ["range(5)", "range(100000)", "[1, 'a', [2, 3]]", "{'a': 'x', 'w': 9}", "[ns.v]"]
FILTERS = sorted(name for name in ENVIRONMENT.filters if name != bounds.LOOP_FILTER)
TESTS = sorted(name for name in ENVIRONMENT.tests if name.isidentifier())
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "~", "in", "==", "<"]
OPERATOR = st.sampled_from(OPERATORS)
FILTER = st.sampled_from(FILTERS)
TEST = st.sampled_from(TESTS)


def _form(pattern: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map(lambda values: pattern.format(*values))


def _mostly(leaf: st.SearchStrategy[str], *forms: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``leaf`` three times in four, so expressions stay small (one level deeper otherwise)."""
    return st.one_of(leaf, leaf, leaf, st.one_of(*forms))


def _numbers() -> st.SearchStrategy[str]:
    return _mostly(
        st.sampled_from(NUMBERS),
        _form("({} {} {})", NUMBER, st.sampled_from(["+", "-", "*", "**", "//"]), NUMBER),
        _form("({}|length)", TEXT),
        _form("({}|length)", ITEMS),
        _form("({}|sum)", ITEMS),
        _form("({}.count({}))", TEXT, TEXT),
    )


def _texts() -> st.SearchStrategy[str]:
    return _mostly(
        st.sampled_from(STRINGS),
        _form("({} ~ {})", TEXT, TEXT),
        _form("({} + {})", TEXT, TEXT),
        _form("({} * {})", TEXT, NUMBER),
        _form("({} % ({}, {}))", TEXT, NUMBER, TEXT),
        _form("({} % {{'a': {}}})", TEXT, TEXT),
        _form("({}|center({}))", TEXT, NUMBER),
        _form("({}|indent({}, true))", TEXT, NUMBER),
        _form("({}|wordwrap({}, true, {}))", TEXT, NUMBER, TEXT),
        _form("({}|format({}, {}))", TEXT, NUMBER, TEXT),
        _form("({}|replace({}, {}))", TEXT, TEXT, TEXT),
        _form("({}|truncate({}))", TEXT, NUMBER),
        _form(
            "({}|{})", TEXT, st.sampled_from(["upper", "urlencode", "tojson", "escape", "title"])
        ),
        _form("({}.{}({}))", TEXT, st.sampled_from(["ljust", "rjust", "center", "zfill"]), NUMBER),
        _form("({}.expandtabs({}))", TEXT, NUMBER),
        _form("({}.replace({}, {}))", TEXT, TEXT, TEXT),
        _form("({}.format({}, {}))", TEXT, TEXT, NUMBER),
        _form("({}.format_map({{'a': {}, 'w': {}}}))", TEXT, TEXT, NUMBER),
        _form("({}|join({}))", ITEMS, TEXT),
        _form("({}|string)", ITEMS),
        _form("twice({}, {})", NUMBER, TEXT),
    )


def _sequences() -> st.SearchStrategy[str]:
    return _mostly(
        st.sampled_from(SEQUENCES),
        _form("range({})", NUMBER),
        _form("({} + {})", ITEMS, ITEMS),
        _form("({} * {})", ITEMS, NUMBER),
        _form("[{}, {}]", TEXT, ITEMS),
        _form("({}|map('center', {})|list)", ITEMS, NUMBER),
        _form("({}|map('string')|list)", ITEMS),
        _form("({}|batch({}, {})|list)", ITEMS, NUMBER, TEXT),
        _form("({}|slice({}, {})|list)", ITEMS, NUMBER, TEXT),
        _form("([{}, {}]|sum(start=[]))", ITEMS, ITEMS),
        _form("({}|{}|list)", ITEMS, st.sampled_from(["sort", "unique", "reverse", "select"])),
        _form("({}|list)", TEXT),
        _form("({}[{}:])", ITEMS, NUMBER),
    )


NUMBER = st.deferred(_numbers)
TEXT = st.deferred(_texts)
ITEMS = st.deferred(_sequences)


def _untyped(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Any filter, test or operator on anything: most fail, none may escape the meter."""
    arguments = st.lists(inner, max_size=3).map(", ".join)
    return st.one_of(
        st.tuples(inner, OPERATOR, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, FILTER, arguments).map(lambda t: f"(({t[0]})|{t[1]}({t[2]}))"),
        st.tuples(inner, TEST).map(lambda t: f"(({t[0]}) is {t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    )


def _expressions() -> st.SearchStrategy[str]:
    typed = st.one_of(NUMBER, TEXT, ITEMS)
    return st.one_of(typed, typed, _untyped(typed))


def _statements(expressions: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        body = st.lists(inner, min_size=1, max_size=3).map("".join)
        return st.one_of(
            st.tuples(expressions, body).map(
                lambda t: f"{{% for loop_item in {t[0]} %}}{t[1]}{{% endfor %}}"
            ),
            st.tuples(expressions, body).map(
                lambda t: (
                    f"{{% for loop_item in {t[0]} recursive %}}{t[1]}"
                    "{% if loop_item is iterable %}{{ loop(loop_item) }}{% endif %}{% endfor %}"
                )
            ),
            st.tuples(expressions, body).map(lambda t: f"{{% if {t[0]} %}}{t[1]}{{% endif %}}"),
        )

    simple = st.one_of(
        expressions.map(lambda e: f"{{{{ {e} }}}}"),
        expressions.map(lambda e: f"{{% set ns.v = {e} %}}"),
        st.just("text"),
    )
    return st.recursive(simple, extend, max_leaves=5)


PRELUDE = (
    "{% set ns = namespace(v='seed') %}{% set n = 3 %}{% set loop_item = 2 %}"
    "{% macro twice(depth, value) %}{% if depth is number and depth > 0 %}"
    "{{ twice(depth - 1, value) }}{{ twice(depth - 1, value) }}{% endif %}{{ value }}"
    "{% endmacro %}"
)
TEMPLATES = st.lists(_statements(_expressions()), min_size=1, max_size=4).map(
    lambda parts: PRELUDE + "".join(parts)
)


@contextlib.contextmanager
def _capped_address_space() -> Iterator[None]:
    """Lower the soft address-space limit while a template renders, then restore it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    cap = pages * resource.getpagesize() + ADDRESS_SPACE_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.timeout(300)
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
@given(source=TEMPLATES)
def test_every_template_renders_or_is_refused_within_the_budget(source: str) -> None:
    template = parse_template(source)
    tracemalloc.start()
    try:
        with _capped_address_space(), bounds.metered(BUDGET) as meter:
            try:
                template.render({})
            except TemplateProblem as problem:
                message = str(problem)
                assert "memory" not in message and "RecursionError" not in message, message
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert meter.steps <= BUDGET.steps
    assert meter.chars <= BUDGET.chars
    assert peak < PEAK_BYTES, f"{peak} bytes for {source!r}"
