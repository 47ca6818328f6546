"""Journey fixtures shared by the journeys tests: a small valid document, that document
imported and published, and a sender of event batches."""

import json
from typing import Any

import pytest

from journeys.authoring.services import journey_import, journey_publish
from journeys.models import Journey


@pytest.fixture
def journey_document() -> dict[str, Any]:
    """DESIGN.md section 6's example, written out in full canonical form.

    A fresh copy per test, so tests may change it freely.
    """
    return {
        "name": "Order confirmation",
        "trigger": {
            "type": "api",
            "event": None,
            "schema": [
                {"name": "order_id", "type": "string"},
                {"name": "total", "type": "number"},
            ],
            "conditions": None,
        },
        "entry": {
            "allow_reentry": False,
            "max_entries_per_customer": None,
            "reentry_cooldown_seconds": 0,
            "restart_active": True,
            "conditions": None,
        },
        "cancellation_key": None,
        "start": "confirm",
        "steps": [
            {
                "key": "confirm",
                "type": "send",
                "channel": "email",
                "subject": "Order {{ api.payload.order_id }}",
                "body": "Hi {{ customer.first_name }}",
                "transactional": True,
                "next": "wait",
            },
            {"key": "wait", "type": "delay", "seconds": 86400, "next": "vip"},
            {
                "key": "vip",
                "type": "branch",
                "condition": {"field": "customer.plan", "op": "eq", "value": "vip"},
                "yes": "sms",
                "no": None,
            },
            {
                "key": "sms",
                "type": "send",
                "channel": "sms",
                "body": "Thanks!",
                "transactional": True,
                "next": None,
            },
        ],
    }


@pytest.fixture
def live_journey(workspace, journey_document) -> Journey:
    """``journey_document`` imported into ``workspace`` and published (version 1)."""
    journey = journey_import(workspace=workspace, document=journey_document)
    journey_publish(journey=journey)
    return journey


@pytest.fixture
def send(client, api_base):
    """POST a batch of messages to the native events API; answers its JSON."""

    def post(*messages):
        response = client.post(
            f"{api_base}/events/batch",
            json.dumps({"batch": list(messages)}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return response.json()

    return post
