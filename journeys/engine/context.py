"""The context a run's templates and conditions see (DESIGN.md section 4).

Roots: ``customer``, ``api.payload`` / ``api.properties``, ``data``, ``event``,
``profile`` (the customer's fields and attributes merged with the profile sent at
trigger time, request fields winning), ``tenant``, ``steps.<key>`` (saved webhook
responses), ``journey`` and ``run_id``; and each top-level payload key by name, where
the named roots win a clash.
"""

from typing import Any

from customers.models import TenantProfile
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
    return {**payload, **named}


def _tenant(run: Enrollment, tenant_id: str | None) -> dict[str, Any]:
    if not tenant_id:
        return {}
    profile = (
        TenantProfile.objects.filter(customer_id=run.customer_id, tenant_id=tenant_id)
        .values_list("profile", flat=True)
        .first()
    )
    return {"id": tenant_id, **(profile or {})}
