"""Schemathesis holds the OpenAPI schema and the server together.

A real server (gunicorn, two workers, on the test database) answers schemathesis's
every phase (the schema's examples, boundary values of every constraint, random
valid and invalid requests, and chains of calls following the links between
operations) with every check (``--checks all``): a 500, an answer the schema does not
list, a body it does not describe, a valid request refused or an invalid one accepted
all fail this test. The run is deterministic and bounded: the same run every time.
What the schema cannot say is said in ``schemathesis.toml`` (ids that exist) and
``schemathesis_hooks.py`` (rules OpenAPI 3.0 cannot state).
"""

import os
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path
from string import Template

import pytest
import requests
from rest_framework.pagination import Cursor

from customers.models import ApiKey, Customer, Workspace
from delivery.state_webhooks.endpoints import webhook_endpoint_create
from journeys.entry.dialects.courier.api import CourierJourneyListView
from journeys.entry.service import Audience, journey_trigger
from journeys.models import Journey
from segments.models import Segment, SegmentMembership
from tests.factories import journey_create

HERE = Path(__file__).resolve().parent
#: Examples per operation and phase: about a minute of calls on two cores. One worker:
#: gunicorn has the other core, and with two, Hypothesis's calls into CPython 3.11's
#: parser from two threads now and then fail ("AST constructor recursion depth mismatch").
MAX_EXAMPLES = 50
#: High enough that the run never meets the rate limit (its 429 is tested elsewhere).
UNLIMITED = 1_000_000


