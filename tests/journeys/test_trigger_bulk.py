"""Bulk triggers: external_ids, segment_ids, their intersection, exclusions and limits."""

import pytest

from customers.models import Customer
from journeys.models import Enrollment
from segments.models import Segment
from tests.factories import customers_create, journey_create, segment_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def journey(workspace):
    return journey_create(workspace)


@pytest.fixture
def people(workspace):
    return customers_create(workspace, 6)


def trigger(client, api_base, journey, body):
    return client.post(f"{api_base}/journeys/{journey.public_id}/trigger", body, format="json")


def enrolled_ids():
    return sorted(Enrollment.objects.values_list("customer__external_id", flat=True))


def not_enrolled(**counts):
    base = dict.fromkeys(
        [
            "not_found",
            "already_enrolled",
            "recently_completed",
            "max_entries_reached",
            "conditions_not_met",
        ],
        0,
    )
    return {**base, **counts}


def test_external_ids_enroll_each_and_skip_the_missing(client, api_base, journey, people):
    response = trigger(
        client,
        api_base,
        journey,
        {
            "external_ids": ["user_0", "user_1", "ghost", "user_1"],
            "payload": {"promo": "X"},
        },
    )

    assert response.status_code == 202
    assert response.json() == {"enrolled_count": 2, "not_enrolled": not_enrolled(not_found=1)}
    assert enrolled_ids() == ["user_0", "user_1"]
    assert {run.context["payload"]["promo"] for run in Enrollment.objects.all()} == {"X"}


def test_camel_case_aliases_work_for_bulk(client, api_base, journey, people):
    segment = segment_create(journey.workspace, people[:3])

    response = trigger(
        client,
        api_base,
        journey,
        {
            "externalIds": ["user_0", "user_1", "user_5"],
            "segmentIds": [segment.public_id],
            "excludeExternalIds": ["user_1"],
            "properties": {"k": "v"},
        },
    )

    assert response.json()["enrolled_count"] == 1
    assert enrolled_ids() == ["user_0"]


def test_segment_ids_enroll_every_member_once(client, api_base, journey, people):
    first = segment_create(journey.workspace, people[:4], name="A")
    second = segment_create(journey.workspace, people[2:5], name="B")

    response = trigger(
        client, api_base, journey, {"segment_ids": [first.public_id, second.public_id]}
    )

    assert response.json() == {"enrolled_count": 5, "not_enrolled": not_enrolled()}
    assert enrolled_ids() == ["user_0", "user_1", "user_2", "user_3", "user_4"]


def test_dynamic_segments_enroll_by_condition(client, api_base, journey, people):
    Customer.objects.filter(external_id__in=["user_1", "user_3"]).update(attributes={"plan": "pro"})
    segment = Segment.objects.create(
        workspace=journey.workspace,
        name="Pro",
        kind=Segment.Kind.DYNAMIC,
        conditions={"field": "customer.plan", "op": "eq", "value": "pro"},
    )

    response = trigger(client, api_base, journey, {"segment_ids": [segment.public_id]})

    assert response.json()["enrolled_count"] == 2
    assert enrolled_ids() == ["user_1", "user_3"]


def test_external_ids_and_segments_intersect_then_exclusions_apply(
    client, api_base, journey, people
):
    segment = segment_create(journey.workspace, people[:4])

    response = trigger(
        client,
        api_base,
        journey,
        {
            "external_ids": ["user_1", "user_2", "user_3", "user_5"],
            "segment_ids": [segment.public_id],
            "exclude_external_ids": ["user_2"],
        },
    )

    assert response.json() == {"enrolled_count": 2, "not_enrolled": not_enrolled()}
    assert enrolled_ids() == ["user_1", "user_3"]


def test_unknown_segment_fails_the_whole_request(client, api_base, journey, people):
    segment = segment_create(journey.workspace, people)

    response = trigger(client, api_base, journey, {"segment_ids": [segment.public_id, "seg_nope"]})

    assert response.status_code == 400
    assert response.json()["error"].startswith("Error resolving segments")
    assert "seg_nope" in response.json()["error"]
    assert not Enrollment.objects.exists()


def test_another_workspaces_segment_is_unknown(client, api_base, journey, other_workspace):
    foreign = segment_create(other_workspace, customers_create(other_workspace, 2))

    response = trigger(client, api_base, journey, {"segment_ids": [foreign.public_id]})

    assert response.status_code == 400
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    ("field", "size"),
    [("external_ids", 1001), ("exclude_external_ids", 1001), ("segment_ids", 11)],
)
def test_arrays_over_their_limit_are_rejected(client, api_base, journey, people, field, size):
    body = {field: [f"x{i}" for i in range(size)]}
    if field == "exclude_external_ids":
        body["external_ids"] = ["user_0"]

    response = trigger(client, api_base, journey, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"Array size exceeded: {field}")
    assert not Enrollment.objects.exists()


