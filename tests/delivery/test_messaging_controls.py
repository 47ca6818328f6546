"""HTML e-mail, consent, suppression and frequency caps, through the engine, on
PostgreSQL, with a real SMTP server (aiosmtpd) parsing what was sent.

Tests drive the engine's services directly (claim, walk), as tests/journeys/test_engine.py
does; tests/e2e/test_messaging_e2e.py does the same through a real worker.
"""

import itertools
from email.message import Message as MimeMessage
from urllib.parse import urlparse

import pytest
from django.test import Client

from customers.models import Customer
from delivery.models import FrequencyCap, Message, Subscription, Suppression, Topic
from journeys.engine.claims import runs_claim
from journeys.engine.runner import runs_walk
from journeys.models import Enrollment, StepRun
from tests.concurrency import in_parallel
from tests.factories import journey_create
from tests.walking import advance, enroll

pytestmark = pytest.mark.django_db


def send_step(key="mail", **fields):
    return {"key": key, "type": "send", "channel": "email", "subject": "Hi", "body": "Hello",
            "next": None, **fields}  # fmt: skip


def parts(mail: MimeMessage) -> dict[str, str]:
    """The text of each part of a parsed e-mail, by content type."""
    return {
        part.get_content_type(): part.get_payload(decode=True)
        .decode(part.get_content_charset())
        .replace("\r\n", "\n")
        for part in mail.walk()
        if not part.is_multipart()
    }


def header(mail: MimeMessage, name: str) -> str:
    """A header's value, unfolded (a long one arrives on several lines)."""
    return " ".join(mail[name].split())


def outcome(run, key="mail"):
    return StepRun.objects.get(enrollment=run, step_key=key).outcome


# --- HTML and the sender -------------------------------------------------------------------


def test_html_email_is_multipart_with_escaped_values_and_unsubscribe_headers(
    client, api_base, workspace, ada, smtp_server, settings
):
    settings.PUBLIC_BASE_URL = "https://journeys.example.com"
    Customer.objects.filter(pk=ada.pk).update(attributes={"first_name": "<b>Ada</b> & co"})
    journey = journey_create(
        workspace,
        sender={"name": "Acme News", "email": "news@acme.test"},
        steps=[send_step(
            subject="Hi {{ customer.first_name }}",
            body="Hi {{ customer.first_name }}, plan {{ data.plan }}",
            html="<h1>Hi {{ customer.first_name }}</h1><p>Plan <b>{{ data.plan }}</b></p>",
        )],
    )  # fmt: skip

    run = advance(enroll(client, api_base, journey, payload={"plan": "<pro>"}))

    assert run.state == Enrollment.State.COMPLETED
    (mail,) = smtp_server.messages
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["From"] == "Acme News <news@acme.test>"
    assert mail["Subject"] == "Hi <b>Ada</b> & co"  # a subject is text: nothing escaped
    text, html = parts(mail)["text/plain"], parts(mail)["text/html"]
    assert text == "Hi <b>Ada</b> & co, plan <pro>"
    assert html == ("<h1>Hi &lt;b&gt;Ada&lt;/b&gt; &amp; co</h1><p>Plan <b>&lt;pro&gt;</b></p>")
    link = header(mail, "List-Unsubscribe")
    assert link.startswith("<https://journeys.example.com/u/") and link.endswith(">")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    message = Message.objects.get()
    assert (message.html, message.sender, message.step_key) == (
        html,
        "Acme News <news@acme.test>",
        "mail",
    )
    assert message.run_public_id == run.public_id


def test_the_text_part_is_derived_from_the_html_when_none_is_written(
    client, api_base, workspace, ada, smtp_server
):
    journey = journey_create(
        workspace,
        steps=[send_step(body=None, html=(
            "<html><head><style>p {color: red}</style></head><body><h1>Welcome</h1>"
            "<p>Start <a href=\"https://acme.test/start\">here</a>.</p></body></html>"
        ))],
    )  # fmt: skip

    advance(enroll(client, api_base, journey))

    (mail,) = smtp_server.messages
    assert parts(mail)["text/plain"] == "Welcome\n\nStart here (https://acme.test/start)."


