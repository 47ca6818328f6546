"""The context a run's templates and conditions see (DESIGN.md section 4).

Roots: ``customer``, ``api.payload`` / ``api.properties``, ``data``, ``event``,
``profile`` (the customer's fields and attributes merged with the profile sent at
trigger time, request fields winning), ``tenant``, ``steps.<key>`` (saved webhook
responses), ``journey`` and ``run_id``; ``messages.<key>`` (what became of the message
a send step sent: sent, delivered, opened, clicked...) when the journey reads it; and
each top-level payload key by name, where the named roots win a clash.
"""

from typing import Any

from customers.models import TenantProfile
from delivery.models import Message
from journeys.models import Enrollment
from segments.conditions import customer_condition_context


def run_template_context(run: Enrollment) -> dict[str, Any]:
    stored = run.context or {}
    payload = stored.get("payload") or {}
    customer = customer_condition_context(run.customer)
    tenant_id = stored.get("tenant_id")
    named = {
        "customer": customer,
        "api": {"payload": payload, "properties": payload},
        "data": payload,
        "event": stored.get("event") or {},
        "profile": {**customer, **(stored.get("profile") or {})},
        "tenant": _tenant(run, tenant_id),
        "steps": stored.get("steps") or {},
        "journey": {
            "id": run.journey.public_id,
            "name": run.journey.name,
            "version": run.version.number,
        },
        "run_id": run.public_id,
    }
    if run.version.spec.reads_messages:
        named["messages"] = run_messages(run)
    return {**payload, **named}


#: ``messages.<key>.<flag>``: true once the provider reported it (engagement comes from
#: an e-mail service provider's tracking webhooks).
_ENGAGEMENT = {
    "delivered": "delivered_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "bounced": "bounced_at",
    "complained": "complained_at",
    "unsubscribed": "unsubscribed_at",
}


def run_messages(run: Enrollment) -> dict[str, dict[str, Any]]:
    """The run's messages by send step (the latest visit's): its status and engagement,
    for branches such as ``messages.welcome.opened``."""
    answer: dict[str, dict[str, Any]] = {}
    for message in Message.objects.filter(
        customer_id=run.customer_id, run_public_id=run.public_id
    ).order_by("created_at", "id"):
        answer[message.step_key] = {
            "id": message.public_id,
            "status": message.status,
            "sent": message.status == Message.Status.SENT,
            "sent_at": message.sent_at.isoformat() if message.sent_at else None,
            **{flag: getattr(message, column) is not None for flag, column in _ENGAGEMENT.items()},
        }
    return answer


def _tenant(run: Enrollment, tenant_id: str | None) -> dict[str, Any]:
    if not tenant_id:
        return {}
    profile = (
        TenantProfile.objects.filter(customer_id=run.customer_id, tenant_id=tenant_id)
        .values_list("profile", flat=True)
        .first()
    )
    return {"id": tenant_id, **(profile or {})}
