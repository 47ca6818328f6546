"""A marketer (a member of the workspace, in the "Marketer" group) builds "Welcome
series" in the admin with a real browser, without typing JSON: Playwright drives
Debian's Chromium against a live server, a real Celery worker sends the e-mails to a
real SMTP server. Screenshots of the pages are kept as artefacts (``SCREENSHOT_DIR``,
default ``var/screenshots``) for a person to look at.

The journey (issue 14's example): triggered through the API with a required ``plan``;
once per customer; send an e-mail; wait a day; branch on the plan; send another.
"""

import importlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.utils import timezone

from customers.models import ApiKey, WorkspaceMember
from journeys.models import Enrollment, Journey
from tests.e2e.conftest import wait_until

# Playwright's synchronous API runs an event loop in this thread; the test's own ORM
# calls happen between its calls, never inside it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "var/screenshots"))
PASSWORD = "a-marketer-password"


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (
        "Debian's chromium is needed for the browser tests (make test installs it)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def marketer_create(workspace) -> User:
    """A member of ``workspace`` in the "Marketer" group (made by a migration, made again
    here if an earlier test's flush took it)."""
    if not Group.objects.filter(name="Marketer").exists():
        migration = importlib.import_module("customers.migrations.0007_marketer_group")
        migration.marketer_group_create(django_apps, None)
    user = User.objects.create_user("marketer", "marketer@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    WorkspaceMember.objects.create(user=user, workspace=workspace)
    return user


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def field(container, name: str):
    """A form input of a django-jsonform editor by its path, e.g. ``0§key``."""
    return container.locator(f'[name="rjf§{name}"]')


def add_step(steps, index: int, kind: str) -> None:
    steps.locator(".rjf-add-button").last.click()
    steps.locator("select.rjf-oneof-selector-input").nth(index).select_option(label=kind)


@pytest.mark.django_db(transaction=True)
def test_a_marketer_builds_publishes_triggers_and_follows_the_welcome_series(
    processes, live_server, workspace, ada, smtp_server, browser_page
):
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    group.beat()
    marketer_create(workspace)
    _, raw_key = ApiKey.objects.create_key(workspace=workspace, name="browser test")
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    # --- build it, from an empty form ---
    page.goto(f"{live_server.url}/admin/journeys/journey/add/")
    workspace_field = page.locator("#id_workspace")
    if workspace_field.evaluate("node => node.tagName") == "SELECT":
        workspace_field.select_option(str(workspace.pk))
    else:
        workspace_field.fill(str(workspace.pk))
    page.fill("#id_name", "Welcome series")
    page.select_option("#id_trigger_type", "api")
    schema = page.locator("#id_trigger_schema_jsonform")
    schema.locator(".rjf-add-button").last.click()
    field(schema, "0§name").fill("plan")
    field(schema, "0§required").check()

    steps = page.locator("#id_steps_jsonform")
    add_step(steps, 0, "Send an e-mail")
    field(steps, "0§key").fill("welcome")
    field(steps, "0§subject").fill("Welcome, {{ customer.first_name }}")
    field(steps, "0§body").fill("Thanks for choosing {{ data.plan }}.")
    field(steps, "0§html").fill("<h1>Welcome!</h1><p>Thanks for choosing {{ data.plan }}.</p>")
    preview = page.locator("#html-previews iframe.html-body-preview").first
    assert "<h1>Welcome!</h1>" in preview.get_attribute("srcdoc")  # drawn as it is typed
    assert preview.content_frame.locator("h1").inner_text() == "Welcome!"
    field(steps, "0§transactional").check()
    add_step(steps, 1, "Wait")
    field(steps, "1§key").fill("wait")
    field(steps, "1§wait§amount").fill("1")
    field(steps, "1§wait§unit").select_option("days")
    add_step(steps, 2, "Branch: yes or no")
    field(steps, "2§key").fill("check_plan")
    steps.locator(".rjf-add-button").nth(-2).click()  # the branch's rules (last: add step)
    field(steps, "2§condition§rules§0§field").fill("data.plan")
    field(steps, "2§condition§rules§0§value").fill("pro")
    field(steps, "2§yes").fill("pro_tips")
    add_step(steps, 3, "Send an e-mail")
    field(steps, "3§key").fill("pro_tips")
    field(steps, "3§subject").fill("Three things pro users love")
    field(steps, "3§body").fill("Hi {{ customer.first_name }}, here is how to use {{ data.plan }}.")
    field(steps, "3§topic").fill("")
    shot(page, "01-journey-form-filled")
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    shot(page, "02-journey-saved")

    journey = Journey.objects.get(name="Welcome series")
    assert [step["key"] for step in journey.steps] == ["welcome", "wait", "check_plan", "pro_tips"]
    assert journey.steps[1]["seconds"] == 86400
    assert journey.steps[2]["condition"] == {"field": "data.plan", "op": "eq", "value": "pro"}
    assert journey.trigger_schema == [{"name": "plan", "type": "string", "required": True}]

    # --- publish it ---
    page.goto(f"{live_server.url}/admin/journeys/journey/")
    page.locator(f'input[name="_selected_action"][value="{journey.pk}"]').check()
    page.select_option("select[name=action]", "publish_journeys")
    page.click("button[name=index]")
    page.wait_for_load_state()
    shot(page, "03-journey-published")
    journey.refresh_from_db()
    assert journey.status == Journey.Status.LIVE, page.content()[:2000]

    # --- copy the shown cURL command and run it ---
    page.goto(f"{live_server.url}/admin/journeys/journey/{journey.pk}/try/")
    shot(page, "04-try-it")
    command = page.locator("#curl-1").inner_text()
    assert "$KEY" in command and "/trigger" in command
    # As a user would: their customer instead of the example's, a plan of theirs.
    command = command.replace("user_123", ada.external_id).replace('"text"', '"pro"')
    answer = subprocess.run(
        ["bash", "-c", command], env={**os.environ, "KEY": raw_key},
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert '"enrolled"' in answer.stdout, answer.stdout + answer.stderr
    run = Enrollment.objects.get(journey=journey, customer=ada)

    # The welcome e-mail goes at once; the run then waits its day, which we let pass.
    assert wait_until(lambda: smtp_server.messages, 30), group.log("worker")
    assert smtp_server.messages[0]["Subject"] == "Welcome, Ada"
    assert wait_until(
        lambda: Enrollment.objects.filter(pk=run.pk, current_step="wait").exists(), 30
    )
    Enrollment.objects.filter(pk=run.pk).update(wake_at=timezone.now())
    assert wait_until(
        lambda: Enrollment.objects.filter(pk=run.pk, state="completed").exists(), 60
    ), group.log("worker")

    # --- see it complete on the run page ---
    page.goto(f"{live_server.url}/admin/journeys/enrollment/{run.pk}/change/")
    shot(page, "05-run-page")
    text = page.locator("#content").inner_text()
    assert "Completed" in text and "welcome" in text and "pro_tips" in text
    assert [mail["Subject"] for mail in smtp_server.messages] == [
        "Welcome, Ada",
        "Three things pro users love",
    ]
