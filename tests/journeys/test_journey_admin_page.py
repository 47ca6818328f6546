"""The journey's change page and list, as a marketer uses them: the picture with runs
waiting, Publish / Pause / Resume / Archive buttons, problems beside their steps, what
is live and what the draft changed, list columns, unique names; runs named and timed."""

import copy
import datetime
import re

import pytest
from django.utils import timezone

from journeys.authoring.services import journey_import, journey_update
from journeys.models import Enrollment, Journey, StepRun
from tests.factories import customers_create

pytestmark = pytest.mark.django_db


def page_of(admin_client, journey):
    response = admin_client.get(f"/admin/journeys/journey/{journey.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def press(admin_client, journey, action):
    return admin_client.post(f"/admin/journeys/journey/{journey.pk}/{action}/", follow=True)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def draft(workspace, journey_document):
    return journey_import(workspace=workspace, document=journey_document)


def run_at(journey, customer, step, state="active"):
    return Enrollment.objects.create(
        workspace=journey.workspace, journey=journey, version=journey.live_version,
        customer=customer, current_step=step, state=state, entered_at=timezone.now(),
    )  # fmt: skip


def test_the_change_page_draws_the_graph_with_the_runs_waiting_at_each_step(
    admin_client, live_journey, workspace
):
    ada, bob, cy = customers_create(workspace, 3)
    run_at(live_journey, ada, "wait")
    run_at(live_journey, bob, "wait")
    run_at(live_journey, cy, "wait", state="completed")

    page = page_of(admin_client, live_journey)

    assert '<svg xmlns="http://www.w3.org/2000/svg" class="journey-graph"' in page
    wait_box = re.search(r'<g class="jg-step" data-step="wait">.*?</g>', page).group(0)
    assert "delay" in wait_box and "2 waiting now" in wait_box
    assert "send · email" in page and "send · sms" in page
    assert ">yes</text>" in page and ">no</text>" in page


def test_a_step_key_with_markup_is_escaped_on_the_page(admin_client, workspace, journey_document):
    journey_document["name"] = "<script>alert('name')</script>"
    journey_document["steps"][0]["subject"] = "<script>alert('subject')</script>"
    journey = journey_import(workspace=workspace, document=journey_document)
    # Keys cannot hold markup (the definition refuses it); a hand-edited row might.
    Journey.objects.filter(pk=journey.pk).update(
        steps=[{**journey.steps[0], "key": "<script>x</script>", "next": None}],
        start_step="<script>x</script>",
    )

    page = page_of(admin_client, journey)

    assert "<script>x</script>" not in page and "<script>alert(" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_publish_makes_the_draft_live_and_says_so(admin_client, draft):
    response = press(admin_client, draft, "publish")

    draft.refresh_from_db()
    assert draft.status == Journey.Status.LIVE and draft.live_version.number == 1
    assert response.redirect_chain[-1][0] == f"/admin/journeys/journey/{draft.pk}/change/"
    assert messages_of(response) == ["Order confirmation: version 1 is live"]
    assert "The draft has no unpublished changes" in response.content.decode()


def test_publishing_with_warnings_says_where_they_are(admin_client, draft):
    Journey.objects.filter(pk=draft.pk).update(
        steps=[{**draft.steps[0], "body": "Coupon {{ data.coupon }}"}, *draft.steps[1:]]
    )

    response = press(admin_client, draft, "publish")

    assert messages_of(response) == [
        "Order confirmation: version 1 is live",
        "Order confirmation: 1 warning, listed under the picture.",
    ]
    assert '<tr class="jp-warning"><td>confirm</td><td><code>body</code>' in (
        response.content.decode()
    )


def test_pause_then_resume_then_archive(admin_client, live_journey):
    paused = press(admin_client, live_journey, "pause")
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.PAUSED
    assert messages_of(paused) == ["Order confirmation: paused"]
    assert "/resume/" in paused.content.decode() and "/pause/" not in paused.content.decode()

    resumed = press(admin_client, live_journey, "resume")
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.LIVE
    assert messages_of(resumed) == ["Order confirmation: resumed; version 1 is live"]

    archived = press(admin_client, live_journey, "archive")
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.ARCHIVED
    assert messages_of(archived) == ["Order confirmation: archived"]
    assert 'formaction="/admin/journeys/journey/' not in archived.content.decode()


def test_enter_in_a_field_still_saves_rather_than_pressing_a_lifecycle_button(
    admin_client, live_journey
):
    page = page_of(admin_client, live_journey)

    form = page[page.index('id="journey_form"') :]
    first_submit = re.search(r'<(?:button|input) type="submit"[^>]*>', form).group(0)
    assert 'name="_save"' in first_submit and "formaction" not in first_submit


def test_a_refused_transition_is_an_error_message(admin_client, draft):
    response = press(admin_client, draft, "pause")

    assert messages_of(response) == [
        "Order confirmation: only a live journey can be paused; this journey is draft"
    ]
    draft.refresh_from_db()
    assert draft.status == Journey.Status.DRAFT


@pytest.mark.parametrize("action", ["publish", "pause", "resume", "archive"])
def test_a_get_changes_nothing(admin_client, live_journey, action):
    response = admin_client.get(f"/admin/journeys/journey/{live_journey.pk}/{action}/")

    assert response.status_code == 405
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.LIVE


def test_the_buttons_need_the_csrf_token(live_journey, django_user_model):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(django_user_model.objects.create_superuser("m", "m@example.com", "pw"))

    response = browser.post(f"/admin/journeys/journey/{live_journey.pk}/archive/")

    assert response.status_code == 403
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.LIVE


def test_a_view_only_user_sees_no_buttons_and_cannot_press_them(staff_client, live_journey):
    browser = staff_client("view_journey")

    page = browser.get(f"/admin/journeys/journey/{live_journey.pk}/change/").content.decode()
    pressed = browser.post(f"/admin/journeys/journey/{live_journey.pk}/archive/")

    assert "/archive/" not in page
    assert pressed.status_code == 403
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.LIVE


def test_a_refused_publish_shows_each_problem_beside_its_step_and_field(
    admin_client, workspace, journey_document
):
    journey_document["steps"][0]["next"] = "wiat"
    journey_document["steps"][3]["body"] = "Hi {{ nope.name }}"
    journey = journey_import(workspace=workspace, document=journey_document)

    response = press(admin_client, journey, "publish")
    page = response.content.decode()

    assert messages_of(response) == [
        "Order confirmation cannot be published: 5 problems, listed under the picture "
        "beside the step and field each concerns."
    ]
    rows = re.findall(r'<tr class="jp-error"><td>([^<]*)</td><td>(?:<code>)?([^<]*)<', page)
    assert ("confirm", "next") in rows and ("sms", "body") in rows and ("vip", "-") in rows
    # The step with the problem is marked on the picture too.
    assert 'class="jg-step jg-flagged" data-step="confirm"' in page
    # Not as list items inside the message box (drawn as green check marks).
    messagelist = re.search(r'<ul class="messagelist">.*?</ul>', page, re.S).group(0)
    assert messagelist.count("<li") == 1
    journey.refresh_from_db()
    assert journey.status == Journey.Status.DRAFT


def test_the_page_names_the_live_version_and_the_steps_the_draft_changed(
    admin_client, live_journey, journey_document
):
    changed = copy.deepcopy(journey_document)
    changed["steps"][1]["seconds"] = 3600
    changed["steps"][3]["next"] = "bye"
    changed["steps"].append({"key": "bye", "type": "exit"})
    journey_update(journey=live_journey, document=changed)

    page = page_of(admin_client, live_journey)

    assert "Version 1 (live, published " in page
    assert "The draft has unpublished changes" in page
    assert "steps added: bye" in page and "steps changed: wait, sms" in page
    assert ">Publish the changes</button>" in page


def test_a_live_journey_without_changes_offers_no_publish(admin_client, live_journey):
    page = page_of(admin_client, live_journey)

    assert "The draft has no unpublished changes" in page
    assert "/publish/" not in page and ">Pause</button>" in page


def test_the_list_shows_status_live_version_runs_active_and_trigger(
    admin_client, live_journey, workspace, journey_document, django_assert_max_num_queries
):
    journey_document["name"] = "Second"
    draft = journey_import(workspace=workspace, document=journey_document)
    ada, bob, cy = customers_create(workspace, 3)
    run_at(live_journey, ada, "wait")
    run_at(live_journey, bob, "confirm")
    run_at(live_journey, cy, "wait", state="exited")

    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/journeys/journey/")
    page = response.content.decode()

    for column in ("status", "live version", "runs active", "trigger type"):
        assert f">{column.capitalize()}<" in page or f">{column}<" in page.lower()
    rows = re.findall(r"<tr[^>]*>(?:(?!<tr).)*?</tr>", page, re.S)
    (live_row,) = [row for row in rows if live_journey.public_id in row]
    (draft_row,) = [row for row in rows if draft.public_id in row]
    assert '<td class="field-runs_active">2</td>' in live_row
    assert '<td class="field-live_version_number">1</td>' in live_row
    assert '<td class="field-status">Live</td>' in live_row
    assert '<td class="field-trigger_type">Api</td>' in live_row
    assert '<td class="field-runs_active">0</td>' in draft_row


def journey_form(journey, **changes):
    form = {
        "name": journey.name, "trigger_type": "api", "trigger_event": "", "trigger_schema": "[]",
        "trigger_conditions": "null", "trigger_options": "{}", "allow_reentry": "",
        "max_entries_per_customer": "", "reentry_cooldown_seconds": "0", "restart_active": "on",
        "entry_conditions": "null", "cancellation_key": "", "controls": "{}",
        "start_step": "", "steps": "[]",
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    }  # fmt: skip
    form.update(changes)
    return form


def test_the_admin_refuses_a_name_another_journey_of_the_workspace_has(
    admin_client, live_journey, workspace, journey_document
):
    journey_document["name"] = "Other"
    other = journey_import(workspace=workspace, document=journey_document)

    renamed = admin_client.post(
        f"/admin/journeys/journey/{other.pk}/change/",
        journey_form(other, name="Order confirmation"),
    )
    added = admin_client.post(
        "/admin/journeys/journey/add/",
        journey_form(other, name="Order confirmation", workspace=workspace.pk),
    )

    for response in (renamed, added):
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert errors == {
            "name": [
                "a journey named 'Order confirmation' already exists in this workspace; "
                "choose another name"
            ]
        }
    other.refresh_from_db()
    assert other.name == "Other"
    assert Journey.objects.filter(name="Order confirmation").count() == 1
    assert admin_client.get("/admin/journeys/journey/add/").status_code == 200


def test_runs_are_called_runs_and_their_times_show_to_the_second(
    admin_client, live_journey, workspace
):
    (ada,) = customers_create(workspace, 1)
    entered = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    run = run_at(live_journey, ada, "wait")
    Enrollment.objects.filter(pk=run.pk).update(entered_at=entered)
    StepRun.objects.create(
        enrollment=run, step_key="confirm", step_type="send", started_at=entered,
        finished_at=entered + datetime.timedelta(seconds=3),
    )  # fmt: skip

    listing = admin_client.get("/admin/journeys/enrollment/").content.decode()
    detail = admin_client.get(f"/admin/journeys/enrollment/{run.pk}/change/").content.decode()
    index = admin_client.get("/admin/").content.decode()

    shown = timezone.localtime(entered)
    assert shown.strftime("%Y-%m-%d %H:%M:%S") in listing
    assert "Select run to view" in listing or "runs" in listing.lower()
    assert ">Runs<" in index and "Enrollments" not in index
    assert "Steps of this run" in detail
    finished = timezone.localtime(entered + datetime.timedelta(seconds=3))
    assert finished.strftime("%Y-%m-%d %H:%M:%S") in detail


def test_the_page_counts_runs_and_what_each_step_did(admin_client, workspace, ada, grace):
    from tests.factories import journey_create

    journey = journey_create(
        workspace,
        name="Counted",
        steps=[{"key": "hello", "type": "send", "channel": "sms", "body": "x", "next": None}],
    )
    now = timezone.now()
    for customer, state, outcome in ((ada, "completed", "sent"), (grace, "active", "")):
        run = Enrollment.objects.create(
            workspace=workspace, journey=journey, version=journey.live_version,
            customer=customer, state=state, current_step="hello", entered_at=now,
            converted_at=now if customer == ada else None,
        )  # fmt: skip
        StepRun.objects.create(
            enrollment=run, step_key="hello", step_type="send", started_at=now, outcome=outcome
        )
    Journey.objects.filter(pk=journey.pk).update(status="live")

    text = admin_client.get(f"/admin/journeys/journey/{journey.pk}/change/").content.decode()

    assert "<td>2</td><td>1</td><td>1</td>" in text  # entered, active, completed
    assert "1 (50%)" in text  # converted
    assert "sent: 1" in text and "in progress: 1" in text


def test_the_page_renders_each_message_of_the_saved_draft(admin_client, workspace, ada):
    from tests.factories import journey_create

    journey = journey_create(
        workspace,
        name="Previewed",
        trigger={"schema": [{"name": "plan", "type": "string"}]},
        steps=[
            {"key": "hi", "type": "send", "channel": "email",
             "subject": "Hi {{ customer.first_name }}",
             "html": "<h1>{{ data.plan }} &amp; more</h1>", "next": "oops"},
            {"key": "oops", "type": "send", "channel": "email", "subject": "{{ data.nope }}",
             "body": "x", "next": None},
        ],
    )  # fmt: skip

    text = admin_client.get(f"/admin/journeys/journey/{journey.pk}/change/").content.decode()

    assert "Subject:</strong> Hi Ada" in text
    assert 'srcdoc="&lt;h1&gt;text &amp;amp; more&lt;/h1&gt;"' in text
    assert "data.nope is undefined" in text
