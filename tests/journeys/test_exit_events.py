"""Runs exited in bulk (a journey archived, a run replaced by a new entry) each get
their ``run.exited`` event.

Runs on PostgreSQL (``make test``) and SQLite (``make test-sqlite``): the events are
built by one ``INSERT ... SELECT`` whose JSON and timestamps are dialect-specific, and
must match, field for field, the ``run.exited`` events the engine sends for one run.
"""

import pytest

from customers.models import Customer
from delivery.models import WebhookDelivery
from delivery.state_webhooks.endpoints import webhook_endpoint_create
from journeys.authoring.services import journey_archive
from journeys.entry.core import journey_enroll
from journeys.models import Enrollment
from tests.factories import customers_create, journey_create, run_finish

pytestmark = pytest.mark.django_db


@pytest.fixture
def journey_with_runs(workspace):
    journey = journey_create(workspace)
    customers_create(workspace, 3, prefix="arc")
    journey_enroll(
        journey=journey,
        version=journey.live_version,
        customers=Customer.objects.filter(workspace=workspace),
        payload={},
    )
    finished = Enrollment.objects.filter(journey=journey).order_by("pk").first()
    run_finish(finished, state=Enrollment.State.COMPLETED)
    return journey


def deliveries(endpoint, event_type):
    return list(WebhookDelivery.objects.filter(endpoint=endpoint, event_type=event_type))


def test_each_active_run_gets_its_exit_event_like_the_engines(workspace, journey_with_runs):
    everything, _ = webhook_endpoint_create(workspace=workspace, url="https://a.example/hooks")
    journeys_only, _ = webhook_endpoint_create(
        workspace=workspace, url="https://b.example/hooks", event_types=["journey.archived"]
    )
    active = list(Enrollment.objects.filter(journey=journey_with_runs, state="active"))
    assert len(active) == 2

    journey_archive(journey=journey_with_runs)

    exited = deliveries(everything, "run.exited")
    by_run = {delivery.payload["run_id"]: delivery.payload for delivery in exited}
    assert len(exited) == 2 and set(by_run) == {run.public_id for run in active}
    for run in active:
        run.refresh_from_db()
        assert by_run[run.public_id] == {
            "run_id": run.public_id,
            "journey_id": journey_with_runs.public_id,
            "journey_version": 1,
            "customer_id": run.customer.public_id,
            "external_id": run.customer.external_id,
            "state": "exited",
            "entered_at": run.entered_at.isoformat(),
            "finished_at": run.finished_at.isoformat(),
            "exit_reason": "journey archived",
        }
    assert all(d.event_id.startswith("evt_") and len(d.event_id) == 36 for d in exited)
    assert len({d.event_id for d in exited}) == 2
    assert all(d.status == "pending" and d.next_attempt_at is not None for d in exited)
    assert deliveries(journeys_only, "run.exited") == []
    assert len(deliveries(journeys_only, "journey.archived")) == 1
    assert deliveries(everything, "journey.archived")[0].payload["runs_exited"] == 2


def test_no_listening_endpoint_means_no_run_events(workspace, journey_with_runs):
    webhook_endpoint_create(
        workspace=workspace, url="https://b.example/hooks", event_types=["run.completed"]
    )

    journey_archive(journey=journey_with_runs)

    assert not WebhookDelivery.objects.filter(event_type="run.exited").exists()
    assert Enrollment.objects.filter(journey=journey_with_runs, state="exited").count() == 2


def test_a_run_replaced_by_a_new_entry_gets_its_exit_event(workspace):
    journey = journey_create(workspace, entry={"allow_reentry": True, "restart_active": True})
    (customer,) = customers_create(workspace, 1, prefix="again")
    endpoint, _ = webhook_endpoint_create(
        workspace=workspace, url="https://a.example/hooks", event_types=["run.exited"]
    )

    def enter():
        journey_enroll(
            journey=journey,
            version=journey.live_version,
            customers=Customer.objects.filter(pk=customer.pk),
            payload={},
        )

    enter()
    first = Enrollment.objects.get(journey=journey)
    enter()

    first.refresh_from_db()
    assert (first.state, first.exit_reason) == ("exited", "restarted")
    (event,) = deliveries(endpoint, "run.exited")
    assert event.payload["run_id"] == first.public_id
    assert event.payload["exit_reason"] == "restarted"
    assert event.payload["finished_at"] == first.finished_at.isoformat()
