"""Spotzee's trigger end to end: users entered through /compat/spotzee/, walked by a
real Celery worker, each e-mail rendering its own user's data at the top level."""

import pytest

from journeys.models import Enrollment
from tests.e2e.conftest import wait_until
from tests.factories import journey_create

WELCOME = [
    {"key": "welcome", "type": "send", "channel": "email",
     "subject": "Welcome, {{ customer.first_name }}",
     "body": "Your trial ends on {{ trial_ends_at }}.", "next": None},
]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_each_triggered_users_email_renders_its_own_trial_ends_at(
    processes, client, workspace, ada, smtp_server
):
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    journey = journey_create(workspace, steps=WELCOME)

    response = client.post(
        f"/compat/spotzee/journeys/{journey.public_id}/trigger",
        {
            "users": [
                {"external_id": "user_ada", "data": {"trial_ends_at": "2026-05-12"}},
                {
                    "email": "nova@example.com",
                    "first_name": "Nova",
                    "data": {"trial_ends_at": "2026-05-19"},
                },
            ]
        },
        format="json",
    )

    assert response.status_code == 202
    assert response.json() == {"entrances_created": 2, "errors": []}
    runs = Enrollment.objects.filter(journey=journey)
    assert wait_until(lambda: len(smtp_server.messages) == 2, timeout=30), group.log("worker")
    assert wait_until(lambda: not runs.filter(state="active").exists(), timeout=10)
    assert set(runs.values_list("state", flat=True)) == {"completed"}
    mails = {mail["To"]: mail for mail in smtp_server.messages}
    assert mails["ada@example.com"]["Subject"] == "Welcome, Ada"
    assert "Your trial ends on 2026-05-12." in mails["ada@example.com"].get_payload()
    assert mails["nova@example.com"]["Subject"] == "Welcome, Nova"
    assert "Your trial ends on 2026-05-19." in mails["nova@example.com"].get_payload()
