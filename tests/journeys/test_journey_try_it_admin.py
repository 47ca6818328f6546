"""The journey's "Try it" admin page: trigger commands, preview, dry run, test send."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from delivery.models import Message
from journeys.models import Enrollment, Journey
from tests.factories import journey_create

pytestmark = pytest.mark.django_db

STEPS = [
    {
        "key": "welcome",
        "type": "send",
        "channel": "email",
        "subject": "Welcome, {{ customer.first_name }}",
        "body": "Plan {{ data.plan }}",
        "html": "<p>Plan {{ data.plan }}</p>",
        "transactional": True,
        "next": None,
    }
]


@pytest.fixture
def journey(workspace) -> Journey:
    return journey_create(
        workspace,
        trigger={"schema": [{"name": "plan", "type": "string", "required": True}]},
        steps=STEPS,
    )


def url(journey: Journey) -> str:
    return f"/admin/journeys/journey/{journey.pk}/try/"


def post(client, journey, action, **fields):
    data = {"customer": "user_ada", "payload": '{"plan": "pro"}', **fields, "action": action}
    return client.post(url(journey), data)


def test_the_change_page_links_to_try_it(admin_client, journey):
    page = admin_client.get(f"/admin/journeys/journey/{journey.pk}/change/").content.decode()

    assert f'href="{url(journey)}"' in page


def test_the_page_shows_copyable_commands_and_a_prefilled_payload(admin_client, journey):
    response = admin_client.get(url(journey))

    page = response.content.decode()
    assert response.status_code == 200
    assert f"/journeys/{journey.public_id}/trigger" in page
    assert "Authorization: Bearer $KEY" in page
    assert "/compat/courier/journeys/" in page
    assert page.count('class="button try-copy"') == 4  # native, Courier, Spotzee, Sprinklr
    assert "navigator.clipboard.writeText" in page
    assert "{&quot;plan&quot;: &quot;text&quot;}" in page  # the payload textarea


def test_preview_shows_the_rendered_message_in_a_sandbox(admin_client, journey, ada):
    page = post(admin_client, journey, "preview", payload='{"plan": "<b>pro</b>"}').content.decode()

    assert "Welcome, Ada" in page
    assert "to ada@example.com" in page
    # Escaped by Liquid (the value), then by the srcdoc attribute (the HTML).
    assert 'sandbox referrerpolicy="no-referrer" srcdoc="&lt;p&gt;Plan &amp;lt;b&amp;gt;' in page
    assert "<b>pro</b>" not in page


def test_preview_names_a_missing_variable(admin_client, journey, ada):
    page = post(admin_client, journey, "preview", payload="{}").content.decode()

    assert "Cannot be written: data.plan is undefined" in page


def test_bad_json_says_where(admin_client, journey, ada):
    page = post(admin_client, journey, "preview", payload='{"plan": "pro",\n}').content.decode()

    assert "Enter valid JSON" in page and "line 2 column 1" in page


def test_an_unknown_customer_is_a_form_error(admin_client, journey):
    page = post(admin_client, journey, "preview", customer="nobody").content.decode()

    assert "no customer has the external id or e-mail address &#x27;nobody&#x27;" in page


def test_dry_run_shows_the_api_answer_and_writes_nothing(admin_client, journey, ada):
    page = post(admin_client, journey, "dry_run", customer="ADA@example.com").content.decode()

    assert "would answer <strong>200</strong>" in page
    assert (
        json.dumps({"status": "enrolled", "dry_run": True}, indent=2).replace('"', "&quot;") in page
    )
    assert Enrollment.objects.count() == 0


def test_send_test_sends_to_the_address(admin_client, journey, ada, smtp_server):
    page = post(
        admin_client, journey, "send_test", step="welcome", address="me@example.com"
    ).content.decode()

    assert "“[Test] Welcome, Ada” was sent to me@example.com" in page
    assert [mail["Subject"] for mail in smtp_server.messages] == ["[Test] Welcome, Ada"]
    assert Message.objects.count() == 0


def test_send_test_to_a_bad_address_is_a_form_error(admin_client, journey, ada, smtp_server):
    page = post(admin_client, journey, "send_test", step="welcome", address="me@").content.decode()

    assert "&#x27;me@&#x27; is not an e-mail address" in page
    assert smtp_server.messages == []


def test_non_staff_are_sent_to_the_login_page(db, journey):
    user = User.objects.create_user("customer", "c@example.com", "pw")
    browser = Client()
    browser.force_login(user)

    response = browser.get(url(journey))

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_staff_without_the_view_permission_are_refused(staff_client, journey):
    response = staff_client("view_enrollment").get(url(journey))

    assert response.status_code == 403


def test_staff_who_may_only_view_cannot_send(staff_client, journey, ada, smtp_server):
    browser = staff_client("view_journey")

    page = browser.get(url(journey)).content.decode()
    response = post(browser, journey, "send_test", step="welcome", address="me@example.com")

    assert "Send test</button>" not in page
    assert response.status_code == 403
    assert smtp_server.messages == []


def test_a_post_without_the_csrf_token_is_refused(journey, ada):
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = post(browser, journey, "preview")

    assert response.status_code == 403
