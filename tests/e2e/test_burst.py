"""A campaign's burst: 20,000 runs due in the same second, walked by a real worker and beat.

With a lease of a few seconds, any batch that waited in a queue holding its lease would
lapse and be handed out again; pulled batches never do. Every run finishes with each
step recorded once, and an order confirmation triggered mid-burst is mailed while most
of the campaign is still due, not after it.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from delivery.models import Message
from journeys.models import Enrollment, StepRun
from tests.e2e.conftest import wait_until
from tests.factories import journey_create

BURST = 20_000
LEASE_SECONDS = "3"

CAMPAIGN = [
    {"key": "wait", "type": "delay", "seconds": 20, "next": "split"},
    {"key": "split", "type": "split", "paths": [
        {"percentage": 50, "next": "done"}, {"percentage": 50, "next": "done"}]},
    {"key": "done", "type": "exit"},
]  # fmt: skip
RECEIPT = [{"key": "mail", "type": "send", "channel": "email", "subject": "Order confirmed",
            "body": "Thanks {{ customer.external_id }}", "next": None}]  # fmt: skip


def campaign_runs_waiting(workspace, journey, count: int, wake_at) -> None:
    """``count`` runs waiting on the delay, as the engine leaves them, all due at once."""
    customers = Customer.objects.bulk_create(
        Customer(workspace=workspace, external_id=f"c{i}", email=f"c{i}@example.com")
        for i in range(count)
    )
    now = timezone.now()
    shared = {"workspace": workspace, "journey": journey, "version": journey.live_version}
    runs = Enrollment.objects.bulk_create(
        Enrollment(
            **shared, customer=customer, current_step="wait", wake_at=wake_at, entered_at=now
        )
        for customer in customers
    )
    visit = {"step_key": "wait", "step_type": "delay", "visit": 1, "outcome": "waiting"}
    StepRun.objects.bulk_create(StepRun(enrollment=run, started_at=now, **visit) for run in runs)


@pytest.mark.django_db(transaction=True)
def test_a_burst_drains_with_each_step_once_and_a_trigger_does_not_wait_behind_it(
    processes, client, api_base, workspace, ada, smtp_server
):
    campaign = journey_create(workspace, name="Campaign", steps=CAMPAIGN)
    receipt = journey_create(workspace, name="Receipt", steps=RECEIPT)
    campaign_runs_waiting(workspace, campaign, BURST, wake_at=timezone.now() + timedelta(seconds=8))
    group = processes(
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}", RUN_LEASE_SECONDS=LEASE_SECONDS
    )
    group.worker(concurrency=2)
    group.beat()
    campaign_runs = Enrollment.objects.filter(journey=campaign)

    assert wait_until(lambda: campaign_runs.filter(state="exited").exists(), timeout=60)
    response = client.post(
        f"{api_base}/journeys/{receipt.public_id}/trigger",
        {"external_id": "user_ada"},
        format="json",
    )
    assert response.status_code == 202
    sent = Message.objects.filter(status="sent")  # the campaign sends none
    mailed = wait_until(sent.exists, timeout=30)

    assert mailed, group.log("worker")[-3000:]
    sent_at = sent.get().sent_at
    finished_before = campaign_runs.filter(finished_at__lt=sent_at).count()
    assert finished_before < BURST // 2, "the confirmation waited behind the campaign"
    assert wait_until(
        lambda: not campaign_runs.filter(state="active").exists(), timeout=240, interval=1
    ), campaign_runs.filter(state="active").count()
    assert Counter(campaign_runs.values_list("state", flat=True)) == {"exited": BURST}
    visits = StepRun.objects.filter(enrollment__journey=campaign)
    assert Counter(visits.values_list("step_key", "visit")) == {
        ("wait", 1): BURST,
        ("split", 1): BURST,
        ("done", 1): BURST,
    }
    assert not visits.filter(finished_at__isnull=True).exists()
    assert [mail["Subject"] for mail in smtp_server.messages] == ["Order confirmed"]
    assert "lost the lease" not in group.log("worker")  # no batch outlived its lease
