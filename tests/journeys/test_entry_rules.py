"""Entry rules (Tappd seed "Re-Enrollment Behavior", DESIGN.md section 6)."""

import pytest

from journeys.models import Enrollment
from tests.factories import journey_create, run_finish

pytestmark = pytest.mark.django_db


def trigger(client, api_base, journey, external_id="user_ada"):
    return client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger",
        {"external_id": external_id},
        format="json",
    )


def test_without_reentry_an_active_run_answers_already_enrolled(client, api_base, workspace, ada):
    journey = journey_create(workspace)
    first = trigger(client, api_base, journey)

    second = trigger(client, api_base, journey)

    assert first.status_code == 202
    assert (second.status_code, second.json()) == (200, {"status": "already_enrolled"})
    assert Enrollment.objects.count() == 1


def test_without_reentry_a_completed_run_still_answers_already_enrolled(
    client, api_base, workspace, ada
):
    journey = journey_create(workspace)
    trigger(client, api_base, journey)
    run_finish(Enrollment.objects.get(), state=Enrollment.State.COMPLETED, ago_seconds=86400 * 30)

    response = trigger(client, api_base, journey)

    assert response.json() == {"status": "already_enrolled"}
    assert Enrollment.objects.count() == 1


def test_without_reentry_a_failed_run_does_not_block_a_new_one(client, api_base, workspace, ada):
    journey = journey_create(workspace)
    trigger(client, api_base, journey)
    run_finish(Enrollment.objects.get(), state=Enrollment.State.FAILED)

    response = trigger(client, api_base, journey)

    assert response.status_code == 202
    assert Enrollment.objects.count() == 2


def test_reentry_restarts_an_active_run(client, api_base, workspace, ada):
    journey = journey_create(workspace, entry={"allow_reentry": True})
    first = trigger(client, api_base, journey).json()["run_id"]

    second = trigger(client, api_base, journey)

    assert second.status_code == 202
    assert second.json()["restarted"] is True
    assert second.json()["run_id"] != first
    old = Enrollment.objects.get(public_id=first)
    assert (old.state, old.exit_reason) == (Enrollment.State.EXITED, "restarted")
    assert old.finished_at is not None
    assert Enrollment.objects.get(public_id=second.json()["run_id"]).state == "active"


def test_reentry_without_restart_keeps_the_active_run(client, api_base, workspace, ada):
    journey = journey_create(workspace, entry={"allow_reentry": True, "restart_active": False})
    first = trigger(client, api_base, journey).json()["run_id"]

    second = trigger(client, api_base, journey)

    assert second.json() == {"status": "already_enrolled"}
    assert Enrollment.objects.get().public_id == first


def test_reentry_after_completion_enrolls_again(client, api_base, workspace, ada):
    journey = journey_create(workspace, entry={"allow_reentry": True})
    trigger(client, api_base, journey)
    run_finish(Enrollment.objects.get(), state=Enrollment.State.COMPLETED)

    response = trigger(client, api_base, journey)

    assert response.status_code == 202
    assert "restarted" not in response.json()


def test_completion_inside_the_cooldown_answers_recently_completed(
    client, api_base, workspace, ada
):
    journey = journey_create(
        workspace, entry={"allow_reentry": True, "reentry_cooldown_seconds": 12 * 3600}
    )
    trigger(client, api_base, journey)
    run_finish(Enrollment.objects.get(), state=Enrollment.State.COMPLETED, ago_seconds=3600)

    response = trigger(client, api_base, journey)

    assert (response.status_code, response.json()) == (200, {"status": "recently_completed"})
    assert Enrollment.objects.count() == 1


def test_completion_before_the_cooldown_allows_reentry(client, api_base, workspace, ada):
    journey = journey_create(
        workspace, entry={"allow_reentry": True, "reentry_cooldown_seconds": 12 * 3600}
    )
    trigger(client, api_base, journey)
    run_finish(Enrollment.objects.get(), state=Enrollment.State.COMPLETED, ago_seconds=13 * 3600)

    assert trigger(client, api_base, journey).status_code == 202


