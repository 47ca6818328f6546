"""A webhook trigger's request, from its secret URL to the one trigger service.

The journey is found by its URL's token (an unknown or rotated token is a 404, as is a
journey that is not live), the signature checked when the trigger asks for one, the
customer read from the body at ``trigger.identify`` and made when unknown (unless
``create_customers`` is false), and the body entered as the run's payload (``data``)
through :func:`journeys.entry.service.journey_trigger`: the same schema, conditions and
entry rules as every other trigger.
"""

import hashlib
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from customers.errors import InvalidRequest, NotFound, Unprocessable
from customers.services import customer_identify
from journeys.entry.hooks.signatures import signature_check
from journeys.entry.service import Audience, TriggerResult, journey_trigger
from journeys.models import Journey, journey_version_get
from journeys.spec import TriggerSpec

#: What a delivery id becomes in the idempotency table (its own key space).
_DELIVERY_KEY_PREFIX = "webhook:"


def webhook_journey(token: str) -> Journey:
    """The journey whose webhook URL carries ``token``."""
    journey = (
        Journey.objects.select_related("workspace", "live_version")
        .filter(webhook_token=token, trigger_type=Journey.TriggerType.WEBHOOK)
        .first()
    )
    if journey is None or journey.status != Journey.Status.LIVE or journey.live_version is None:
        raise NotFound("no webhook trigger at this URL")
    return journey


def webhook_trigger_spec(journey: Journey) -> TriggerSpec:
    """The trigger of the journey's live version (what was published, not the draft)."""
    version = journey.live_version
    return journey_version_get(journey.public_id, version.number, version.pk).spec.trigger


def webhook_signature_check(journey: Journey, body: bytes, headers: Mapping[str, str]) -> None:
    scheme = webhook_trigger_spec(journey).signature
    if scheme is not None:
        signature_check(scheme=scheme, secret=journey.webhook_secret, body=body, headers=headers)


def webhook_delivery_key(journey: Journey, payload: Any, headers: Mapping[str, str]) -> str | None:
    """The sender's id of this delivery, which its retries repeat: Standard Webhooks'
    ``webhook-id``, Stripe's event ``id``; None for a sender that gives none (then the
    request's own ``Idempotency-Key``, if any, is used)."""
    scheme = webhook_trigger_spec(journey).signature
    delivery = None
    if scheme == "standard":
        delivery = headers.get("webhook-id")
    elif scheme == "stripe" and isinstance(payload, dict) and isinstance(payload.get("id"), str):
        delivery = payload["id"]
    if not delivery:
        return None
    digest = hashlib.sha256(f"{journey.public_id}:{delivery}".encode()).hexdigest()
    return _DELIVERY_KEY_PREFIX + digest


@transaction.atomic
def webhook_trigger(*, journey: Journey, payload: Any) -> TriggerResult:
    """Enter the customer the body names into ``journey``, the body as the payload; all
    or nothing (a customer made for a body the trigger then refuses is not kept)."""
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object (it becomes the run's data)")
    trigger = webhook_trigger_spec(journey)
    name, value = _customer_identifier(trigger, payload)
    if trigger.create_customers:
        customer_identify(workspace=journey.workspace, **{name: value})
    return journey_trigger(
        workspace=journey.workspace,
        journey_id=journey.public_id,
        audience=Audience(**{name: value}),
        payload=payload,
        trigger_type=Journey.TriggerType.WEBHOOK,
        payload_name="data",
    )


def _customer_identifier(trigger: TriggerSpec, payload: dict[str, Any]) -> tuple[str, str]:
    """``(email | external_id, value)`` read from the body where ``identify`` says."""
    if trigger.identify is None:  # publishing refuses it; an old version may lack it
        raise Unprocessable("this webhook trigger does not say where the body names the customer")
    name, path = trigger.identify
    value: Any = {"data": payload}
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if name == "external_id" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # ids sent as numbers
    if not isinstance(value, str) or not value.strip():
        raise Unprocessable(
            f"the body names no customer: {path} must be the customer's {name}", field=path
        )
    return name, value
