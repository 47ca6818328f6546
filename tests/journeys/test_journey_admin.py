"""The journey admin: what a marketer sees and can do without reading code."""

import copy
import json

import pytest
from django.utils import timezone

from journeys.authoring.services import journey_import
from journeys.models import Enrollment, Journey, StepRun
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


def run_action(admin_client, action, journeys):
    return admin_client.post(
        "/admin/journeys/journey/",
        {"action": action, "_selected_action": [j.pk for j in journeys]},
        follow=True,
    ).content.decode()


@pytest.fixture
def broken_draft(workspace, journey_document):
    document = copy.deepcopy(journey_document)
    document["name"] = "Broken draft"
    document["steps"][0]["next"] = "wiat"
    return journey_import(workspace=workspace, document=document)


def test_change_page_lists_publish_problems_of_a_draft(admin_client, broken_draft):
    response = admin_client.get(f"/admin/journeys/journey/{broken_draft.pk}/change/")

    assert response.status_code == 200
    assert "next points to unknown step" in response.content.decode()


def test_publish_action_reports_problems_and_successes(admin_client, broken_draft, live_journey):
    page = run_action(admin_client, "publish_journeys", [broken_draft, live_journey])

    assert "cannot be published" in page and "unknown step" in page
    assert "version 1 is live" in page
    broken_draft.refresh_from_db()
    assert broken_draft.status == Journey.Status.DRAFT


def test_pause_and_archive_actions_change_status(admin_client, live_journey, broken_draft):
    paused = run_action(admin_client, "pause_journeys", [live_journey, broken_draft])
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.PAUSED
    assert "only a live journey can be paused" in paused

    run_action(admin_client, "archive_journeys", [live_journey])
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.ARCHIVED


@pytest.mark.parametrize("action", ["publish_journeys", "pause_journeys", "archive_journeys"])
def test_a_view_only_staff_user_cannot_change_a_journey_status(staff_client, live_journey, action):
    browser = staff_client("view_journey")

    listing = browser.get("/admin/journeys/journey/").content.decode()
    run_action(browser, action, [live_journey])

    assert f'value="{action}"' not in listing
    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.LIVE


def test_editing_steps_validates_them(admin_client, broken_draft):
    form = {
        "name": "Edited", "trigger_type": "api", "trigger_event": "", "trigger_schema": "[]",
        "trigger_conditions": "null", "allow_reentry": "", "max_entries_per_customer": "",
        "reentry_cooldown_seconds": "0", "restart_active": "on", "entry_conditions": "null",
        "cancellation_key": "", "controls": "{}", "start_step": "",
        "steps": json.dumps([{"key": "a", "type": "sned"}]),
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    }  # fmt: skip
    rejected = admin_client.post(f"/admin/journeys/journey/{broken_draft.pk}/change/", form)
    form["steps"] = json.dumps([{"key": "a", "type": "send", "channel": "sms", "body": "hi"}])
    accepted = admin_client.post(f"/admin/journeys/journey/{broken_draft.pk}/change/", form)

    assert rejected.status_code == 200
    assert "unknown step type" in rejected.content.decode()
    assert accepted.status_code == 302
    broken_draft.refresh_from_db()
    assert broken_draft.name == "Edited"
    assert broken_draft.steps == [
        {"key": "a", "type": "send", "channel": "sms", "body": "hi", "next": None}
    ]


def test_runs_are_searchable_and_show_their_timeline(admin_client, live_journey, ada):
    run = Enrollment.objects.create(
        workspace=live_journey.workspace, journey=live_journey, version=live_journey.live_version,
        customer=ada, entered_at=timezone.now(),
    )  # fmt: skip
    StepRun.objects.create(
        enrollment=run, step_key="confirm", step_type="send", started_at=timezone.now()
    )

    listing = admin_client.get(f"/admin/journeys/enrollment/?state=active&q={run.public_id}")
    detail = admin_client.get(f"/admin/journeys/enrollment/{run.pk}/change/")

    assert listing.status_code == 200 and run.public_id in listing.content.decode()
    assert detail.status_code == 200 and "confirm" in detail.content.decode()


def test_versions_are_viewable(admin_client, live_journey):
    listing = admin_client.get("/admin/journeys/journeyversion/")
    detail = admin_client.get(
        f"/admin/journeys/journeyversion/{live_journey.live_version_id}/change/"
    )

    assert listing.status_code == detail.status_code == 200


def test_a_webhook_journeys_change_page_shows_its_url(admin_client, workspace):
    journey = journey_create(
        workspace, trigger={"type": "webhook", "identify": {"email": "data.email"}}
    )

    page = admin_client.get(f"/admin/journeys/journey/{journey.pk}/change/")

    assert page.status_code == 200
    assert f"/hooks/{journey.webhook_token}" in page.content.decode()
