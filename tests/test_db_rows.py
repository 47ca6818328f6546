"""Row writes outside the ORM's update paths store what ``save()`` would store.

Runs on PostgreSQL (``make test``) and on the embedded SQLite (``make test-sqlite``):
JSON, datetimes, UUIDs, NULLs and foreign keys each take a dialect-specific form.
"""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from customers.db import in_subquery_once, row_update_unflushed, rows_update
from customers.models import Customer
from delivery.models import Message
from journeys.models import Enrollment, StepRun
from tests.factories import customers_create, journey_create


@pytest.fixture
def runs(workspace):
    journey = journey_create(workspace)
    now = timezone.now()
    fields = {"workspace": workspace, "journey": journey, "version": journey.live_version,
              "entered_at": now, "current_step": "welcome", "wake_at": now}  # fmt: skip
    return [
        Enrollment.objects.create(customer=customer, **fields)
        for customer in customers_create(workspace, 3, prefix="row")
    ]


@pytest.mark.django_db
def test_rows_update_writes_each_objects_fields_to_its_row(runs):
    token, until = uuid.uuid4(), timezone.now() + timedelta(minutes=1)
    runs[0].context = {"payload": {"code": "É"}, "steps": {"lookup": [1, None]}}
    runs[0].lease_token, runs[0].lease_expires_at = token, until
    runs[1].state, runs[1].wake_at, runs[1].error = "failed", None, "it broke"
    untouched_context = runs[2].context

    rows_update(runs[:2], ["state", "wake_at", "context", "error", "lease_token",
                           "lease_expires_at"])  # fmt: skip

    first, second, third = (Enrollment.objects.get(pk=run.pk) for run in runs)
    assert first.context == {"payload": {"code": "É"}, "steps": {"lookup": [1, None]}}
    assert (first.lease_token, first.lease_expires_at) == (token, until)
    assert (second.state, second.wake_at, second.error) == ("failed", None, "it broke")
    assert (third.state, third.context, third.lease_token) == ("active", untouched_context, None)


@pytest.mark.django_db
def test_rows_update_writes_foreign_keys_by_id(runs, ada):
    message = Message.objects.create(
        workspace=ada.workspace, customer=ada, idempotency_key="k", channel="email",
        recipient=ada.email,
    )  # fmt: skip
    visit = StepRun.objects.create(
        enrollment=runs[0], step_key="welcome", step_type="send", started_at=timezone.now()
    )
    visit.message, visit.outcome = message, "sent"

    rows_update([visit], ["message", "outcome"])

    assert StepRun.objects.values_list("message_id", "outcome").get() == (message.pk, "sent")


@pytest.mark.django_db(transaction=True)
def test_an_unflushed_write_is_committed_and_leaves_the_session_as_it_was(workspace, ada):
    message = Message.objects.create(
        workspace=workspace, customer=ada, idempotency_key="k", channel="email",
        recipient=ada.email,
    )  # fmt: skip
    message.status, message.attempts, message.sent_at = "sent", 1, timezone.now()

    row_update_unflushed(message, ["status", "attempts", "sent_at"])

    assert connection.get_autocommit()
    stored = Message.objects.get()
    assert (stored.status, stored.attempts, stored.sent_at) == ("sent", 1, message.sent_at)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)


@pytest.mark.django_db
def test_in_subquery_once_selects_what_in_selects(runs):
    """The restart's filter: rows whose column is among a subquery's answers, none else,
    and an empty subquery selects nothing."""
    picked = Customer.objects.filter(pk__in=[runs[0].customer_id, runs[2].customer_id])
    nobody = Customer.objects.filter(pk__in=[])

    chosen = Enrollment.objects.filter(in_subquery_once("customer_id", picked.values("pk")))
    none = Enrollment.objects.filter(in_subquery_once("customer_id", nobody.values("pk")))

    assert set(chosen.values_list("pk", flat=True)) == {runs[0].pk, runs[2].pk}
    assert chosen.update(state="exited") == 2
    assert not none.exists()
