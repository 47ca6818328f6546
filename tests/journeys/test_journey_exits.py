"""Exit criteria: an exit event of the customer (its condition read with the run's
context) or joining the exit segment ends the customer's active run of the journey at
once, wherever it stands: mid-way through a 30-day delay, waiting for an event, or
walked by a worker right now. A run entered by an event is not exited by that event.
Set-based: a match's statements do not grow with its events."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from journeys.authoring.services import journey_import, journey_pause, journey_publish
from journeys.engine.claims import runs_claim, runs_claim_due
from journeys.engine.controls import EXIT_CRITERIA_REASON
from journeys.engine.runner import runs_walk
from journeys.entry import tasks
from journeys.entry.core import journey_enroll
from journeys.entry.events.matching import events_match
from journeys.entry.segment_entries import segment_presence_check, segment_presence_reconcile
from journeys.models import Enrollment, StepRun
from segments.models import Segment
from tests.factories import customers_create, journey_create, journey_definition

pytestmark = pytest.mark.django_db

MONTH = 30 * 86400
#: Hello, a 30-day delay, then a follow-up (update_customer: what ran shows on the row).
DELAYED = [
    {"key": "hello", "type": "update_customer", "set": {"hello": "yes"}, "next": "wait"},
    {"key": "wait", "type": "delay", "seconds": MONTH, "next": "again"},
    {"key": "again", "type": "update_customer", "set": {"again": "yes"}, "next": None},
]  # fmt: skip
SAME_CART = {"field": "event.properties.cart_id", "op": "eq", "value_from": "data.cart_id"}
ORDERED = {"events": [{"event": "Order Completed", "condition": SAME_CART}], "segment_id": None}


def track(user, event, **properties):
    return {"type": "track", "userId": user, "event": event, "properties": properties}


def cart_journey(workspace, steps=DELAYED, exit=ORDERED, **parts):
    return journey_create(
        workspace, trigger={"type": "event", "event": "Cart Abandoned"}, steps=steps, exit=exit,
        **parts,
    )  # fmt: skip


def walk(run):
    runs_walk(runs_claim(run_ids=[run.pk]))
    run.refresh_from_db()
    return run


@pytest.fixture
def delayed_run(workspace, send):
    """Ada abandoned cart c1; her run said hello and sleeps 30 days."""
    journey = cart_journey(workspace)
    send(track("ada", "Cart Abandoned", cart_id="c1"))
    events_match()
    run = walk(Enrollment.objects.get(journey=journey))
    assert (run.state, run.current_step) == ("active", "wait")
    assert run.wake_at > timezone.now() + timedelta(days=29)
    return run


def test_an_exit_event_ends_a_run_in_the_middle_of_a_30_day_delay(delayed_run, send):
    send(track("ada", "Order Completed", cart_id="c1"))
    events_match()

    delayed_run.refresh_from_db()
    assert (delayed_run.state, delayed_run.exit_reason) == ("exited", EXIT_CRITERIA_REASON)
    assert (delayed_run.wake_at, delayed_run.lease_token) == (None, None)
    assert delayed_run.finished_at is not None
    visit = StepRun.objects.get(enrollment=delayed_run, step_key="wait")
    assert (visit.outcome, visit.finished_at) == ("exited", delayed_run.finished_at)
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        runs_walk(runs_claim_due(limit=100))
    assert not StepRun.objects.filter(step_key="again").exists()
    assert "again" not in Customer.objects.get(external_id="ada").attributes


def test_an_exit_event_whose_condition_fails_leaves_the_run(delayed_run, send):
    send(track("ada", "Order Completed", cart_id="c2"), track("ada", "Cart Viewed", cart_id="c1"))
    events_match()

    delayed_run.refresh_from_db()
    assert (delayed_run.state, delayed_run.current_step) == ("active", "wait")


def test_another_customers_exit_event_leaves_the_run(delayed_run, send, workspace):
    Customer.objects.create(workspace=workspace, external_id="bob")
    send(track("bob", "Order Completed", cart_id="c1"))
    events_match()

    delayed_run.refresh_from_db()
    assert delayed_run.state == "active"


def test_an_exit_event_ends_a_run_waiting_for_another_event(workspace, send):
    steps = [
        {"key": "wait", "type": "wait_for_event", "event": "Coupon Used", "condition": None,
         "timeout_seconds": MONTH, "matched": "thanks", "timeout": None},
        {"key": "thanks", "type": "update_customer", "set": {"thanks": "yes"}, "next": None},
    ]  # fmt: skip
    journey = cart_journey(workspace, steps=steps)
    send(track("ada", "Cart Abandoned", cart_id="c1"))
    events_match()
    run = walk(Enrollment.objects.get(journey=journey))
    assert run.current_step == "wait"

    send(track("ada", "Order Completed", cart_id="c1"), track("ada", "Coupon Used"))
    events_match()

    run.refresh_from_db()
    assert (run.state, run.exit_reason, run.wake_at) == ("exited", EXIT_CRITERIA_REASON, None)
    assert StepRun.objects.get(enrollment=run, step_key="wait").outcome == "exited"
    runs_walk(runs_claim_due(limit=100))
    assert not StepRun.objects.filter(step_key="thanks").exists()


def test_a_run_leased_by_a_worker_exits_and_the_worker_writes_nothing_back(workspace, send):
    journey = cart_journey(workspace)
    send(track("ada", "Cart Abandoned", cart_id="c1"))
    events_match()
    run = Enrollment.objects.get(journey=journey)
    claim = runs_claim(run_ids=[run.pk])  # a worker holds it, about to walk
    assert Enrollment.objects.get(pk=run.pk).lease_token is not None

    send(track("ada", "Order Completed", cart_id="c1"))
    events_match()
    runs_walk(claim)

    run.refresh_from_db()
    assert (run.state, run.exit_reason) == ("exited", EXIT_CRITERIA_REASON)
    assert (run.lease_token, run.wake_at, run.current_step) == (None, None, "hello")


def test_a_paused_journeys_runs_exit_too(delayed_run, send):
    journey_pause(journey=delayed_run.journey)

    send(track("ada", "Order Completed", cart_id="c1"))
    events_match()

    delayed_run.refresh_from_db()
    assert delayed_run.state == "exited"


def test_only_runs_that_existed_before_the_exit_event_exit(workspace, send):
    journey = cart_journey(workspace)
    Customer.objects.create(workspace=workspace, external_id="bob")

    # Ada orders after abandoning (same batch): out. Bob's order came before his entry.
    send(
        track("ada", "Cart Abandoned", cart_id="c1"), track("ada", "Order Completed", cart_id="c1"),
        track("bob", "Order Completed", cart_id="b1"), track("bob", "Cart Abandoned", cart_id="b1"),
    )  # fmt: skip
    events_match()

    states = dict(
        Enrollment.objects.filter(journey=journey).values_list("customer__external_id", "state")
    )
    assert states == {"ada": "exited", "bob": "active"}


def test_an_event_that_enters_a_run_does_not_exit_it_and_the_next_one_does(workspace, send):
    exit_on_visit = {"events": [{"event": "Visited", "condition": None}], "segment_id": None}
    journey = journey_create(
        workspace, trigger={"type": "event", "event": "Visited"}, steps=DELAYED, exit=exit_on_visit
    )

    send(track("ada", "Visited"))
    events_match()
    (run,) = Enrollment.objects.filter(journey=journey)
    assert run.state == "active"

    send(track("ada", "Visited"))
    events_match()
    run.refresh_from_db()
    assert (run.state, run.exit_reason) == ("exited", EXIT_CRITERIA_REASON)
    assert Enrollment.objects.filter(journey=journey).count() == 1  # entered once, ever


def test_a_run_that_entered_after_the_exit_event_arrived_stays(workspace, send, ada):
    journey = journey_create(workspace, steps=DELAYED, exit=ORDERED)
    send(track("user_ada", "Order Completed", cart_id=None))  # pending, not matched yet
    journey_enroll(
        journey=journey, version=journey.live_version,
        customers=Customer.objects.filter(pk=ada.pk), payload={"cart_id": None},
    )  # fmt: skip

    events_match()

    assert Enrollment.objects.get(journey=journey).state == "active"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="bulk inserts are cut on SQLite")
def test_a_match_that_exits_and_converts_runs_costs_statements_that_do_not_grow(workspace, send):
    exits = journey_create(
        workspace, name="Exits", steps=DELAYED,
        exit={"events": [{"event": "Order Completed",
                          "condition": {"field": "customer.min_total", "op": "lt",
                                        "value_from": "event.properties.total"}}],
              "segment_id": None},
    )  # fmt: skip
    goals = journey_create(
        workspace, name="Goals", steps=DELAYED,
        goal={"event": "Order Completed", "condition": None, "within_seconds": 86400},
    )  # fmt: skip

    def statements(size, prefix):
        customers_create(workspace, size, prefix=prefix)
        people = Customer.objects.filter(external_id__startswith=f"{prefix}_")
        for journey in (exits, goals):
            journey_enroll(
                journey=journey, version=journey.live_version, customers=people, payload={}
            )
        people.update(attributes={"min_total": 10})
        send(*[track(f"{prefix}_{i}", "Order Completed", total=20) for i in range(size)])
        with CaptureQueriesContext(connection) as matched:
            result = events_match()
        assert result.events == size
        return len(matched)

    statements(3, "warm")
    small, large = statements(20, "small"), statements(400, "large")

    assert small == large
    assert Enrollment.objects.filter(journey=exits, state="exited").count() == 423
    assert Enrollment.objects.filter(journey=goals, converted_at__isnull=False).count() == 423


# --- segments ---------------------------------------------------------------------------


def published(workspace, segment, steps=DELAYED):
    document = journey_definition(steps=steps, exit={"events": [], "segment_id": segment.public_id})
    journey = journey_import(workspace=workspace, document=document)
    journey_publish(journey=journey)
    return journey


def enter(journey, *external_ids):
    journey_enroll(
        journey=journey, version=journey.live_version,
        customers=Customer.objects.filter(external_id__in=external_ids), payload={},
    )  # fmt: skip


def states(journey):
    return dict(
        Enrollment.objects.filter(journey=journey).values_list("customer__external_id", "state")
    )


def test_joining_the_static_exit_segment_exits_the_run(client, api_base, workspace):
    customers_create(workspace, 3, prefix="u")
    segment = Segment.objects.create(workspace=workspace, name="Bought", kind="static")
    journey = published(workspace, segment)
    enter(journey, "u_0", "u_1", "u_2")
    walk(Enrollment.objects.get(customer__external_id="u_0"))  # asleep in its delay

    response = client.post(
        f"{api_base}/segments/{segment.public_id}/members",
        {"external_ids": ["u_0", "u_1"]}, format="json",
    )  # fmt: skip

    assert response.status_code == 200
    assert states(journey) == {"u_0": "exited", "u_1": "exited", "u_2": "active"}
    assert set(Enrollment.objects.filter(state="exited").values_list("exit_reason", flat=True)) == {
        EXIT_CRITERIA_REASON
    }
    assert StepRun.objects.get(step_key="wait").outcome == "exited"


@pytest.fixture
def pros(workspace):
    return Segment.objects.create(
        workspace=workspace, name="Pro", kind=Segment.Kind.DYNAMIC,
        conditions={"field": "customer.plan", "op": "eq", "value": "pro"},
    )  # fmt: skip


def plan(client, api_base, external_id, value):
    customer = Customer.objects.get(external_id=external_id)
    response = client.patch(
        f"{api_base}/customers/{customer.public_id}", {"attributes": {"plan": value}}, format="json"
    )
    assert response.status_code == 200, response.json()


def test_starting_to_match_the_dynamic_exit_segment_exits_the_run(
    client, api_base, workspace, pros, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(
        tasks.segment_presence_check, "delay",
        lambda workspace_id, ids: segment_presence_check(workspace_id=workspace_id,
                                                         customer_ids=ids),
    )  # fmt: skip
    Customer.objects.create(workspace=workspace, external_id="ada", attributes={"plan": "pro"})
    Customer.objects.create(workspace=workspace, external_id="bob", attributes={"plan": "free"})
    journey = published(workspace, pros)  # Ada is a member already: not a joiner
    enter(journey, "ada", "bob")

    with django_capture_on_commit_callbacks(execute=True):
        plan(client, api_base, "ada", "pro")
    with django_capture_on_commit_callbacks(execute=True):
        plan(client, api_base, "bob", "pro")

    assert states(journey) == {"ada": "active", "bob": "exited"}
    assert Enrollment.objects.get(customer__external_id="bob").exit_reason == EXIT_CRITERIA_REASON


def test_the_sweep_exits_those_a_lost_check_missed(client, api_base, workspace, pros, monkeypatch):
    Customer.objects.create(workspace=workspace, external_id="bob", attributes={"plan": "free"})
    journey = published(workspace, pros)
    enter(journey, "bob")
    monkeypatch.setattr(tasks.segment_presence_check, "delay", lambda *a: None)  # lost
    plan(client, api_base, "bob", "pro")
    assert states(journey) == {"bob": "active"}

    segment_presence_reconcile(enter=True)

    assert states(journey) == {"bob": "exited"}


def test_exit_and_goal_events_wait_for_matching_as_a_wait_for_event_does(workspace, send, ada):
    journey = journey_create(
        workspace, steps=DELAYED, exit=ORDERED,
        goal={"event": "Signed Up", "condition": None, "within_seconds": 60},
    )  # fmt: skip
    assert journey.live_version.awaited_events == ["Order Completed", "Signed Up"]

    stored = send(
        track("user_ada", "Order Completed"), track("user_ada", "Signed Up"),
        track("user_ada", "Page Viewed"),
    )  # fmt: skip

    assert stored["stored"] == 3
    assert events_match().events == 2  # the page view was stored as matched already


@pytest.mark.parametrize("exit_segment_first", [True, False])
def test_joining_the_trigger_and_the_exit_segment_in_one_change_keeps_the_new_run(
    client, api_base, workspace, monkeypatch, django_capture_on_commit_callbacks,
    exit_segment_first,
):  # fmt: skip
    """Exits are applied before entries, whichever segment the check reads first: the
    change that enters a run does not exit it."""
    monkeypatch.setattr(
        tasks.segment_presence_check, "delay",
        lambda workspace_id, ids: segment_presence_check(workspace_id=workspace_id,
                                                         customer_ids=ids),
    )  # fmt: skip

    def dynamic(name, plan_value):
        return Segment.objects.create(
            workspace=workspace, name=name, kind=Segment.Kind.DYNAMIC,
            conditions={"field": "customer.plan", "op": "starts_with", "value": plan_value},
        )  # fmt: skip

    # Ids decide the order the check reads the segments in: try both.
    if exit_segment_first:
        leaving, joining = dynamic("Leaving", "pr"), dynamic("Joining", "pro")
    else:
        joining, leaving = dynamic("Joining", "pro"), dynamic("Leaving", "pr")
    Customer.objects.create(workspace=workspace, external_id="ada", attributes={"plan": "free"})
    document = journey_definition(
        trigger={"type": "segment", "segment_id": joining.public_id},
        steps=DELAYED,
        exit={"events": [], "segment_id": leaving.public_id},
    )
    journey = journey_import(workspace=workspace, document=document)
    journey_publish(journey=journey)

    with django_capture_on_commit_callbacks(execute=True):
        plan(client, api_base, "ada", "pro")

    assert states(journey) == {"ada": "active"}
