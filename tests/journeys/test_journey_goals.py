"""Goals and the journey's counts: a goal event (name and condition, read with the
run's context) that happened within the window after a run's entry converts it, in any
state; a conversion is never overwritten; GET journeys/{id}/stats counts runs by state
and converted."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from journeys.entry.core import journey_enroll
from journeys.entry.events.matching import events_match
from journeys.models import Enrollment
from tests.factories import journey_create, run_finish

pytestmark = pytest.mark.django_db

DAY = 86400
WAIT = [{"key": "wait", "type": "delay", "seconds": 30 * DAY, "next": None}]
GOAL = {
    "event": "Order Completed",
    "condition": {"field": "event.properties.plan", "op": "eq", "value_from": "data.plan"},
    "within_seconds": 7 * DAY,
}


def track(user, at=None, event="Order Completed", **properties):
    message = {"type": "track", "userId": user, "event": event, "properties": properties}
    if at is not None:
        message["timestamp"] = at.isoformat()
    return message


@pytest.fixture
def journey(workspace):
    return journey_create(workspace, steps=WAIT, goal=GOAL)


def enter(journey, *customers, days_ago=0, plan="pro"):
    journey_enroll(
        journey=journey, version=journey.live_version,
        customers=Customer.objects.filter(pk__in=[c.pk for c in customers]),
        payload={"plan": plan},
    )  # fmt: skip
    runs = Enrollment.objects.filter(journey=journey, customer__in=customers, state="active")
    runs.update(entered_at=timezone.now() - timedelta(days=days_ago))
    return list(runs)


def test_a_goal_event_within_the_window_converts_the_run(journey, send, ada):
    (run,) = enter(journey, ada, days_ago=2)
    at = timezone.now() - timedelta(hours=1)

    send(track("user_ada", at, plan="pro"))
    events_match()

    run.refresh_from_db()
    assert (run.converted_at, run.state) == (at, "active")


def test_a_goal_event_outside_the_window_or_before_entry_does_not_convert(
    journey, send, ada, grace
):
    (late,) = enter(journey, ada, days_ago=10)  # the window closed 3 days ago
    (early,) = enter(journey, grace, days_ago=1)

    send(
        track("user_ada", timezone.now(), plan="pro"),
        track("user_grace", timezone.now() - timedelta(days=2), plan="pro"),  # before entry
    )
    events_match()

    late.refresh_from_db()
    early.refresh_from_db()
    assert (late.converted_at, early.converted_at) == (None, None)


def test_a_goal_event_whose_condition_fails_does_not_convert(journey, send, ada):
    (run,) = enter(journey, ada, days_ago=1)

    send(track("user_ada", plan="free"), track("user_ada", event="Page Viewed", plan="pro"))
    events_match()

    run.refresh_from_db()
    assert run.converted_at is None


def test_a_completed_run_converts_and_a_conversion_is_not_overwritten(journey, send, ada):
    (run,) = enter(journey, ada, days_ago=3)
    run_finish(run, state="completed", ago_seconds=DAY)
    first = timezone.now() - timedelta(hours=2)

    send(track("user_ada", first, plan="pro"))
    events_match()
    send(track("user_ada", timezone.now(), plan="pro"))
    events_match()

    run.refresh_from_db()
    assert (run.state, run.converted_at) == ("completed", first)


def test_without_a_window_any_later_goal_event_converts(workspace, send, ada):
    journey = journey_create(
        workspace, steps=WAIT, goal={"event": "Order Completed", "condition": None}
    )
    (run,) = enter(journey, ada, days_ago=300)

    send(track("user_ada"))
    events_match()

    run.refresh_from_db()
    assert run.converted_at is not None


def test_a_goal_event_in_the_same_batch_after_the_entering_event_converts(workspace, send, ada):
    journey = journey_create(
        workspace, trigger={"type": "event", "event": "Cart Abandoned"}, steps=WAIT,
        goal={"event": "Order Completed", "condition": None, "within_seconds": DAY},
    )  # fmt: skip

    send(track("user_ada", event="Cart Abandoned"), track("user_ada"))
    events_match()

    assert Enrollment.objects.get(journey=journey).converted_at is not None


def test_the_stats_count_runs_by_state_and_converted(client, api_base, journey, workspace):
    people = [Customer.objects.create(workspace=workspace, external_id=f"p{i}") for i in range(5)]
    runs = enter(journey, *people, days_ago=1)
    run_finish(runs[0], state="completed")
    run_finish(runs[1], state="exited")
    run_finish(runs[2], state="failed")
    Enrollment.objects.filter(pk__in=[runs[0].pk, runs[3].pk]).update(converted_at=timezone.now())

    response = client.get(f"{api_base}/journeys/{journey.public_id}/stats")

    assert response.status_code == 200
    assert response.json() == {
        "entered": 5, "active": 2, "completed": 1, "exited": 1, "failed": 1,
        "converted": 2, "conversion_rate": 0.4,
    }  # fmt: skip


def test_the_stats_of_a_journey_nobody_entered_and_of_an_unknown_journey(
    client, api_base, journey, other_workspace
):
    empty = client.get(f"{api_base}/journeys/{journey.public_id}/stats").json()
    theirs = journey_create(other_workspace)

    assert (empty["entered"], empty["conversion_rate"]) == (0, None)
    response = client.get(f"{api_base}/journeys/{theirs.public_id}/stats")
    assert (response.status_code, response.json()["error"]) == (404, "journey not found")


def test_a_run_shows_when_it_converted(client, api_base, journey, ada):
    (run,) = enter(journey, ada)
    at = timezone.now()
    Enrollment.objects.filter(pk=run.pk).update(converted_at=at)

    body = client.get(f"{api_base}/runs/{run.public_id}").json()

    assert body["converted_at"] == at.isoformat().replace("+00:00", "Z")
