"""The embedded default's demo: a workspace, a key, a customer and a live journey.

``manage.py embedded`` calls :func:`demo_setup` on every start. The workspace, customer
and journey are created once and found again by name; the API key is new each time
because a key's secret is shown only when it is created.
"""

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from customers.models import ApiKey, Customer, Workspace
from journeys.models import Journey
from journeys.services import journey_import, journey_publish

DEMO_WORKSPACE = "Demo"
DEMO_JOURNEY_FILE = Path(__file__).parent / "examples" / "welcome.json"
DEMO_EXTERNAL_ID = "demo-user"


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
    workspace, _ = Workspace.objects.get_or_create(name=DEMO_WORKSPACE)
    customer, _ = Customer.objects.get_or_create(
        workspace=workspace,
        external_id=DEMO_EXTERNAL_ID,
        defaults={"email": "demo@example.com", "attributes": {"first_name": "Dana"}},
    )
    document = json.loads(DEMO_JOURNEY_FILE.read_text())
    journey = Journey.objects.filter(workspace=workspace, name=document["name"]).first()
    if journey is None:
        journey = journey_import(workspace=workspace, document=document)
    if journey.status != Journey.Status.LIVE:
        journey_publish(journey=journey)
        journey.refresh_from_db()
    _, raw_key = ApiKey.objects.create_key(workspace=workspace, name="demo")
    return Demo(workspace=workspace, journey=journey, customer=customer, raw_api_key=raw_key)
