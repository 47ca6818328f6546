"""``?dry_run=true``: the trigger answers what it would do and writes nothing."""

import pytest

from delivery.models import Message
from journeys.models import Enrollment, IdempotencyRecord
from tests.factories import customers_create, journey_create, run_finish, segment_create

pytestmark = pytest.mark.django_db


def trigger(client, api_base, journey, body, *, query="?dry_run=true", **headers):
    url = f"{api_base}/journeys/{journey.public_id}/trigger{query}"
    return client.post(url, body, format="json", headers=headers)


def nothing_written():
    return (
        Enrollment.objects.count(),
        IdempotencyRecord.objects.count(),
        Message.objects.count(),
    ) == (0, 0, 0)


def test_a_single_dry_run_answers_enrolled_without_a_run(client, api_base, workspace, ada):
    journey = journey_create(workspace)

    response = trigger(
        client, api_base, journey, {"external_id": "user_ada"}, **{"Idempotency-Key": "k1"}
    )

    assert (response.status_code, response.json()) == (
        200,
        {"status": "enrolled", "dry_run": True},
    )
    assert nothing_written()
    real = trigger(client, api_base, journey, {"external_id": "user_ada"}, query="")
    assert real.status_code == 202  # the dry run left the customer free to enter


def test_a_single_dry_run_answers_each_refusal(client, api_base, workspace, ada):
    journey = journey_create(workspace)
    trigger(client, api_base, journey, {"external_id": "user_ada"}, query="")

    response = trigger(client, api_base, journey, {"external_id": "user_ada"})

    assert response.json() == {"status": "already_enrolled", "dry_run": True}
    assert Enrollment.objects.count() == 1


def test_a_dry_run_of_a_restart_leaves_the_active_run_alone(client, api_base, workspace, ada):
    journey = journey_create(workspace, entry={"allow_reentry": True})
    trigger(client, api_base, journey, {"external_id": "user_ada"}, query="")

    response = trigger(client, api_base, journey, {"external_id": "user_ada"})

    assert response.json() == {"status": "enrolled", "restarted": True, "dry_run": True}
    assert list(Enrollment.objects.values_list("state", flat=True)) == ["active"]


def test_a_bulk_dry_run_counts_without_enrolling(client, api_base, workspace):
    people = customers_create(workspace, 4)
    segment = segment_create(workspace, members=people[:3])
    journey = journey_create(
        workspace, entry={"allow_reentry": True, "max_entries_per_customer": 1}
    )
    trigger(client, api_base, journey, {"external_ids": ["user_0"]}, query="")
    run_finish(Enrollment.objects.get(), state=Enrollment.State.COMPLETED)

    response = trigger(
        client,
        api_base,
        journey,
        {"segment_ids": [segment.public_id], "exclude_external_ids": ["user_2"]},
    )

    assert response.status_code == 200
    assert response.json() == {
        "enrolled_count": 1,
        "not_enrolled": {
            "not_found": 0,
            "already_enrolled": 1,
            "recently_completed": 0,
            "max_entries_reached": 0,
            "conditions_not_met": 0,
        },
        "dry_run": True,
    }
    assert Enrollment.objects.count() == 1


def test_a_dry_run_refuses_what_a_trigger_refuses(client, api_base, workspace, ada):
    journey = journey_create(
        workspace, trigger={"schema": [{"name": "plan", "type": "string", "required": True}]}
    )

    missing = trigger(client, api_base, journey, {"external_id": "user_ada"})
    unknown = trigger(client, api_base, journey, {"external_id": "ghost", "payload": {"plan": "x"}})

    assert (missing.status_code, missing.json()["error"]) == (
        400,
        "payload.plan is required (string)",
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Customer not found")
    assert nothing_written()


@pytest.mark.parametrize("value", ["false", "0"])
def test_dry_run_false_is_a_real_trigger(client, api_base, workspace, ada, value):
    journey = journey_create(workspace)

    response = trigger(
        client, api_base, journey, {"external_id": "user_ada"}, query=f"?dry_run={value}"
    )

    assert response.status_code == 202
    assert "dry_run" not in response.json()


def test_dry_run_must_be_a_boolean(client, api_base, workspace, ada):
    journey = journey_create(workspace)

    response = trigger(
        client, api_base, journey, {"external_id": "user_ada"}, query="?dry_run=maybe"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "dry_run must be true or false (got 'maybe')"
    assert nothing_written()


def test_an_empty_dry_run_is_no_boolean_either(client, api_base, workspace, ada):
    journey = journey_create(workspace)

    response = trigger(client, api_base, journey, {"external_id": "user_ada"}, query="?dry_run=")

    assert response.status_code == 400
    assert response.json()["error"] == "dry_run must be true or false (got '')"
    assert nothing_written()