def test_arrays_at_their_limit_are_accepted(client, api_base, journey, people):
    ids = [f"user_{i}" for i in range(6)] + [f"ghost_{i}" for i in range(994)]

    response = trigger(client, api_base, journey, {"external_ids": ids})

    assert response.json() == {"enrolled_count": 6, "not_enrolled": not_enrolled(not_found=994)}


def test_bulk_reports_every_reason_a_customer_was_not_enrolled(client, api_base, workspace, people):
    journey = journey_create(
        workspace,
        entry={"conditions": {"field": "customer.email", "op": "not_contains", "value": "user5"}},
    )
    trigger(client, api_base, journey, {"external_ids": ["user_0", "user_1"]})

    response = trigger(
        client,
        api_base,
        journey,
        {
            "external_ids": ["user_0", "user_1", "user_2", "user_5", "ghost"],
        },
    )

    assert response.json() == {
        "enrolled_count": 1,
        "not_enrolled": not_enrolled(not_found=1, already_enrolled=2, conditions_not_met=1),
    }


def test_inactive_customers_count_as_not_found(client, api_base, journey, people):
    Customer.objects.filter(external_id="user_0").update(status=Customer.Status.INACTIVE)

    response = trigger(client, api_base, journey, {"external_ids": ["user_0", "user_1"]})

    assert response.json() == {"enrolled_count": 1, "not_enrolled": not_enrolled(not_found=1)}


def test_bulk_counts_recent_completions_and_exhausted_entries(client, api_base, workspace, people):
    from tests.factories import run_finish

    cooling = journey_create(
        workspace, entry={"allow_reentry": True, "reentry_cooldown_seconds": 3600}
    )
    capped = journey_create(workspace, entry={"allow_reentry": True, "max_entries_per_customer": 2})
    for journey in (cooling, capped):
        trigger(client, api_base, journey, {"external_ids": ["user_0", "user_1"]})
        for run in Enrollment.objects.filter(journey=journey):
            run_finish(run, state=Enrollment.State.COMPLETED, ago_seconds=60)
    trigger(client, api_base, capped, {"external_ids": ["user_0"]})  # user_0's second entry
    run_finish(Enrollment.objects.get(journey=capped, state="active"), state="completed")

    cooled = trigger(client, api_base, cooling, {"external_ids": ["user_0", "user_1", "user_2"]})
    maxed = trigger(client, api_base, capped, {"external_ids": ["user_0", "user_1"]})

    assert cooled.json() == {
        "enrolled_count": 1,
        "not_enrolled": not_enrolled(recently_completed=2),
    }
    assert maxed.json() == {
        "enrolled_count": 1,
        "not_enrolled": not_enrolled(max_entries_reached=1),
    }


@pytest.mark.parametrize("audience_size", [10, 500])
def test_bulk_entry_runs_the_same_queries_whatever_the_audience_size(
    client, api_base, workspace, audience_size
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customers_create(workspace, audience_size, prefix=f"size{audience_size}")
    segment = segment_create(workspace, list(Customer.objects.filter(workspace=workspace)))
    journey = journey_create(workspace)

    with CaptureQueriesContext(connection) as queries:
        response = trigger(client, api_base, journey, {"segment_ids": [segment.public_id]})

    assert response.json()["enrolled_count"] == audience_size
    # Auth, rate-limit bookkeeping, journey, segments, one classify-and-insert statement,
    # transaction control: a fixed handful, never one per customer.
    assert len(queries) <= 12, [q["sql"][:120] for q in queries]


@pytest.mark.parametrize(
    "body",
    [
        {"external_ids": []},
        {"segment_ids": []},
        {"externalIds": [], "segmentIds": ["{segment}"]},
        {"external_ids": [], "exclude_external_ids": ["user_0"]},
    ],
)
def test_an_empty_audience_list_enrolls_nobody_with_zero_counts(
    client, api_base, workspace, journey, people, body
):
    everyone = segment_create(workspace, people)
    body = {
        name: [everyone.public_id if value == "{segment}" else value for value in values]
        for name, values in body.items()
    }
    response = trigger(client, api_base, journey, body)

    assert response.status_code == 200
    assert response.json() == {"enrolled_count": 0, "not_enrolled": not_enrolled()}
    assert not Enrollment.objects.exists()


def test_an_unknown_segment_fails_even_beside_an_empty_list(client, api_base, journey, people):
    response = trigger(client, api_base, journey, {"external_ids": [], "segment_ids": ["seg_x"]})

    assert response.status_code == 400
    assert response.json()["error"].startswith("Error resolving segments")
