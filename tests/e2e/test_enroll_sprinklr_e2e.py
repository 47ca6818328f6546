"""The enroll and Sprinklr dialects end to end: a vendor-shaped request, a real Celery
worker on PostgreSQL and Redis, and the e-mail each run sends, caught by an SMTP sink."""

import pytest
from rest_framework.test import APIClient

from customers.models import Customer
from journeys.models import Enrollment
from tests.e2e.conftest import wait_until
from tests.factories import journey_create, segment_create

GREETING = [
    {
        "key": "greet",
        "type": "send",
        "channel": "email",
        "subject": "Welcome, {{ customer.first_name }}",
        "body": "Your code is {{ data.code | default: 'none' }}.",
        "next": None,
    }
]


@pytest.mark.django_db(transaction=True)
def test_an_enrolled_contact_and_list_members_get_their_email(
    processes, client, workspace, smtp_server
):
    processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}").worker()
    journey = journey_create(workspace, steps=GREETING)
    _ada, bo, cy = (
        Customer.objects.create(
            workspace=workspace, email=f"{name}@example.com", attributes={"first_name": name}
        )
        for name in ("ada", "bo", "cy")
    )
    segment_create(workspace, [bo, cy], list_email="team@example.com")

    response = client.post(
        f"/compat/enroll/v1/journeys/{journey.public_id}/enroll",
        {
            "contact_email_addresses": [" ADA@example.com"],
            "list_email_addresses": ["team@example.com"],
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["enrolled_count"] == 3
    runs = Enrollment.objects.filter(journey=journey)
    assert wait_until(lambda: not runs.filter(state="active").exists(), timeout=30)
    assert set(runs.values_list("state", flat=True)) == {"completed"}
    assert sorted((m["To"], m["Subject"]) for m in smtp_server.messages) == [
        ("ada@example.com", "Welcome, ada"),
        ("bo@example.com", "Welcome, bo"),
        ("cy@example.com", "Welcome, cy"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_new_sprinklr_profile_gets_its_email_with_the_context_params(
    processes, raw_api_key, workspace, smtp_server
):
    processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}").worker()
    journey = journey_create(workspace, steps=GREETING)
    sprinklr = APIClient()
    sprinklr.credentials(HTTP_AUTHORIZATION=raw_api_key, HTTP_KEY=raw_api_key)

    response = sprinklr.post(
        "/compat/sprinklr/api/marketing-journey/triggerWithNewProfile",
        {
            "journeyId": journey.public_id,
            "contextParams": {"code": "SPRING-24"},
            "unifiedProfile": {
                "id": "id8",
                "contact": {"firstName": "Parth"},
                "profiles": [{"channelType": "EMAIL", "channelId": "acme@sprinklr.com"}],
                "createdTime": 1599816142000,
            },
        },
        format="json",
    )

    assert response.status_code == 204
    run = Enrollment.objects.get(journey=journey)
    assert wait_until(lambda: Enrollment.objects.get(pk=run.pk).state == "completed", timeout=30)
    (mail,) = smtp_server.messages
    assert (mail["To"], mail["Subject"]) == ("acme@sprinklr.com", "Welcome, Parth")
    assert "Your code is SPRING-24." in mail.get_payload()