def test_a_transactional_email_has_no_unsubscribe_header_and_the_workspace_sender(
    client, api_base, workspace, ada, smtp_server
):
    workspace.sender_name, workspace.sender_email = "Acme", "hello@acme.test"
    workspace.save()
    journey = journey_create(workspace, steps=[send_step(transactional=True)])

    advance(enroll(client, api_base, journey))

    (mail,) = smtp_server.messages
    assert mail.get_content_type() == "text/plain"
    assert mail["From"] == "Acme <hello@acme.test>"
    assert mail["List-Unsubscribe"] is None


def test_a_step_sender_wins_over_the_journeys(client, api_base, workspace, ada, smtp_server):
    journey = journey_create(
        workspace,
        sender={"name": "Journey", "email": "journey@acme.test"},
        steps=[send_step(sender={"email": "step@acme.test"})],
    )

    advance(enroll(client, api_base, journey))

    assert smtp_server.messages[0]["From"] == "step@acme.test"


# --- unsubscribe -----------------------------------------------------------------------------


def unsubscribe_path(mail: MimeMessage) -> str:
    return urlparse(header(mail, "List-Unsubscribe").strip("<>")).path


def test_one_click_unsubscribe_stops_that_topic_and_the_run_goes_on(
    client, api_base, workspace, ada, smtp_server
):
    Topic.objects.create(workspace=workspace, key="news", name="Newsletter")
    Topic.objects.create(workspace=workspace, key="tips", name="Tips")
    journey = journey_create(
        workspace,
        steps=[send_step(topic="news", next="tips"), send_step("tips", topic="tips", next="news2"),
               send_step("news2", topic="news")],
    )  # fmt: skip
    advance(enroll(client, api_base, journey))
    first = smtp_server.messages[0]
    path = unsubscribe_path(first)
    stranger = Client()  # a mail provider: no session, no CSRF token

    page = stranger.get(path)  # a link scanner or a person: changes nothing
    assert page.status_code == 200 and b"Newsletter" in page.content
    assert not Subscription.objects.exists()

    response = stranger.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    choice = Subscription.objects.get()
    assert (choice.customer_id, choice.topic, choice.subscribed) == (ada.pk, "news", False)
    assert Message.objects.get(step_key="mail").unsubscribed_at is not None
    # Again: still fine, nothing more changes.
    again = stranger.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert again.status_code == 200
    assert Subscription.objects.count() == 1

    # Another journey's marketing on both topics: the newsletter is withheld.
    other = journey_create(workspace, steps=[send_step(topic="news", next="tips"),
                                             send_step("tips", topic="tips")])  # fmt: skip
    run = advance(enroll(client, api_base, other))

    assert run.state == Enrollment.State.COMPLETED
    assert outcome(run) == "suppressed" and outcome(run, "tips") == "sent"
    assert len(smtp_server.messages) == 4  # 3 of the first run, the tips of the second
    withheld = Message.objects.get(status="suppressed")
    assert withheld.error == "unsubscribed from topic 'news'"


def test_unsubscribing_from_everything_keeps_transactional_messages(
    client, api_base, workspace, ada, smtp_server
):
    journey = journey_create(
        workspace,
        steps=[send_step(next="receipt"), send_step("receipt", transactional=True)],
    )
    Subscription.objects.create(
        workspace=workspace, customer=ada, topic="", subscribed=False, source="api"
    )

    run = advance(enroll(client, api_base, journey))

    assert (outcome(run), outcome(run, "receipt")) == ("suppressed", "sent")
    assert len(smtp_server.messages) == 1


def test_the_unsubscribe_page_offers_everything_and_refuses_forged_links(
    client, api_base, workspace, ada, smtp_server
):
    Topic.objects.create(workspace=workspace, key="news", name="Newsletter")
    journey = journey_create(workspace, steps=[send_step(topic="news")])
    advance(enroll(client, api_base, journey))
    path = unsubscribe_path(smtp_server.messages[0])
    stranger = Client()

    response = stranger.post(path, {"scope": "all"})

    assert response.status_code == 200 and b"marketing messages" in response.content
    assert Subscription.objects.get().topic == ""
    forged = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
    assert stranger.post(forged).status_code == 404
    assert stranger.get("/u/msg_nothing:abc").status_code == 404
    assert stranger.put(path).status_code == 405


def test_the_unsubscribe_link_can_be_shown_in_the_body(
    client, api_base, workspace, ada, smtp_server
):
    journey = journey_create(
        workspace, steps=[send_step(html='<a href="{{ unsubscribe_url }}">Unsubscribe</a>')]
    )

    advance(enroll(client, api_base, journey))

    mail = smtp_server.messages[0]
    assert header(mail, "List-Unsubscribe").strip("<>") in parts(mail)["text/html"]


