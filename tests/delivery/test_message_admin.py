"""A customer's page leads to their runs and messages; a message's page shows it as sent."""

import pytest
from django.utils import timezone

from delivery.models import Message
from journeys.models import Enrollment
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


def test_a_customer_leads_to_their_runs_and_messages(admin_client, workspace, ada, grace):
    journey = journey_create(workspace)
    for customer in (ada, grace):
        run = Enrollment.objects.create(
            workspace=workspace, journey=journey, version=journey.live_version,
            customer=customer, entered_at=timezone.now(),
        )  # fmt: skip
        Message.objects.create(
            workspace=workspace, customer=customer, idempotency_key=f"{run.public_id}:m:1",
            channel="email", recipient=customer.email, subject=f"For {customer.external_id}",
            html="<p>Hi</p>", run_public_id=run.public_id, step_key="m",
        )  # fmt: skip

    page = admin_client.get(f"/admin/customers/customer/{ada.pk}/change/").content.decode()
    runs_link = f"/admin/journeys/enrollment/?customer__id__exact={ada.pk}"
    messages_link = f"/admin/delivery/message/?customer__id__exact={ada.pk}"
    assert runs_link in page and messages_link in page

    runs = admin_client.get(runs_link)
    messages = admin_client.get(messages_link)
    assert runs.status_code == messages.status_code == 200
    assert ada.external_id in runs.content.decode()
    assert "For user_ada" in messages.content.decode()
    assert "For user_grace" not in messages.content.decode()
    message = Message.objects.get(customer=ada)
    detail = admin_client.get(f"/admin/delivery/message/{message.pk}/change/").content.decode()
    assert "srcdoc=" in detail and "For user_ada" in detail
