"""The embedded default's demo: a workspace, a key, a customer and a live journey.

``manage.py embedded`` calls :func:`demo_setup` on every start. The workspace, customer
and journey are created once and found again by name (a demo journey someone archived
or broke in the admin is replaced by a fresh copy).

The demo key is kept across restarts, so that a curl line saved from an earlier start
still works: its secret (stored only as a hash in the database, like every key's) is
kept in ``VAR_DIR/demo-api-key``, readable by its owner alone, beside the SQLite
database it opens. A key revoked in the admin, or a file lost, gets a new key (and
any other demo key is revoked).
"""

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customers.errors import DomainError
from customers.models import ApiKey, Customer, Workspace
from journeys.authoring.services import journey_import, journey_publish
from journeys.models import Journey

DEMO_WORKSPACE = "Demo"
DEMO_JOURNEY_FILE = Path(__file__).parents[1] / "examples" / "welcome.json"
DEMO_EXTERNAL_ID = "demo-user"


def demo_key_path() -> Path:
    """Where the demo key's secret is kept between starts."""
    return settings.VAR_DIR / "demo-api-key"


@dataclass(frozen=True)
class Demo:
    workspace: Workspace
    journey: Journey
    customer: Customer
    raw_api_key: str

    def trigger_curl(self, base_url: str) -> str:
        url = (
            f"{base_url}/api/v1/workspaces/{self.workspace.public_id}"
            f"/journeys/{self.journey.public_id}/trigger"
        )
        body = json.dumps({"external_id": DEMO_EXTERNAL_ID, "payload": {"plan": "pro"}})
        return (
            f"curl -sS -X POST {url} -H 'Authorization: Bearer {self.raw_api_key}' "
            f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
        )


@transaction.atomic
def demo_setup() -> Demo:
    workspace = Workspace.objects.filter(name=DEMO_WORKSPACE).order_by("pk").first()
    if workspace is None:
        workspace = Workspace.objects.create(name=DEMO_WORKSPACE)
    customer, _ = Customer.objects.get_or_create(
        workspace=workspace,
        external_id=DEMO_EXTERNAL_ID,
        defaults={"email": "demo@example.com", "attributes": {"first_name": "Dana"}},
    )
    journey = _demo_journey(workspace)
    return Demo(
        workspace=workspace, journey=journey, customer=customer, raw_api_key=_demo_key(workspace)
    )


def _demo_key(workspace: Workspace) -> str:
    """The kept demo key's secret if it still works, else a new key's (saved for next
    time; the other demo keys are revoked)."""
    saved = demo_key_path()
    raw_key = saved.read_text().strip() if saved.exists() else ""
    if raw_key:
        key = ApiKey.objects.for_raw_key(raw_key)
        if key is not None and key.workspace_id == workspace.pk and not key.is_revoked:
            return raw_key
    ApiKey.objects.filter(workspace=workspace, name="demo", revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    _, raw_key = ApiKey.objects.create_key(workspace=workspace, name="demo")
    saved.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(raw_key + "\n")
    return raw_key


def _demo_journey(workspace: Workspace) -> Journey:
    """The demo journey, live. One that is paused (or a draft) is published again; when
    that cannot be (archived, or edited into a draft that does not publish), a fresh copy
    is imported under the next free name, as names are unique per workspace."""
    document = json.loads(DEMO_JOURNEY_FILE.read_text())
    name = document["name"]
    names = [name, *(f"{name} ({number})" for number in range(2, 100))]
    journeys = {
        journey.name: journey
        for journey in Journey.objects.filter(workspace=workspace, name__in=names)
    }
    for journey in journeys.values():
        if journey.status == Journey.Status.LIVE:
            return journey
    for journey in journeys.values():
        if journey.status != Journey.Status.ARCHIVED:
            try:
                journey_publish(journey=journey)
            except DomainError:
                continue
            return journey
    document["name"] = next(candidate for candidate in names if candidate not in journeys)
    journey = journey_import(workspace=workspace, document=document)
    journey_publish(journey=journey)
    journey.refresh_from_db()
    return journey
