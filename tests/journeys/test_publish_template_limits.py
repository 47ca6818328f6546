"""Publish refuses what it can see is too big: a template longer than templates may be,
or a range with constant bounds of more items than a template may loop over, in any
template of the definition, is a problem naming its step and field."""

import copy
from typing import Any

import pytest

from journeys.authoring.checks import definition_publish_problems
from journeys.authoring.services import journey_import
from journeys.models import JourneyVersion

RANGE_BOMB = '{{ (1..20000000) | join: "" | size }}'
RANGE_PROBLEM = (
    "Liquid exceeds a limit: the range (1..20000000) has 20,000,000 items, over the loop "
    "iteration limit of 10,000 (line 1, column 4)"
)


def with_steps(document: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document["steps"] = list(steps)
    document["start"] = steps[0]["key"]
    return document


def errors_by_place(document: dict[str, Any]) -> dict[tuple[str | None, str | None], str]:
    errors, _ = definition_publish_problems(document)
    return {(error["step"], error["field"]): error["message"] for error in errors}


def test_a_constant_range_over_the_loop_limit_is_a_problem_in_every_template_field(
    journey_document,
):
    document = with_steps(
        journey_document,
        {"key": "mail", "type": "send", "channel": "email", "subject": RANGE_BOMB,
         "body": RANGE_BOMB, "next": "post"},
        {"key": "post", "type": "send", "channel": "webhook",
         "url": "https://hooks.example.com/" + RANGE_BOMB,
         "body": {"items": ["fixed", RANGE_BOMB]}, "next": "call"},
        {"key": "call", "type": "webhook", "method": "POST", "url": "https://api.example.com",
         "headers": {"X-Count": RANGE_BOMB}, "body": RANGE_BOMB, "next": "later"},
        {"key": "later", "type": "delay", "until": RANGE_BOMB, "offset_seconds": 0,
         "next": "tag"},
        {"key": "tag", "type": "update_customer", "set": {"count": RANGE_BOMB}, "next": None},
    )  # fmt: skip
    document["cancellation_key"] = RANGE_BOMB

    problems = errors_by_place(document)

    assert problems == {
        ("mail", "subject"): RANGE_PROBLEM,
        ("mail", "body"): RANGE_PROBLEM,
        ("post", "url"): RANGE_PROBLEM.replace("column 4", "column 30"),
        ("post", "body.items[1]"): RANGE_PROBLEM,
        ("call", "headers.X-Count"): RANGE_PROBLEM,
        ("call", "body"): RANGE_PROBLEM,
        ("later", "until"): RANGE_PROBLEM,
        ("tag", "set.count"): RANGE_PROBLEM,
        (None, "cancellation_key"): RANGE_PROBLEM,
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(
            "{% for i in (1..200) %}{% for j in (1..200) %}{{ j }}{% endfor %}{% endfor %}",
            "the range (1..200) has 200 items, 40,000 with the loops around it, over the loop "
            "iteration limit of 10,000 (line 1, column 36)",
            id="nested_loops",
        ),
        pytest.param(
            "{% for i in (1..100) %}\n{{ (1..1000) | join }}{% endfor %}",
            "the range (1..1000) has 1,000 items, 100,000 with the loops around it, over the "
            "loop iteration limit of 10,000 (line 2, column 4)",
            id="range_in_a_loop",
        ),
        pytest.param(
            "{% assign all = (1..10001) %}",
            "the range (1..10001) has 10,001 items, over the loop iteration limit of 10,000 "
            "(line 1, column 17)",
            id="assigned_range",
        ),
        pytest.param(
            "x" * 100_001,
            "template size limit reached: the template has 100,001 characters, over the limit "
            "of 100,000",
            id="long_template",
        ),
    ],
)
def test_templates_every_render_would_stop_at_a_limit_are_problems(journey_document, body, problem):
    journey_document["steps"][0]["body"] = body

    assert errors_by_place(journey_document) == {
        ("confirm", "body"): f"Liquid exceeds a limit: {problem}"
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{{ (1..10000) | join }}", id="range_at_the_limit"),
        pytest.param(
            "{% for i in (1..100) %}{% for j in (1..100) %}{{ j }}{% endfor %}{% endfor %}",
            id="nested_loops_at_the_limit",
        ),
        pytest.param("{{ (1..api.payload.total) | join }}", id="bound_known_at_send_time"),
        pytest.param(
            # 3 x 3,000 iterations when rendered: the loop's limit, not its range, counts.
            "{% for i in (1..200) limit: 3 %}{{ (1..3000) | size }}{% endfor %}",
            id="loop_cut_short",
        ),
        pytest.param("{% for i in (10..1) %}{% endfor %}", id="empty_range"),
    ],
)
def test_templates_that_may_render_within_the_limits_publish(journey_document, body):
    journey_document["steps"][0]["body"] = body

    problems = errors_by_place(journey_document)

    assert ("confirm", "body") not in problems


@pytest.mark.django_db
def test_publish_answers_400_naming_the_step_and_field_over_the_limit(
    client, api_base, workspace, journey_document
):
    journey_document["steps"][0]["body"] = RANGE_BOMB
    journey = journey_import(workspace=workspace, document=journey_document)

    response = client.post(f"{api_base}/journeys/{journey.public_id}/publish")

    assert response.status_code == 400
    assert {
        "step": "confirm", "field": "body", "message": RANGE_PROBLEM
    } in response.json()["problems"]  # fmt: skip
    assert not JourneyVersion.objects.exists()
