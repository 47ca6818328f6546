"""Liquid templating: strict undefined, resource limits, syntax checks, static analysis."""

import liquid
import pytest

from customers.errors import DomainError
from delivery.templating import (
    ENVIRONMENT,
    JourneyLiquidEnvironment,
    TemplateRenderError,
    template_render,
    template_syntax_problem,
    template_variable_paths,
)


def test_render_fills_variables_from_the_context():
    rendered = template_render(
        "Hi {{ customer.first_name }}, order {{ api.payload.order_id }} ({{ trial_ends_at }})",
        {
            "customer": {"first_name": "Ada"},
            "api": {"payload": {"order_id": "A1"}},
            "trial_ends_at": "soon",
        },
    )

    assert rendered == "Hi Ada, order A1 (soon)"


def test_render_supports_tags_and_filters():
    rendered = template_render(
        "{% for item in data.items %}{{ item.sku | upcase }}"
        "{% unless forloop.last %},{% endunless %}{% endfor %}",
        {"data": {"items": [{"sku": "a"}, {"sku": "b"}]}},
    )

    assert rendered == "A,B"


def test_missing_path_fails_naming_the_variable():
    with pytest.raises(TemplateRenderError) as raised:
        template_render("Your coupon: {{ data.coupon }}", {"data": {}})

    assert raised.value.message == "data.coupon is undefined"
    assert raised.value.details == {"variable": "data.coupon"}


def test_missing_top_level_name_fails_naming_it_without_quotes():
    with pytest.raises(TemplateRenderError) as raised:
        template_render("Ends {{ trial_ends_at }}", {})

    assert raised.value.message == "trial_ends_at is undefined"


def test_missing_value_in_a_condition_fails_too():
    with pytest.raises(TemplateRenderError, match=r"data\.coupon is undefined"):
        template_render("{% if data.coupon %}yes{% endif %}", {"data": {}})


def test_default_filter_is_the_explicit_way_to_allow_a_missing_value():
    assert template_render('{{ data.coupon | default: "none" }}', {"data": {}}) == "none"


def test_render_error_is_an_unprocessable_domain_error():
    with pytest.raises(DomainError) as raised:
        template_render("{{ missing }}", {})

    assert raised.value.status_code == 422
    assert raised.value.as_json()["error"] == "missing is undefined"


def test_render_of_a_template_that_does_not_parse_fails_with_the_syntax_problem():
    with pytest.raises(TemplateRenderError, match="template does not parse: expected '}}'"):
        template_render("Hi {{ customer.name", {"customer": {"name": "Ada"}})


def test_unknown_filter_fails_the_render():
    with pytest.raises(TemplateRenderError, match="unknown filter 'upcse'"):
        template_render("{{ name | upcse }}", {"name": "x"})


def test_loop_iteration_limit_stops_runaway_loops():
    source = "{% for i in (1..200) %}{% for j in (1..200) %}x{% endfor %}{% endfor %}"

    with pytest.raises(TemplateRenderError, match="loop iteration limit"):
        template_render(source, {})


def test_output_stream_limit_stops_huge_output():
    source = "{% for i in (1..5000) %}" + "x" * 1000 + "{% endfor %}"

    with pytest.raises(TemplateRenderError, match="output stream limit"):
        template_render(source, {})


def test_environment_is_strict_and_bounded():
    assert issubclass(ENVIRONMENT.undefined, liquid.StrictUndefined)
    assert JourneyLiquidEnvironment.loop_iteration_limit is not None
    assert JourneyLiquidEnvironment.output_stream_limit is not None
    assert JourneyLiquidEnvironment.local_namespace_limit is not None
    assert JourneyLiquidEnvironment.context_depth_limit is not None


def test_syntax_problem_is_none_for_a_valid_template():
    assert template_syntax_problem("Hi {{ customer.name | capitalize }}") is None
    assert template_syntax_problem("plain text") is None


def test_syntax_problem_names_the_error_and_its_line():
    problem = template_syntax_problem("line one\n{% if %}yes{% endif %}")

    assert problem is not None
    assert "line 2" in problem


def test_syntax_problem_reports_unknown_filters():
    assert template_syntax_problem("{{ name | upcse }}") == "unknown filter 'upcse'"


def test_syntax_problem_reports_partials_as_unavailable():
    problem = template_syntax_problem("{% include 'header' %}")

    assert problem == "the 'include' tag is not available in journey templates"


def test_variable_paths_lists_global_paths_sorted_without_duplicates():
    paths = template_variable_paths(
        "{{ customer.name }} {{ api.payload.order_id }} {{ customer.name }} {{ trial_ends_at }}"
    )

    assert paths == [["api", "payload", "order_id"], ["customer", "name"], ["trial_ends_at"]]


def test_variable_paths_leave_out_local_names():
    source = (
        "{% assign greeting = customer.first_name %}{{ greeting }}"
        "{% capture total %}{{ data.total }}{% endcapture %}{{ total }}"
        "{% for item in data.items %}{{ item.sku }}{{ forloop.index }}{% endfor %}"
    )

    assert template_variable_paths(source) == [
        ["customer", "first_name"],
        ["data", "items"],
        ["data", "total"],
    ]


def test_variable_paths_turn_indexes_into_strings_and_stop_at_dynamic_ones():
    paths = template_variable_paths("{{ data.items[0].sku }} {{ data[data.key].x }}")

    assert paths == [["data"], ["data", "items", "0", "sku"], ["data", "key"]]


def test_variable_paths_of_a_template_that_does_not_parse_are_empty():
    assert template_variable_paths("{{ customer.name") == []


def test_render_accepts_context_keys_that_are_not_python_identifiers():
    rendered = template_render('{{ data["order-id"] }}', {"data": {"order-id": "A1"}, "run-id": 1})

    assert rendered == "A1"