def _free_port() -> int:
    """A free loopback port in 18100-18199 (the range this suite's servers use)."""
    for port in range(18100, 18200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18100-18199")


def _rows() -> dict[str, str]:
    """The rows calls should reach, as the ``ST_...`` values schemathesis.toml reads.

    Operations that change state get rows of their own: archiving a journey must not
    turn every trigger into a 404.
    """
    workspace = Workspace.objects.create(name="Schemathesis")
    api_key, raw_key = ApiKey.objects.create_key(workspace=workspace, name="schemathesis")
    api_key.rate_limit_per_minute = api_key.trigger_rate_limit_per_minute = UNLIMITED
    api_key.save(update_fields=["rate_limit_per_minute", "trigger_rate_limit_per_minute"])
    customer = Customer.objects.create(
        workspace=workspace, external_id="st-user-1", email="st-user-1@example.com"
    )
    erased = Customer.objects.create(workspace=workspace, external_id="st-user-2")
    live = journey_create(workspace, name="Triggered", entry={"allow_reentry": True})
    lifecycle = journey_create(workspace, name="Lifecycle")
    draft = journey_create(workspace, name="Draft", status=Journey.Status.DRAFT)
    # Bodies name a customer at data.email, made when unknown; no signature is checked.
    hooked = journey_create(
        workspace,
        name="Hooked",
        trigger={"type": "webhook", "identify": {"email": "data.email"}},
        entry={"allow_reentry": True},
    )
    rotated = journey_create(  # rotating its URL leaves Hooked's working
        workspace, name="Rotated", trigger={"type": "webhook", "identify": {"email": "data.e"}}
    )
    segment = Segment.objects.create(workspace=workspace, name="Static", kind=Segment.Kind.STATIC)
    SegmentMembership.objects.create(segment=segment, customer=customer)
    mailing_list = Segment.objects.create(
        workspace=workspace, name="List", kind=Segment.Kind.STATIC, list_email="st-list@example.com"
    )
    SegmentMembership.objects.create(segment=mailing_list, customer=customer)
    webhook_endpoint_create(workspace=workspace, url="https://example.com/hooks")
    run = journey_trigger(
        workspace=workspace,
        journey_id=live.public_id,
        audience=Audience(external_id=customer.external_id),
        payload={},
    )
    cancelled = journey_trigger(  # a run of its own for the cancel operations
        workspace=workspace,
        journey_id=lifecycle.public_id,
        audience=Audience(external_id=customer.external_id),
        payload={},
    )
    return {
        "ST_CANCEL_RUN_ID": cancelled.run_id,
        "ST_WORKSPACE_ID": workspace.public_id,
        "ST_API_KEY": raw_key,
        "ST_CUSTOMER_ID": customer.public_id,
        "ST_EXTERNAL_ID": customer.external_id,
        "ST_EMAIL": customer.email,
        "ST_ERASED_CUSTOMER_ID": erased.public_id,
        "ST_JOURNEY_ID": live.public_id,
        "ST_LIFECYCLE_JOURNEY_ID": lifecycle.public_id,
        "ST_DRAFT_JOURNEY_ID": draft.public_id,
        "ST_WEBHOOK_JOURNEY_ID": rotated.public_id,
        "ST_WEBHOOK_TOKEN": hooked.webhook_token,
        "ST_SEGMENT_ID": segment.public_id,
        "ST_LIST_EMAIL": mailing_list.list_email,
        "ST_RUN_ID": run.run_id,
    }


def _cursor(base_url: str, rows: dict[str, str], path: str = "journeys", key: str = "next") -> str:
    """A cursor a page of a list gave (by default the journeys list's): the one kind a
    valid request has."""
    page = requests.get(
        f"{base_url}/{path}?limit=1".replace("{ws}", rows["ST_WORKSPACE_ID"]),
        headers={"Authorization": f"Bearer {rows['ST_API_KEY']}"},
        timeout=10,
    ).json()
    if key != "next":  # Courier's lists give the cursor alone
        return page[key]
    return urllib.parse.parse_qs(urllib.parse.urlsplit(page["next"]).query)["cursor"][0]


def _courier_journeys_cursor(rows: dict[str, str]) -> str:
    """A cursor of Courier's journey list, which pages by 100 (more than the rows hold)."""
    journey = Journey.objects.get(public_id=rows["ST_JOURNEY_ID"])
    paginator = CourierJourneyListView.Pagination()
    paginator.base_url = "http://testserver/"
    link = paginator.encode_cursor(Cursor(offset=0, reverse=False, position=str(journey.pk)))
    return urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["cursor"][0]


@pytest.fixture
def api_server(processes) -> str:
    """gunicorn serving the project on the test database; its base URL."""
    port = _free_port()
    group = processes()
    group.start(
        "web",
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--access-logfile", "-"],
        ready="Booting worker",
    )  # fmt: skip
    return f"http://127.0.0.1:{port}"


def test_the_server_answers_as_its_openapi_schema_says(api_server, tmp_path):
    rows = _rows()
    values = {
        **rows,
        "ST_CURSOR": _cursor(api_server, rows, "api/v1/workspaces/{ws}/journeys"),
        "ST_RUNS_CURSOR": _cursor(api_server, rows, "api/v1/workspaces/{ws}/runs"),
        "ST_COURIER_RUNS_CURSOR": _cursor(
            api_server, rows, "compat/courier/journeys/runs", key="next_cursor"
        ),
        "ST_COURIER_JOURNEYS_CURSOR": _courier_journeys_cursor(rows),
        "ST_HOOKS": str(HERE / "schemathesis_hooks.py"),
    }
    # Filled in here: schemathesis reads ${...} in parameters but not in dictionaries.
    config = tmp_path / "schemathesis.toml"
    config.write_text(Template((HERE / "schemathesis.toml").read_text()).substitute(values))

    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli",
         "--config-file", str(config),
         "run", f"{api_server}/api/schema/",
         "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
         "--generation-deterministic", "--workers", "1", "--no-color"],
        cwd=tmp_path, env={**os.environ, **values}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    report = tmp_path / "schemathesis.txt"
    report.write_text(run.stdout + run.stderr)
    failures = run.stdout[run.stdout.find("=== ERRORS") if "=== ERRORS" in run.stdout else 0 :]
    assert run.returncode == 0, f"full output in {report}\n" + failures[:30_000] + run.stderr