# --- suppression ------------------------------------------------------------------------------


def test_a_suppressed_address_gets_nothing_not_even_transactional(
    client, api_base, workspace, ada, smtp_server
):
    Suppression.objects.create(
        workspace=workspace, address="ADA@example.com".lower(), reason="hard_bounce"
    )
    journey = journey_create(workspace, steps=[send_step(transactional=True)])

    run = advance(enroll(client, api_base, journey))

    assert run.state == Enrollment.State.COMPLETED and outcome(run) == "suppressed"
    assert smtp_server.messages == []
    assert Message.objects.get().error == "address suppressed (hard_bounce)"


def test_an_opt_in_topic_reaches_only_those_who_subscribed(
    client, api_base, workspace, ada, grace, smtp_server
):
    Topic.objects.create(workspace=workspace, key="beta", name="Beta", default_subscribed=False)
    journey = journey_create(workspace, steps=[send_step(topic="beta")])
    response = client.patch(
        f"{api_base}/customers/{grace.public_id}/subscriptions", {"beta": True}, format="json"
    )
    assert response.status_code == 200 and response.json() == {"all": True, "beta": True}

    ada_run = advance(enroll(client, api_base, journey, external_id="user_ada"))
    grace_run = advance(enroll(client, api_base, journey, external_id="user_grace"))

    assert (outcome(ada_run), outcome(grace_run)) == ("suppressed", "sent")
    assert [mail["To"] for mail in smtp_server.messages] == [grace.email]


# --- frequency caps ---------------------------------------------------------------------------


def test_a_frequency_cap_counts_across_journeys_and_spares_transactional(
    client, api_base, workspace, ada, smtp_server
):
    FrequencyCap.objects.create(workspace=workspace, channel="email", limit=2, period_seconds=86400)
    journeys = [journey_create(workspace, steps=[send_step()]) for _ in range(3)]
    receipt = journey_create(workspace, steps=[send_step(transactional=True)])

    runs = [advance(enroll(client, api_base, journey)) for journey in journeys]
    receipt_run = advance(enroll(client, api_base, receipt))

    assert [outcome(run) for run in runs] == ["sent", "sent", "frequency_capped"]
    assert all(run.state == Enrollment.State.COMPLETED for run in runs)
    assert outcome(receipt_run) == "sent"
    assert len(smtp_server.messages) == 3
    assert Message.objects.get(status="frequency_capped").error == (
        "frequency cap: at most 2 email per day"
    )


def test_several_messages_of_one_batch_count_against_each_other(
    client, api_base, workspace, ada, smtp_server
):
    FrequencyCap.objects.create(workspace=workspace, channel="email", limit=1, period_seconds=3600)
    journeys = [journey_create(workspace, steps=[send_step()]) for _ in range(3)]
    runs = [enroll(client, api_base, journey) for journey in journeys]

    runs_walk(runs_claim(run_ids=[run.pk for run in runs]))  # one batch, one commit

    assert sorted(outcome(run) for run in runs) == ["frequency_capped", "frequency_capped", "sent"]
    assert len(smtp_server.messages) == 1


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_to_one_customer_at_once_cannot_both_pass_the_cap(
    client, api_base, workspace, smtp_server
):
    """Four workers, each walking one of a customer's runs in four journeys, at the same
    instant, round after round: with a cap of one, exactly one message per customer."""
    FrequencyCap.objects.create(workspace=workspace, channel="email", limit=1, period_seconds=3600)
    journeys = [journey_create(workspace, steps=[send_step()]) for _ in range(4)]
    for round_number in range(8):
        external_id = f"racer_{round_number}"
        Customer.objects.create(
            workspace=workspace, external_id=external_id, email=f"{external_id}@example.com"
        )
        runs = iter([enroll(client, api_base, journey, external_id) for journey in journeys])
        take = itertools.count()
        run_ids = [run.pk for run in runs]

        def walk_one(run_ids=run_ids, take=take):
            runs_walk(runs_claim(run_ids=[run_ids[next(take)]]))

        in_parallel(walk_one, 4)

        sent = Message.objects.filter(recipient=f"{external_id}@example.com", status="sent")
        assert sent.count() == 1, f"round {round_number}"
    assert len(smtp_server.messages) == 8


# --- engagement -------------------------------------------------------------------------------