def test_max_entries_counts_completed_entries_only(client, api_base, workspace, ada):
    """Seed 000: "fewer *completed* entries than the maximum" re-enters; restarts,
    exits and failures are not entries the customer has had."""
    journey = journey_create(
        workspace, entry={"allow_reentry": True, "max_entries_per_customer": 2}
    )

    restarts = [trigger(client, api_base, journey).json()["status"] for _ in range(3)]

    assert restarts == ["enrolled", "enrolled", "enrolled"]
    assert Enrollment.objects.filter(state="exited").count() == 2
    active = Enrollment.objects.get(state="active")
    run_finish(active, state=Enrollment.State.FAILED, ago_seconds=60)
    assert trigger(client, api_base, journey).json()["status"] == "enrolled"


def test_max_entries_is_reached_by_completed_entries(client, api_base, workspace, ada):
    journey = journey_create(
        workspace, entry={"allow_reentry": True, "max_entries_per_customer": 2}
    )
    answers = []
    for _ in range(2):
        answers.append(trigger(client, api_base, journey).json()["status"])
        run_finish(Enrollment.objects.get(state="active"), state=Enrollment.State.COMPLETED)

    third = trigger(client, api_base, journey)

    assert answers == ["enrolled", "enrolled"]
    assert (third.status_code, third.json()) == (200, {"status": "max_entries_reached"})
    assert Enrollment.objects.filter(state="completed").count() == 2
    assert not Enrollment.objects.filter(state="active").exists()


def test_max_entries_reached_leaves_an_active_run_in_place(client, api_base, workspace, ada):
    journey = journey_create(
        workspace, entry={"allow_reentry": True, "max_entries_per_customer": 2}
    )
    for _ in range(2):
        trigger(client, api_base, journey)
        run_finish(Enrollment.objects.get(state="active"), state=Enrollment.State.COMPLETED)
    Enrollment.objects.create(
        workspace=workspace,
        journey=journey,
        version=journey.live_version,
        customer=ada,
        entered_at=journey.live_version.published_at,
    )

    assert trigger(client, api_base, journey).json() == {"status": "max_entries_reached"}
    assert Enrollment.objects.filter(state="active").count() == 1


def test_entry_conditions_on_customer_attributes(client, api_base, workspace, ada, grace):
    journey = journey_create(
        workspace, entry={"conditions": {"field": "customer.plan", "op": "eq", "value": "vip"}}
    )

    vip = trigger(client, api_base, journey, "user_ada")
    free = trigger(client, api_base, journey, "user_grace")

    assert vip.status_code == 202
    assert (free.status_code, free.json()) == (200, {"status": "conditions_not_met"})
    assert list(Enrollment.objects.values_list("customer__external_id", flat=True)) == ["user_ada"]


def test_entry_conditions_may_mix_customer_and_payload_fields(client, api_base, workspace, ada):
    journey = journey_create(
        workspace,
        entry={
            "conditions": {
                "all": [
                    {"field": "customer.age", "op": "gte", "value": 18},
                    {"field": "api.payload.channel", "op": "eq", "value": "web"},
                ]
            }
        },
    )
    url = f"{api_base}/journeys/{journey.public_id}/trigger"

    app = client.post(
        url, {"external_id": "user_ada", "payload": {"channel": "app"}}, format="json"
    )
    web = client.post(
        url, {"external_id": "user_ada", "payload": {"channel": "web"}}, format="json"
    )

    assert app.json() == {"status": "conditions_not_met"}
    assert web.status_code == 202


def test_max_entries_of_one_with_reentry_answers_already_enrolled(client, api_base, workspace, ada):
    journey = journey_create(
        workspace, entry={"allow_reentry": True, "max_entries_per_customer": 1}
    )
    trigger(client, api_base, journey)
    run_finish(Enrollment.objects.get(), state=Enrollment.State.COMPLETED)

    response = trigger(client, api_base, journey)

    assert (response.status_code, response.json()) == (200, {"status": "already_enrolled"})


def test_entry_conditions_can_name_payload_fields_at_the_top_level(
    client, api_base, workspace, ada
):
    journey = journey_create(
        workspace,
        trigger={"schema": [{"name": "total", "type": "number"}]},
        entry={"conditions": {"field": "total", "op": "gt", "value": 100}},
    )
    url = f"{api_base}/journeys/{journey.public_id}/trigger"

    small = client.post(url, {"external_id": "user_ada", "payload": {"total": 5}}, format="json")
    large = client.post(url, {"external_id": "user_ada", "payload": {"total": 500}}, format="json")

    assert small.json() == {"status": "conditions_not_met"}
    assert large.status_code == 202
