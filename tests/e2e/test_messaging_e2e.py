"""Messages as people receive them, end to end: a real worker sends a multipart HTML
e-mail to a real SMTP server; the List-Unsubscribe link it carries is POSTed, as a mail
provider's one-click unsubscribe does, to a live server; the next marketing send to
that customer is withheld while a transactional one still goes, and a frequency cap
holds across journeys."""

import pytest
import requests

from delivery.models import FrequencyCap, Message, Subscription, Topic
from journeys.models import Enrollment, StepRun
from tests.e2e.conftest import wait_until
from tests.factories import journey_create


def wait_for(predicate, timeout=30.0):
    return wait_until(predicate, timeout)


def trigger(client, api_base, journey, external_id="user_ada", payload=None):
    response = client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger",
        {"external_id": external_id, "payload": payload or {}},
        format="json",
    )
    assert response.status_code == 202, response.json()
    return response.json()["run_id"]


def finished(run_id):
    return Enrollment.objects.filter(public_id=run_id).exclude(state="active").exists()


@pytest.mark.django_db(transaction=True)
def test_html_mail_one_click_unsubscribe_and_caps_through_a_real_worker(
    processes, client, api_base, workspace, ada, smtp_server, live_server
):
    group = processes(
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}", PUBLIC_BASE_URL=live_server.url
    )
    group.worker()
    group.beat()
    Topic.objects.create(workspace=workspace, key="news", name="Newsletter")
    newsletter = journey_create(
        workspace,
        sender={"name": "Acme", "email": "news@acme.test"},
        steps=[{"key": "issue", "type": "send", "channel": "email", "topic": "news",
                "subject": "Issue {{ data.number }}",
                "html": "<h1>Hello {{ customer.first_name }}</h1>"
                        "<p>Read <a href=\"https://acme.test/{{ data.number }}\">issue "
                        "{{ data.number }}</a>.</p>",
                "next": None}],
    )  # fmt: skip
    first = trigger(client, api_base, newsletter, payload={"number": "<1>"})

    assert wait_for(lambda: finished(first) and smtp_server.messages), group.log("worker")
    (mail,) = smtp_server.messages
    assert mail["From"] == "Acme <news@acme.test>" and mail["Subject"] == "Issue <1>"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = (part.get_payload(decode=True).decode() for part in mail.get_payload())
    assert html == (
        '<h1>Hello Ada</h1><p>Read <a href="https://acme.test/&lt;1&gt;">issue &lt;1&gt;</a>.</p>'
    )
    assert "Hello Ada" in text and "(https://acme.test/<1>)" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = " ".join(mail["List-Unsubscribe"].split()).strip("<>")
    assert link.startswith(live_server.url + "/u/")

    # The mailbox provider's one-click POST: no cookie, no login, the RFC 8058 body.
    response = requests.post(
        link,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 200
    assert Subscription.objects.get(customer=ada, topic="news").subscribed is False

    # The next issue is withheld and the run goes on to its receipt, which is sent.
    second_journey = journey_create(
        workspace,
        steps=[{"key": "issue", "type": "send", "channel": "email", "topic": "news",
                "subject": "Issue 2", "body": "News", "next": "receipt"},
               {"key": "receipt", "type": "send", "channel": "email", "transactional": True,
                "subject": "Your receipt", "body": "Thanks", "next": None}],
    )  # fmt: skip
    second = trigger(client, api_base, second_journey)

    assert wait_for(lambda: finished(second)), group.log("worker")
    outcomes = dict(
        StepRun.objects.filter(enrollment__public_id=second).values_list("step_key", "outcome")
    )
    assert outcomes == {"issue": "suppressed", "receipt": "sent"}
    assert [mail["Subject"] for mail in smtp_server.messages] == ["Issue <1>", "Your receipt"]
    assert smtp_server.messages[1]["List-Unsubscribe"] is None  # transactional


@pytest.mark.django_db(transaction=True)
def test_a_frequency_cap_holds_across_journeys_walked_by_two_worker_processes(
    processes, client, api_base, workspace, ada, smtp_server
):
    FrequencyCap.objects.create(workspace=workspace, channel="email", limit=2, period_seconds=3600)
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker(concurrency=2)
    group.beat()
    journeys = [
        journey_create(workspace, steps=[{"key": "mail", "type": "send", "channel": "email",
                                          "subject": f"Offer {number}", "body": "x",
                                          "next": None}])
        for number in range(6)
    ]  # fmt: skip

    runs = [trigger(client, api_base, journey) for journey in journeys]

    assert wait_for(lambda: all(finished(run) for run in runs)), group.log("worker")
    statuses = sorted(Message.objects.values_list("status", flat=True))
    assert statuses == ["frequency_capped"] * 4 + ["sent"] * 2
    assert len(smtp_server.messages) == 2
