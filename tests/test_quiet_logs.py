"""The embedded default's output stays readable: sweeps that found nothing say nothing
at INFO, and e-mails are logged as text (issue 10, section 6)."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from django.core.mail import EmailMessage, get_connection

import config.celery  # noqa: F401  (installs the filter, as every worker and beat does)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
READABLE = "delivery.console_email.ReadableConsoleBackend"


def records_kept(caplog, logger_name, message, *args):
    """Log as Celery does (a dict, or a tuple of arguments); how many records are kept."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        logging.getLogger(logger_name).info(message, *args)
    return len(caplog.records)


@pytest.mark.parametrize(
    "task", ["journeys.tasks.runs_sweep", "delivery.tasks.webhook_deliveries_sweep"]
)
def test_an_idle_sweep_logs_nothing(caplog, task):
    worker = {"id": "1", "name": task, "args": "()", "kwargs": "{}", "eta": None}
    assert records_kept(caplog, "celery.worker.strategy", LOG_RECEIVED, worker) == 0
    success = {**worker, "return_value": "0", "runtime": 0.001}
    assert records_kept(caplog, "celery.app.trace", LOG_SUCCESS, success) == 0
    beat = "Scheduler: Sending due task %s (%s)"
    assert records_kept(caplog, "celery.beat", beat, "runs-sweep", task) == 0


def test_a_sweep_that_queued_work_and_other_tasks_still_log(caplog):
    sweep = {"id": "1", "name": "journeys.tasks.runs_sweep", "return_value": "2",
             "runtime": 0.001, "args": "()", "kwargs": "{}"}  # fmt: skip
    assert records_kept(caplog, "celery.app.trace", LOG_SUCCESS, sweep) == 1
    advance = {"id": "2", "name": "journeys.tasks.runs_advance", "args": "([1],)",
               "kwargs": "{}", "eta": None}  # fmt: skip
    assert records_kept(caplog, "celery.worker.strategy", LOG_RECEIVED, advance) == 1


def test_without_email_url_email_is_logged_readably():
    """The settings, read afresh with no EMAIL_URL (the tests' own use locmem)."""
    script = "from django.conf import settings; print(settings.EMAIL_BACKEND)"
    env = {k: v for k, v in os.environ.items() if k != "EMAIL_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        env=env, capture_output=True, text=True, check=True, cwd=PROJECT_ROOT,
    ).stdout  # fmt: skip
    assert out.strip() == READABLE


def test_the_readable_backend_logs_each_email_as_text(caplog):
    message = EmailMessage(
        subject="Welcome, Dana", body="Thanks for choosing the prö plan ✓",
        from_email="journeys@localhost", to=["demo@example.com"],
        headers={"Message-ID": "<run_1.welcome.1@journeys>",
                 "List-Unsubscribe": "<http://127.0.0.1:8000/u/msg_1:sig>"},
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="delivery.email"):
        sent = get_connection(backend=READABLE).send_messages([message])

    assert sent == 1
    (record,) = caplog.records
    text = record.getMessage()
    for line in (
        "To: demo@example.com",
        "Subject: Welcome, Dana",
        "Message-ID: <run_1.welcome.1@journeys>",
        "List-Unsubscribe: <http://127.0.0.1:8000/u/msg_1:sig>",
        "Thanks for choosing the prö plan ✓",
    ):
        assert line in text
    assert "Content-Transfer-Encoding" not in text
