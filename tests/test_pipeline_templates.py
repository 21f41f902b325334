"""Templates: type preservation, the sandbox, strict undefined names and reference detection."""

from __future__ import annotations

import pytest

from ffpipe.pipeline.templates import TemplateProblem, parse_template, render_value


def test_single_expression_keeps_its_type() -> None:
    assert parse_template("{{ params.age }}").render({"params": {"age": 65}}) == 65
    assert parse_template(" {{ [1, 2] }} ").render({}) == [1, 2]
    assert parse_template("{{ params.on }}").render({"params": {"on": False}}) is False


def test_mixed_text_renders_to_a_string() -> None:
    rendered = parse_template("age_{{ params.age }}.jpg").render({"params": {"age": 65}})
    assert rendered == "age_65.jpg"
    assert parse_template("{{ 1 }}{{ 2 }}").render({}) == "12"


def test_references_to_steps_and_matrix_axes_are_found() -> None:
    template = parse_template("{{ steps.swap.output }} {{ steps['enhance'].result.n + matrix.a }}")
    assert template.step_refs == {"swap", "enhance"}
    assert template.matrix_axes == {"a"}
    assert not template.steps_whole
    assert parse_template("{{ matrix }}").matrix_axes is None
    assert parse_template("{{ steps | length }}").steps_whole


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ ''.__class__ }}", "sandbox"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "sandbox"),
        ("{{ params.__init__.__globals__ }}", "sandbox"),
        ("{{ missing }}", "undefined"),
        ("x{{ missing }}", "undefined"),
        ("{{ params.nope }}", "undefined"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ],
)
def test_unsafe_or_undefined_templates_fail(source: str, expected: str) -> None:
    with pytest.raises(TemplateProblem, match=expected):
        parse_template(source).render({"params": {}})


def test_syntax_errors_are_problems() -> None:
    with pytest.raises(TemplateProblem, match="syntax error"):
        parse_template("{{ params.age ")


def test_render_value_walks_nested_values_and_filters_work() -> None:
    context = {"matrix": {"photo": "/m/a.jpg"}}
    value = {"a": ["{{ matrix.photo | basename }}", "{{ matrix.photo | stem }}"], "b": 3}
    assert render_value(value, context) == {"a": ["a.jpg", "a"], "b": 3}


@pytest.mark.parametrize(
    "value", [0, 1.5, 0.1 + 0.2, True, None, "text", [1, "a"], {"k": 2}, 10**20]
)
@pytest.mark.parametrize("source", ["{{ matrix.v }}", "a_{{ matrix.v }}-{{ params['p'] }}.jpg"])
def test_direct_lookups_match_jinja2(source: str, value: object) -> None:
    template = parse_template(source)
    assert template.pieces is not None
    context = {"matrix": {"v": value}, "params": {"p": value}}
    if template.single:
        jinja_value = template.compiled(**context)
    else:
        jinja_value = template.compiled.render(**context)
    assert template.render(context) == jinja_value


def test_dict_attribute_names_are_left_to_jinja2() -> None:
    # jinja2 reads `params.items` as the dict method, not the key: the fast path must agree.
    assert callable(parse_template("{{ params.items }}").render({"params": {"items": 1}}))


def test_step_fields_name_each_field_read_of_each_step() -> None:
    template = parse_template(
        "{{ steps.a.result.faces | length > 0 and steps['b']['output'] ~ steps.c.outptu }}"
    )
    assert template.step_fields == {("a", "result"), ("b", "output"), ("c", "outptu")}
