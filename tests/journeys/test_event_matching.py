"""Stored events enroll their customers into the live journeys they trigger: by event
name, trigger conditions on the event, entry conditions and entry rules, each run with
its event in its context; set-based, in a number of statements that does not grow with
the batch."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer, Event
from journeys.engine.context import run_template_context
from journeys.entry.events.matching import events_match
from journeys.models import Enrollment, Journey
from tests.factories import journey_create, run_finish

pytestmark = pytest.mark.django_db

MAIL = [
    {
        "key": "mail",
        "type": "send",
        "channel": "email",
        "subject": "Order {{ event.properties.order_id }}",
        "body": "{{ data.total }}",
        "next": None,
    }
]


def event_journey(workspace, event="Order Completed", conditions=None, **parts):
    return journey_create(
        workspace,
        trigger={"type": "event", "event": event, "conditions": conditions},
        steps=MAIL,
        **parts,
    )


def track(user, event="Order Completed", **properties):
    return {"type": "track", "userId": user, "event": event, "properties": properties}


def runs(journey):
    return list(Enrollment.objects.filter(journey=journey).order_by("pk"))


def test_a_tracked_event_enrolls_its_customer_with_the_event_as_context(send, workspace, ada):
    journey = event_journey(workspace)
    message = {**track("user_ada", order_id="A-1", total=42), "messageId": "m-1"}
    message["timestamp"] = "2024-05-01T12:00:00Z"

    send(message)
    result = events_match()

    assert (result.events, result.runs, result.more) == (1, 1, False)
    (run,) = runs(journey)
    assert (run.customer, run.state, run.current_step) == (ada, "active", "mail")
    event = {
        "name": "Order Completed",
        "properties": {"order_id": "A-1", "total": 42},
        "timestamp": "2024-05-01T12:00:00+00:00",
        "message_id": "m-1",
    }
    assert run.context["event"] == event
    assert run.context["payload"] == {"order_id": "A-1", "total": 42}
    context = run_template_context(run)
    assert context["event"] == event
    assert context["data"]["total"] == 42 and context["api"]["payload"]["order_id"] == "A-1"
    assert Event.objects.get().matched_at is not None


def test_other_event_names_and_api_journeys_enroll_nobody(send, workspace, ada):
    journey = event_journey(workspace, event="Order Completed")
    api_journey = journey_create(workspace)

    send(track("user_ada", event="Order Shipped"))
    result = events_match()

    assert result.runs == 0
    assert runs(journey) == runs(api_journey) == []
    # Stored as matched already: no live journey is triggered by its name.
    assert result.events == 0 and Event.objects.get().matched_at is not None


def test_events_wait_until_a_match_takes_them_and_are_matched_once(send, workspace, ada):
    journey = event_journey(workspace)

    send(track("user_ada"))
    assert Event.objects.get().matched_at is None
    assert runs(journey) == []

    first, second = events_match(), events_match()

    assert (first.events, first.runs) == (1, 1)
    assert (second.events, second.runs) == (0, 0)
    assert len(runs(journey)) == 1


def test_a_match_takes_at_most_its_limit_and_says_more_may_wait(send, workspace, ada, grace):
    journey = event_journey(workspace)
    send(track("user_ada"), track("user_grace"))

    first = events_match(limit=1)
    second = events_match(limit=1)

    assert (first.events, first.more, second.events) == (1, True, 1)
    assert [run.customer for run in runs(journey)] == [ada, grace]


def test_trigger_conditions_read_the_events_properties(send, workspace, ada, grace):
    journey = event_journey(
        workspace,
        conditions={
            "all": [
                {"field": "event.properties.total", "op": "gt", "value": 100},
                {"field": "data.currency", "op": "eq", "value": "EUR"},
            ]
        },
    )

    send(
        track("user_ada", total=150, currency="EUR"),
        track("user_grace", total=150, currency="USD"),
    )
    events_match()

    assert [run.customer for run in runs(journey)] == [ada]


def test_a_customers_first_matching_event_of_a_batch_enters(send, workspace, ada):
    journey = event_journey(
        workspace,
        conditions={"field": "event.properties.total", "op": "gt", "value": 10},
        entry={"allow_reentry": True},
    )

    send(track("user_ada", total=5), track("user_ada", total=20), track("user_ada", total=30))
    events_match()

    (run,) = runs(journey)
    assert run.context["event"]["properties"] == {"total": 20}


def test_entry_conditions_mix_the_customer_and_the_event(send, workspace, ada, grace):
    journey = event_journey(
        workspace,
        entry={
            "conditions": {
                "any": [
                    {"field": "customer.plan", "op": "eq", "value": "vip"},
                    {"field": "event.properties.total", "op": "gte", "value": 1000},
                ]
            }
        },
    )
    Customer.objects.create(workspace=workspace, external_id="user_big", attributes={})

    # Ada is a vip; Grace is not and spends little; user_big is not and spends a lot.
    send(track("user_ada", total=1), track("user_grace", total=1), track("user_big", total=5000))
    events_match()

    assert sorted(run.customer.external_id for run in runs(journey)) == ["user_ada", "user_big"]


def test_entry_rules_hold_once_ever_by_default(send, workspace, ada):
    journey = event_journey(workspace)

    send(track("user_ada", order_id="A-1"))
    events_match()
    run_finish(runs(journey)[0], state=Enrollment.State.COMPLETED)
    send(track("user_ada", order_id="A-2"))
    events_match()

    assert len(runs(journey)) == 1


def test_with_reentry_an_active_run_is_restarted_by_the_next_event(send, workspace, ada):
    journey = event_journey(workspace, entry={"allow_reentry": True})

    send(track("user_ada", order_id="A-1"))
    events_match()
    send(track("user_ada", order_id="A-2"))
    events_match()

    first, second = runs(journey)
    assert (first.state, first.exit_reason) == ("exited", "restarted")
    assert (second.state, second.context["event"]["properties"]) == ("active", {"order_id": "A-2"})


def test_a_cooldown_keeps_a_recent_finisher_out(send, workspace, ada):
    journey = event_journey(
        workspace, entry={"allow_reentry": True, "reentry_cooldown_seconds": 3600}
    )
    send(track("user_ada"))
    events_match()
    run_finish(runs(journey)[0], state=Enrollment.State.COMPLETED, ago_seconds=60)

    send(track("user_ada"))
    events_match()

    assert len(runs(journey)) == 1


def test_inactive_customers_and_paused_journeys_are_left_out(send, workspace, ada, grace):
    live = event_journey(workspace)
    paused = event_journey(workspace, status=Journey.Status.PAUSED)
    grace.status = Customer.Status.INACTIVE
    grace.save()

    send(track("user_ada"), track("user_grace"))
    events_match()

    assert [run.customer for run in runs(live)] == [ada]
    assert runs(paused) == []


def test_one_event_enters_every_journey_it_triggers(send, workspace, ada):
    first, second = event_journey(workspace, name="One"), event_journey(workspace, name="Two")

    send(track("user_ada"))
    result = events_match()

    assert result.runs == 2
    assert len(runs(first)) == len(runs(second)) == 1


def test_each_workspace_enters_its_own_journeys(send, workspace, other_workspace, ada):
    ours = event_journey(workspace)
    theirs = event_journey(other_workspace)
    stranger = Customer.objects.create(workspace=other_workspace, external_id="user_ada")
    Event.objects.create(workspace=other_workspace, customer=stranger, name="Order Completed")

    send(track("user_ada"))
    events_match()

    assert [run.customer for run in runs(ours)] == [ada]
    assert [run.customer for run in runs(theirs)] == [stranger]


def test_a_run_started_by_an_event_is_walked_after_the_commit(
    send, workspace, ada, django_capture_on_commit_callbacks, monkeypatch
):
    from journeys.engine import tasks

    advanced = []
    monkeypatch.setattr(tasks.runs_advance, "delay", lambda run_ids: advanced.append(run_ids))
    journey = event_journey(workspace)
    send(track("user_ada"))

    with django_capture_on_commit_callbacks(execute=True):
        events_match()

    assert advanced == [[runs(journey)[0].pk]]


def test_storing_kicks_a_match_after_the_commit(
    send, workspace, ada, django_capture_on_commit_callbacks, monkeypatch
):
    from journeys.entry import tasks

    kicked = []
    monkeypatch.setattr(tasks.events_match, "delay", lambda: kicked.append(True))
    event_journey(workspace)

    with django_capture_on_commit_callbacks(execute=True):
        send(track("user_ada", event="Something Else"))
    assert kicked == []

    with django_capture_on_commit_callbacks(execute=True):
        send(track("user_ada"))
    assert kicked == [True]


def test_events_stored_before_a_journey_went_live_do_not_enter_it(send, workspace, ada):
    send(track("user_ada"))  # no journey yet: stored as matched
    journey = event_journey(workspace)

    events_match()

    assert runs(journey) == []


# --- A batch of 10,000, set-based -----------------------------------------------------


def _batch(size, prefix):
    """Tracks of ``size`` new customers: orders (half of them over 100), sign-ups (half
    of them under 50) and events no journey is triggered by."""
    names = ["Order Completed", "Signed Up", "Page Opened"]
    return [
        {
            "type": "track",
            "userId": f"{prefix}_{i}",
            "event": names[i % 3],
            "properties": {"total": 150 if i % 2 else 10},
            "messageId": f"{prefix}-{i}",
        }
        for i in range(size)
    ]


def _statements(send, size, prefix):
    with CaptureQueriesContext(connection) as stored:
        send(*_batch(size, prefix))
    with CaptureQueriesContext(connection) as matched:
        result = events_match()
    return len(stored), len(matched), result


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's bulk inserts are cut into statements of at most 999 parameters",
)
def test_a_batch_of_10000_is_stored_and_matched_in_statements_that_do_not_grow(send, workspace):
    orders = event_journey(
        workspace, conditions={"field": "event.properties.total", "op": "gte", "value": 100}
    )
    signups = event_journey(
        workspace,
        event="Signed Up",
        entry={"conditions": {"field": "event.properties.total", "op": "lt", "value": 50}},
    )
    send(track("warm-up", event="Page Opened"))  # the key's last use, cached versions

    small = _statements(send, 30, "small")
    large = _statements(send, 10_000, "large")

    assert small[:2] == large[:2]
    assert (large[2].events, large[2].runs) == (6_667, 1_667 + 1_666)
    order_runs = Enrollment.objects.filter(journey=orders)
    assert order_runs.count() == 5 + 1_667
    assert not order_runs.filter(context__event__properties__total=10).exists()
    assert Enrollment.objects.filter(journey=signups).count() == 5 + 1_666
    assert Customer.objects.filter(workspace=workspace).count() == 1 + 30 + 10_000
    assert not Event.objects.filter(matched_at__isnull=True).exists()


def test_a_batch_of_known_customers_reads_them_without_locking(send, workspace):
    send(*_batch(50, "known"))

    with CaptureQueriesContext(connection) as stored:
        send(*_batch(50, "known"))

    (lookup,) = [q["sql"] for q in stored if 'FROM "customers_customer"' in q["sql"]]
    assert "FOR UPDATE" not in lookup


def test_a_match_later_than_its_kick_still_finds_the_events(send, workspace, ada):
    """The events wait in the database: a lost kick delays a match, it loses nothing."""
    journey = event_journey(workspace)
    send(track("user_ada"))
    Event.objects.update(received_at=timezone.now() - timedelta(hours=1))

    assert events_match().runs == 1
    assert len(runs(journey)) == 1
