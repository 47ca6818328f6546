"""Templates stay inside their limits: every way we know to make a render take memory or
time without end fails with the product's template error naming the limit, and the
render's traced memory stays under a ceiling of tens of megabytes while it does."""

import re
import tracemalloc

import pytest

from delivery.template_limits import text_size
from delivery.templating import (
    ENVIRONMENT,
    JourneyLiquidEnvironment,
    RenderBudget,
    TemplateRenderError,
    _ParsedTemplates,
    template_render,
)

MB = 1_000_000
#: The memory a render may take; the bombs below asked for gigabytes before these limits.
MEMORY_CEILING = 64 * MB

LOOP_LIMIT = "loop iteration limit reached"
VALUE_LIMIT = "value size limit reached"


def doubled(name: str, seed: str, times: int) -> str:
    """Liquid that assigns ``seed`` doubled ``times`` times to ``name`` (len * 2**times)."""
    return f'{{% assign {name} = "{seed}" %}}' + (
        f"{{% assign {name} = {name} | append: {name} %}}" * times
    )


def render_traced(source: str, context: dict | None = None) -> tuple[TemplateRenderError, int]:
    """Render ``source``, which must fail; answer the error and the peak traced memory."""
    tracemalloc.start()
    try:
        with pytest.raises(TemplateRenderError) as raised:
            template_render(source, context or {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return raised.value, peak


# (id, template, context, what the error says). Each asked for gigabytes, or minutes of
# CPU time, before these limits.
BOMBS = [
    # The two: a range inside a filter escaped the loop limit.
    ("range_join_size", '{{ (1..20000000) | join: "" | size }}', {},
     r"the range \(1\.\.20000000\) has 20,000,000 items, over the limit of 10,000"),
    ("range_join_comma", '{{ (1..100000000) | join: "," | size }}', {},
     r"the range \(1\.\.100000000\) has 100,000,000 items"),
    # A range counts wherever it is made, whatever goes through it.
    ("range_size", "{{ (1..100000000000) | size }}", {}, LOOP_LIMIT),
    ("range_output", "{{ (1..100000000000) }}", {}, LOOP_LIMIT),
    ("range_assign", "{% assign r = (1..100000000000) %}", {}, LOOP_LIMIT),
    ("range_echo", '{% liquid\necho (1..20000000) | join: ","\n%}', {}, LOOP_LIMIT),
    ("range_map", '{{ (1..20000000) | map: "x" | size }}', {}, LOOP_LIMIT),
    ("range_sort", "{{ (1..20000000) | sort | size }}", {}, LOOP_LIMIT),
    ("range_reverse", "{{ (1..20000000) | reverse | size }}", {}, LOOP_LIMIT),
    ("range_uniq", "{{ (1..20000000) | uniq | size }}", {}, LOOP_LIMIT),
    ("range_compact", "{{ (1..20000000) | compact | size }}", {}, LOOP_LIMIT),
    ("range_sum", "{{ (1..100000000) | sum }}", {}, LOOP_LIMIT),
    ("range_where", '{{ (1..20000000) | where: "a" | size }}', {}, LOOP_LIMIT),
    ("range_as_argument", "{{ (1..2) | concat: (1..20000000) | size }}", {}, LOOP_LIMIT),
    ("range_contains", '{% if (1..100000000) contains "x" %}y{% endif %}', {}, LOOP_LIMIT),
    ("range_tablerow", "{% tablerow i in (1..20000000) %}{{ i }}{% endtablerow %}", {}, LOOP_LIMIT),
    ("range_variable_bound", '{{ (1..data.n) | join: "," }}', {"data": {"n": 10**12}},
     r"the range \(1\.\.data\.n\) has 1,000,000,000,000 items"),
    ("range_infinite_bound", '{% assign x = "1e999" | times: 1.0 %}{{ (1..x) | size }}', {},
     r"the range \(1\.\.x\) has no end"),
    # Inside loops a range counts like a nested loop: 100 x 200 iterations.
    ("range_in_loop", "{% for i in (1..100) %}{{ (1..200) | join }}{% endfor %}", {},
     r"the range \(1\.\.200\) has 200 items, 20,000 with the loops around it"),
    ("range_in_loop_time", "{% for i in (1..10000) %}{{ (1..10000) | join | size }}{% endfor %}",
     {}, r"100,000,000 with the loops around it"),
    # Lists the template did not make count the same when a filter goes through them.
    ("payload_list_join", "{{ data.items | join }}", {"data": {"items": [1] * 20_000}},
     r"join goes through 20,000 items, over the limit of 10,000"),
    ("split_items", '{{ data.text | split: "," | size }}', {"data": {"text": "a," * 20_000}},
     r"split makes 20,001 items"),
    ("split_characters", '{{ data.text | split: "" | size }}', {"data": {"text": "x" * MB}},
     r"split makes 1,000,000 items"),
    # Strings that grow without a loop: each filter's value is bounded, the multiplying
    # ones before they build anything.
    ("replace_exponential",
     '{{ "xxxxxxxxxx"' + ' | replace: "x", "xxxxxxxxxx"' * 9 + " | size }}", {},
     r"replace would make a string of 10,000,000 characters, over the limit of 1,000,000"),
    ("replace_empty", doubled("a", "x", 16) + '{{ a | replace: "", a | size }}', {},
     r"replace would make a string of 4,295,098,368 characters"),
    ("append_doubling", doubled("a", "x", 40) + "{{ a | size }}", {},
     r"append would make a string of 1,048,576 characters"),
    ("append_chain", doubled("a", "x", 19) + "{{ a" + " | append: a" * 3000 + " | size }}", {},
     r"append would make a string of 1,048,576 characters"),
    ("prepend_chain", doubled("a", "x", 19) + "{{ a" + " | prepend: a" * 3000 + " | size }}", {},
     VALUE_LIMIT),
    ("join_long_separator", doubled("a", "x", 17) + "{{ (1..10000) | join: a | size }}", {},
     r"join would make a string of 1,31\d,\d{3},\d{3} characters"),
    ("concat_doubling",
     doubled("a", "x", 15) + '{% assign l = a | split: "," %}'
     + "{% assign l = l | concat: l %}" * 14 + "{{ l }}", {},
     r"concat would make a list of 1,048,\d{3} characters"),
    ("escape_growth", doubled("a", "&", 18) + "{{ a" + " | escape" * 30 + " | size }}", {},
     r"escape would make a string of 1,310,720 characters"),
    ("url_encode_growth", doubled("a", "😀", 17) + "{{ a | url_encode | size }}", {},
     r"url_encode would make a string of 1,572,864 characters"),
    ("newline_to_br_growth", doubled("a", "\n", 19) + "{{ a | newline_to_br | size }}", {},
     r"newline_to_br would make a string of 3,670,016 characters"),
    ("date_padded_format", doubled("f", "%1000Y", 10) + '{{ "now" | date: f | size }}', {},
     r"date would make a string of up to 1,572,864 characters"),
    ("capture_doubling",
     '{% assign c = "x" %}' + "{% capture c %}{{ c }}{{ c }}{% endcapture %}" * 40, {},
     "output stream limit reached"),
    ("capture_in_loops",
     "{% capture c %}{% for i in (1..100) %}{% for j in (1..100) %}" + "x" * 1000
     + "{% endfor %}{% endfor %}{% endcapture %}{{ c | size }}", {},
     "output stream limit reached"),
    # Numbers: squaring doubles the digits; a float's infinity floored is no integer.
    ("times_squaring", '{% assign x = 10 %}' + "{% assign x = x | times: x %}" * 30, {},
     r"times would make a number of more than 4,300 digits"),
    ("infinity_floored", '{{ "1e999999999" | floor }}', {},
     "floor: cannot convert float infinity to integer"),
    # The template itself: too long to parse cheaply, or nested too deeply.
    ("long_template", "{{ data.n }}" * 20_000, {"data": {"n": 1}},
     r"template size limit reached: the template has 240,000 characters, over the limit "
     r"of 100,000"),
    ("deep_nesting", "{% if true %}" * 40 + "x" + "{% endif %}" * 40, {},
     "block nesting limit reached"),
    ("long_condition", "{% if " + " or ".join(["data.n"] * 9_000) + " %}y{% endif %}", {},
     "template does not parse"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "context", "message"),
    [pytest.param(source, context, message, id=name) for name, source, context, message in BOMBS],
)
def test_a_bomb_fails_naming_its_limit_within_bounded_memory(source, context, message):
    error, peak = render_traced(source, context)

    assert error.status_code == 422
    assert re.search(message, error.message), error.message
    assert peak < MEMORY_CEILING, f"{peak / MB:.1f} MB traced"


# --- time ------------------------------------------------------------------------------


def test_a_render_stops_once_it_has_used_its_cpu_time(monkeypatch):
    clock = iter(range(1_000_000))  # one second more at every look
    monkeypatch.setattr("delivery.template_limits.cpu_clock", lambda: next(clock))
    source = "{% for i in (1..100) %}{{ i | plus: 1 }}{% endfor %}"

    with pytest.raises(TemplateRenderError) as raised:
        template_render(source, {})

    assert raised.value.message == (
        "render time limit reached: a render may use 2 seconds of CPU time"
    )


@pytest.mark.parametrize(
    "source",
    [
        # Nodes without filters, 4,000 of them 10,000 times: minutes of CPU time.
        pytest.param(
            "{% for i in (1..10000) %}" + "{% if true %}{% endif %}" * 4000 + "{% endfor %}",
            id="loop_of_many_nodes",
        ),
        # A filter over a long string in every iteration: no value or output grows.
        pytest.param(
            "{% for i in (1..10000) %}{{ data.text | upcase | size }}{% endfor %}",
            id="loop_of_long_strings",
        ),
    ],
)
def test_a_loop_within_every_other_limit_still_stops_at_the_time_limit(monkeypatch, source):
    monkeypatch.setattr(JourneyLiquidEnvironment, "render_time_limit", 0.1)

    with pytest.raises(TemplateRenderError, match="render time limit reached"):
        template_render(source, {"data": {"text": "x" * 500_000}})


# --- what stays allowed -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        pytest.param(
            "{{ (1..10000) | join: ',' }}",
            {},
            ",".join(str(i) for i in range(1, 10_001)),
            id="range_at_the_limit",
        ),
        pytest.param(
            "{% for i in (1..100) %}{% for j in (1..100) %}{% endfor %}{% endfor %}"
            "{{ (1..3) | join }}",
            {},
            "1 2 3",
            id="nested_loops_at_the_limit",
        ),
        pytest.param(
            "{% for i in (1..10) %}{{ (1..1000) | sum }} {% endfor %}",
            {},
            "500500 " * 10,
            id="ranges_in_a_loop_under_the_limit",
        ),
        pytest.param(
            '{{ data.items | map: "sku" | sort | join: ", " }}',
            {"data": {"items": [{"sku": f"s{i:04}"} for i in range(10_000)]}},
            ", ".join(f"s{i:04}" for i in range(10_000)),
            id="payload_list_at_the_limit",
        ),
        pytest.param(
            '{% assign picked = "" | split: "," %}{% for item in data.items %}'
            "{% assign picked = picked | concat: item.tags %}{% endfor %}{{ picked | join }}",
            {"data": {"items": [{"tags": ["a", "b"]}] * 3}},
            "a b a b a b",
            id="concat_accumulating_in_a_loop",
        ),
        pytest.param(
            '{{ data.text | split: "," | last }}',
            {"data": {"text": "a," * 9_999 + "z"}},
            "z",
            id="split_at_the_limit",
        ),
        pytest.param(
            '{{ data.at | date: "%A %d %B %Y, %H:%M" }}',
            {"data": {"at": "2025-03-01T09:30"}},
            "Saturday 01 March 2025, 09:30",
            id="date",
        ),
        pytest.param(
            "{{ data.text | replace: 'x', 'yy' | size }}",
            {"data": {"text": "x" * 499_000}},
            "998000",
            id="replace_under_the_limit",
        ),
        pytest.param(
            "{{ data.n | times: data.n | times: data.n }}",
            {"data": {"n": 10**1000}},
            "1" + "0" * 3000,
            id="big_number_under_the_limit",
        ),
    ],
)
def test_ordinary_templates_render_within_the_limits(source, context, expected):
    assert template_render(source, context) == expected


