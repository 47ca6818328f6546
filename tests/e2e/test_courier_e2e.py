"""A journey invoked through the Courier dialect, walked by a real Celery worker: the
e-mail goes to the address the invocation's profile gave, on PostgreSQL and Redis."""

import pytest

from customers.models import Customer
from journeys.models import Enrollment
from tests.e2e.conftest import wait_until
from tests.factories import journey_create

WELCOME = [
    {"key": "welcome", "type": "send", "channel": "email",
     "subject": "Welcome, {{ profile.first_name }}",
     "body": "Your plan: {{ data.plan }}. Tenant: {{ tenant.name }}.", "next": None},
]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_an_invoked_run_emails_the_profiles_address_through_a_worker(
    processes, client, workspace, smtp_server
):
    processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}").worker()
    journey = journey_create(workspace, steps=WELCOME)
    stored = Customer.objects.create(
        workspace=workspace, external_id="user_123", email="stored@example.com",
        attributes={"first_name": "Jane"},
    )  # fmt: skip
    stored.tenant_profiles.create(workspace=workspace, tenant_id="acme", profile={"name": "Acme"})

    response = client.post(
        f"/compat/courier/journeys/{journey.public_id}/invoke",
        {
            "user_id": "user_123",
            "profile": {"email": "new@example.com", "context": {"tenant_id": "acme"}},
            "data": {"plan": "pro"},
        },
        format="json",
    )

    assert response.status_code == 202
    run = Enrollment.objects.get(public_id=response.json()["runId"])
    # The trigger's kick hands the run to the worker at once: no beat is running.
    assert wait_until(lambda: smtp_server.messages, timeout=30), "no e-mail arrived"
    (mail,) = smtp_server.messages
    assert mail["To"] == "new@example.com"
    assert mail["Subject"] == "Welcome, Jane"
    assert "Your plan: pro. Tenant: Acme." in mail.get_payload()
    assert wait_until(lambda: Enrollment.objects.get(pk=run.pk).state == "completed", timeout=10)
    status = client.get(f"/compat/courier/journeys/runs/{run.public_id}").json()["run"]["status"]
    assert status == "PROCESSED"
