"""Builders for rows the fixed cast in conftest.py does not cover."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from customers.models import Customer, Workspace
from journeys.authoring.definition import definition_normalize
from journeys.authoring.documents import journey_fields_from_definition
from journeys.models import Enrollment, Journey, JourneyVersion
from segments.models import Segment, SegmentMembership

WELCOME_STEPS = [
    {
        "key": "welcome",
        "type": "send",
        "channel": "email",
        "subject": "Welcome {{ customer.first_name }}",
        "body": "Order {{ api.payload.order_id }}",
        "next": None,
    }
]


def journey_definition(
    *,
    name: str = "Welcome",
    trigger: dict[str, Any] | None = None,
    entry: dict[str, Any] | None = None,
    steps: list[dict[str, Any]] | None = None,
    cancellation_key: str = "",
    **controls: Any,
) -> dict[str, Any]:
    """A document with these parts; ``controls`` are journey-wide ones (``exit``,
    ``goal``, ``sender``, ``send_window``), written when given."""
    return {
        "name": name,
        "trigger": {
            "type": "api",
            "event": "",
            "schema": [],
            "conditions": None,
            **(trigger or {}),
        },
        "entry": {
            "allow_reentry": False,
            "max_entries_per_customer": None,
            "reentry_cooldown_seconds": 0,
            "restart_active": True,
            "conditions": None,
            **(entry or {}),
        },
        "cancellation_key": cancellation_key,
        **controls,
        "start": (steps or WELCOME_STEPS)[0]["key"],
        "steps": steps or WELCOME_STEPS,
    }


def journey_create(
    workspace: Workspace, *, status: str = Journey.Status.LIVE, **definition_parts: Any
) -> Journey:
    """A journey with one published version, as publishing leaves it.

    The document goes through the importer's normaliser and column mapping, so the
    rows are the ones the product itself would write (without publish's graph checks,
    which some tests need to bypass).
    """
    if "name" not in definition_parts:
        # Names are unique per workspace: a test's second journey is "Welcome (2)".
        taken = set(Journey.objects.filter(workspace=workspace).values_list("name", flat=True))
        names = ("Welcome", *(f"Welcome ({number})" for number in range(2, len(taken) + 3)))
        definition_parts["name"] = next(name for name in names if name not in taken)
    definition = definition_normalize(journey_definition(**definition_parts))
    journey = Journey.objects.create(
        workspace=workspace, status=status, **journey_fields_from_definition(definition)
    )
    if status != Journey.Status.DRAFT:
        journey.live_version = JourneyVersion.objects.create(
            journey=journey, number=1, definition=definition
        )
        journey.save(update_fields=["live_version"])
    return journey


def customers_create(workspace: Workspace, count: int, *, prefix: str = "user") -> list[Customer]:
    return Customer.objects.bulk_create(
        Customer(workspace=workspace, external_id=f"{prefix}_{i}", email=f"{prefix}{i}@example.com")
        for i in range(count)
    )


def segment_create(workspace: Workspace, members: list[Customer], **fields: Any) -> Segment:
    segment = Segment.objects.create(workspace=workspace, name=fields.pop("name", "VIPs"), **fields)
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, customer=customer) for customer in members
    )
    return segment


def run_finish(run: Enrollment, *, state: str, ago_seconds: int = 0) -> Enrollment:
    """Move a run to a final state, as the engine will, ``ago_seconds`` in the past."""
    run.state = state
    run.finished_at = timezone.now() - timedelta(seconds=ago_seconds)
    run.save(update_fields=["state", "finished_at"])
    return run


def runs_waiting_create(
    journey: Journey, customers: list[Customer], *, wake_at: Any, step: str | None = None
) -> list[Enrollment]:
    """Active runs of ``journey`` on ``step`` (its start), due at ``wake_at``, unleased."""
    version = journey.live_version
    now = timezone.now()
    start = step or version.definition["start"]
    fields = {"workspace_id": journey.workspace_id, "journey": journey, "version": version}
    runs = [
        Enrollment(**fields, customer=customer, current_step=start, wake_at=wake_at, entered_at=now)
        for customer in customers
    ]
    return Enrollment.objects.bulk_create(runs)