# --- the pieces -----------------------------------------------------------------------------


def test_text_size_counts_a_shared_item_each_time_it_would_print():
    text = "x" * 1000

    assert text_size([text] * 100, budget=10**9) == 100 * 1004 + 2


def test_text_size_stops_counting_past_the_budget():
    huge = [["x" * 1000] * 1000] * 1000  # a billion characters if printed

    assert 1000 < text_size(huge, budget=1000) < 3000


def test_a_render_budget_bounds_the_templates_of_a_step_together():
    budget = RenderBudget()
    context = {"data": {"text": "x" * 400_000}}
    budget.render("{{ data.text }}", context)
    budget.render("{{ data.text }}", context)

    with pytest.raises(TemplateRenderError) as raised:
        budget.render("{{ data.text }}", context)

    assert raised.value.message == (
        "output stream limit reached: the step's templates together write more than "
        "1,000,000 characters"
    )


def test_a_render_budget_bounds_the_cpu_time_of_a_step_s_templates_together(monkeypatch):
    clock = iter(range(1_000_000))  # one second more at every look
    monkeypatch.setattr("delivery.template_limits.cpu_clock", lambda: next(clock))
    budget = RenderBudget()  # the step may use the clock's first 2 seconds
    budget.render("one", {})  # the render and the budget look: 2 seconds used

    with pytest.raises(TemplateRenderError) as raised:
        budget.render("two", {})  # 4 seconds used

    assert raised.value.message == (
        "render time limit reached: the step's templates together may use 2 seconds of CPU time"
    )


def test_parsed_templates_are_cached_up_to_a_total_source_length():
    cache = _ParsedTemplates(ENVIRONMENT, max_chars=100)
    first = cache.get("a" * 60)

    assert cache.get("a" * 60) is first
    cache.get("b" * 60)  # 120 characters: the least recently used goes
    assert cache.get("b" * 60) is cache.get("b" * 60)
    assert cache.get("a" * 60) is not first
