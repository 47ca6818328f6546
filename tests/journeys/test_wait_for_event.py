"""wait_for_event (issue 12, section 1): a waiting run sleeps until its deadline; an
arriving event that satisfies its condition (which may compare the event with the
trigger's data, ``value_from``) wakes it at once; another event does not; the timeout
path runs at the deadline. The event stream, claims and walks are the product's own;
time moves with time_machine."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from customers.models import Event
from journeys.engine import steps
from journeys.engine.claims import runs_claim, runs_claim_due
from journeys.engine.event_waits import waits_wake_for
from journeys.engine.runner import runs_walk
from journeys.entry.events.matching import events_match
from journeys.models import Enrollment, JourneyVersion, StepRun
from tests.factories import journey_create

pytestmark = pytest.mark.django_db

TIMEOUT = 3600
#: The abandoned cart: wait for the order of the same cart, or remind after an hour.
CART_STEPS = [
    {"key": "wait", "type": "wait_for_event", "event": "Order Completed",
     "condition": {"field": "event.properties.cart_id", "op": "eq",
                   "value_from": "data.cart_id"},
     "timeout_seconds": TIMEOUT, "matched": "thanks", "timeout": "remind"},
    {"key": "thanks", "type": "update_customer",
     "set": {"ordered": "{{ event.properties.cart_id }}"}, "next": None},
    {"key": "remind", "type": "update_customer", "set": {"reminded": "yes"}, "next": None},
]  # fmt: skip


def track(user, event, **properties):
    return {"type": "track", "userId": user, "event": event, "properties": properties}


@pytest.fixture
def cart_journey(workspace):
    return journey_create(
        workspace, trigger={"type": "event", "event": "Cart Abandoned"}, steps=CART_STEPS
    )


@pytest.fixture
def waiting_run(cart_journey, send):
    """Ada abandoned cart c1; her run has walked to the wait and sleeps there."""
    send(track("ada", "Cart Abandoned", cart_id="c1"))
    events_match()
    run = Enrollment.objects.get(journey=cart_journey)
    runs_walk(runs_claim(run_ids=[run.pk]))
    run.refresh_from_db()
    assert (run.current_step, run.lease_token) == ("wait", None)
    return run


def walk_due():
    runs_walk(runs_claim_due(limit=100))


def test_the_version_knows_the_events_its_waits_await(cart_journey):
    assert cart_journey.live_version.awaited_events == ["Order Completed"]
    assert JourneyVersion.objects.get(pk=cart_journey.live_version_id).awaited_events == [
        "Order Completed"
    ]


def test_a_waiting_run_sleeps_until_its_deadline_without_polling(waiting_run):
    visit = StepRun.objects.get(enrollment=waiting_run, step_key="wait")
    assert waiting_run.wake_at == visit.started_at + timedelta(seconds=TIMEOUT)
    assert visit.outcome == "waiting"


def test_the_matching_event_wakes_the_run_at_once_and_takes_the_matched_path(waiting_run, send):
    send(track("ada", "Order Completed", cart_id="c1", total=30))
    events_match()

    waiting_run.refresh_from_db()
    assert waiting_run.wake_at <= timezone.now()  # due now, not at the deadline
    walk_due()
    waiting_run.refresh_from_db()
    assert waiting_run.state == "completed"
    assert waiting_run.customer.attributes["ordered"] == "c1"
    assert waiting_run.context["event"]["properties"] == {"cart_id": "c1", "total": 30}
    wait = StepRun.objects.get(enrollment=waiting_run, step_key="wait")
    assert wait.outcome == "matched"


def test_another_carts_order_does_not_wake_it(waiting_run, send):
    deadline = waiting_run.wake_at

    send(track("ada", "Order Completed", cart_id="c2"))
    events_match()

    waiting_run.refresh_from_db()
    assert waiting_run.wake_at == deadline
    assert not runs_claim_due(limit=100)


def test_another_customers_order_of_the_same_cart_does_not_wake_it(waiting_run, send):
    deadline = waiting_run.wake_at

    send(track("grace", "Order Completed", cart_id="c1"))
    events_match()

    waiting_run.refresh_from_db()
    assert waiting_run.wake_at == deadline


def test_without_a_matching_event_the_timeout_path_runs_at_the_deadline(waiting_run, send):
    send(track("ada", "Order Completed", cart_id="c2"))
    events_match()

    with time_machine.travel(waiting_run.wake_at - timedelta(seconds=1), tick=False):
        assert not runs_claim_due(limit=100)
    with time_machine.travel(waiting_run.wake_at + timedelta(seconds=1), tick=False):
        walk_due()

    waiting_run.refresh_from_db()
    assert waiting_run.state == "completed"
    assert waiting_run.customer.attributes == {"reminded": "yes"}
    assert StepRun.objects.get(enrollment=waiting_run, step_key="wait").outcome == "timed out"


def test_an_event_received_before_the_wait_began_does_not_count(cart_journey, send):
    send(track("ada", "Order Completed", cart_id="c1"))  # before the cart was abandoned
    send(track("ada", "Cart Abandoned", cart_id="c1"))
    events_match()
    run = Enrollment.objects.get(journey=cart_journey)

    runs_walk(runs_claim(run_ids=[run.pk]))

    run.refresh_from_db()
    assert run.current_step == "wait"
    assert run.wake_at > timezone.now() + timedelta(seconds=TIMEOUT - 60)


def test_an_event_that_arrives_while_the_wait_is_walked_wakes_it_after_the_commit(
    cart_journey, send, monkeypatch
):
    """The walk read the events before the order was stored, and the order's matching
    ran before the run was committed as waiting: the runner's look after its commit
    finds the order."""
    send(track("ada", "Cart Abandoned", cart_id="c1"))
    events_match()
    run = Enrollment.objects.get(journey=cart_journey)
    real = steps.EXECUTORS["wait_for_event"]

    def wait_then_order_arrives(inp):
        result = real(inp)
        Event.objects.create(
            workspace_id=run.workspace_id, customer_id=run.customer_id, name="Order Completed",
            properties={"cart_id": "c1"}, matched_at=timezone.now(),
        )  # fmt: skip
        return result

    monkeypatch.setitem(steps.EXECUTORS, "wait_for_event", wait_then_order_arrives)
    runs_walk(runs_claim(run_ids=[run.pk]))

    run.refresh_from_db()
    assert run.current_step == "wait"
    assert run.wake_at <= timezone.now()  # woken by the look after the commit
    monkeypatch.setitem(steps.EXECUTORS, "wait_for_event", real)
    walk_due()
    run.refresh_from_db()
    assert run.state == "completed"
    assert run.customer.attributes["ordered"] == "c1"


def test_a_leased_run_is_left_to_its_worker(waiting_run, send):
    Enrollment.objects.filter(pk=waiting_run.pk).update(lease_token="0" * 32)
    deadline = waiting_run.wake_at

    send(track("ada", "Order Completed", cart_id="c1"))
    events_match()

    waiting_run.refresh_from_db()
    assert waiting_run.wake_at == deadline


def test_a_run_in_a_delay_is_never_woken_by_events(workspace, send):
    """Waking makes a run due: a delay woken early would end early."""
    journey = journey_create(
        workspace,
        trigger={"type": "event", "event": "Cart Abandoned"},
        steps=[
            {"key": "pause", "type": "delay", "seconds": 600, "next": "wait"},
            *CART_STEPS,
        ],
    )
    send(track("ada", "Cart Abandoned", cart_id="c1"))
    events_match()
    run = Enrollment.objects.get(journey=journey)
    runs_walk(runs_claim(run_ids=[run.pk]))
    run.refresh_from_db()
    assert run.current_step == "pause"
    until = run.wake_at

    send(track("ada", "Order Completed", cart_id="c1"))
    events_match()

    run.refresh_from_db()
    assert run.wake_at == until


def test_events_a_wait_awaits_are_kept_for_matching_and_others_are_not(waiting_run, send):
    send(track("ada", "Order Completed", cart_id="c9"), track("ada", "Page Viewed"))

    pending = dict(Event.objects.values_list("name", "matched_at"))
    assert pending["Order Completed"] is None
    assert pending["Page Viewed"] is not None


def test_a_paused_journeys_waiting_run_is_woken_and_walks_on_resume(
    waiting_run, cart_journey, send
):
    cart_journey.status = "paused"
    cart_journey.save(update_fields=["status"])

    send(track("ada", "Order Completed", cart_id="c1"))
    events_match()

    waiting_run.refresh_from_db()
    assert waiting_run.wake_at <= timezone.now()
    assert not runs_claim_due(limit=100)  # held while paused
    cart_journey.status = "live"
    cart_journey.save(update_fields=["status"])
    walk_due()
    waiting_run.refresh_from_db()
    assert waiting_run.state == "completed"


def test_waking_nothing_costs_nothing():
    assert waits_wake_for([]) == []