def test_a_branch_reads_what_became_of_an_earlier_message(
    client, api_base, workspace, ada, smtp_server
):
    from django.utils import timezone

    journey = journey_create(
        workspace,
        steps=[
            send_step("welcome", next="wait"),
            {"key": "wait", "type": "delay", "seconds": 60, "next": "opened"},
            {"key": "opened", "type": "branch",
             "condition": {"field": "messages.welcome.opened", "op": "eq", "value": True},
             "yes": "thanks", "no": "nudge"},
            send_step("thanks", subject="Thanks"),
            send_step("nudge", subject="Did you see?"),
        ],
    )  # fmt: skip
    opened_run = advance(enroll(client, api_base, journey, external_id="user_ada"))
    Customer.objects.create(workspace=workspace, external_id="user_bob", email="bob@example.com")
    ignored_run = advance(enroll(client, api_base, journey, external_id="user_bob"))
    Message.objects.filter(run_public_id=opened_run.public_id).update(opened_at=timezone.now())
    Enrollment.objects.update(wake_at=timezone.now())

    opened_run, ignored_run = advance(opened_run), advance(ignored_run)

    assert opened_run.state == ignored_run.state == Enrollment.State.COMPLETED
    subjects = {(mail["To"], mail["Subject"]) for mail in smtp_server.messages[2:]}
    assert subjects == {("ada@example.com", "Thanks"), ("bob@example.com", "Did you see?")}


def test_a_branch_right_after_a_send_sees_what_became_of_it(
    client, api_base, workspace, ada, smtp_server
):
    Suppression.objects.create(workspace=workspace, address="ada@example.com", reason="complaint")
    journey = journey_create(
        workspace,
        steps=[
            send_step("welcome", next="check"),
            {"key": "check", "type": "branch",
             "condition": {"field": "messages.welcome.status", "op": "eq", "value": "suppressed"},
             "yes": "fallback", "no": None},
            {"key": "fallback", "type": "update_customer", "set": {"reach_by": "sms"},
             "next": None},
        ],
    )  # fmt: skip

    run = advance(enroll(client, api_base, journey))

    assert run.state == Enrollment.State.COMPLETED
    assert outcome(run, "welcome") == "suppressed"
    ada.refresh_from_db()
    assert ada.attributes["reach_by"] == "sms"


@pytest.mark.parametrize(
    ("sender", "problem"),
    [
        ({"email": "josé@exämple.com"}, "ASCII"),
        ({"email": "a,b@acme.test"}, "e-mail address"),
        ({"email": "news@acme.test", "name": "x" * 101}, "at most 100"),
        ({"email": "news@acme.test", "name": "two\nlines"}, "one line"),
    ],
)
def test_a_sender_that_could_not_be_sent_from_is_refused_at_import(
    client, api_base, sender, problem
):
    document = {"name": "x", "sender": sender, "steps": [send_step()]}

    response = client.post(f"{api_base}/journeys", document, format="json")

    assert response.status_code == 400
    assert problem in response.json()["problems"][0]["message"]


def test_a_long_non_ascii_sender_name_is_encoded_and_sent(
    client, api_base, workspace, ada, smtp_server
):
    name = "東京の店" * 25  # 100 characters, four times longer once encoded
    journey = journey_create(
        workspace, sender={"name": name, "email": "shop@acme.test"}, steps=[send_step()]
    )

    run = advance(enroll(client, api_base, journey))

    assert outcome(run) == "sent"
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(smtp_server.messages[0]["From"]))) == (
        f"{name} <shop@acme.test>"
    )


def test_a_subject_with_a_line_break_fails_the_step_once_without_retries(
    client, api_base, workspace, ada, smtp_server
):
    journey = journey_create(workspace, steps=[send_step(subject="Hi {{ data.name }}")])

    run = advance(enroll(client, api_base, journey, payload={"name": "x\r\nBcc: all@example.com"}))

    assert run.state == Enrollment.State.FAILED
    assert "cannot be written" in run.error
    assert smtp_server.messages == []


def test_a_workspace_sender_or_zone_that_could_not_be_used_is_refused(workspace):
    from django.core.exceptions import ValidationError

    for field, value in (("sender_email", "josé@x.test"), ("sender_name", "a\nb"),
                         ("timezone", "Mars/Olympus")):  # fmt: skip
        setattr(workspace, field, value)
        with pytest.raises(ValidationError) as raised:
            workspace.full_clean()
        assert field in raised.value.message_dict
        workspace.refresh_from_db()
