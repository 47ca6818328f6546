"""A journey's document and its columns: the draft is stored as Journey columns (the
admin edits them), and exported as the canonical document they describe."""

from typing import Any

from journeys.authoring.definition import CONTROL_FIELDS, TYPE_FIELDS, definition_normalize
from journeys.models import Journey


def journey_fields_from_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """The Journey model's column values for ``definition`` (normalised first)."""
    canonical = definition_normalize(definition)
    trigger, entry = canonical["trigger"], canonical["entry"]
    return {
        "name": canonical["name"],
        "trigger_type": trigger["type"],
        "trigger_event": trigger["event"] or "",
        "trigger_schema": trigger["schema"],
        "trigger_conditions": trigger["conditions"],
        "trigger_options": {
            name: trigger[name]
            for names in TYPE_FIELDS.values()
            for name in names
            if name in trigger
        },
        "allow_reentry": entry["allow_reentry"],
        "max_entries_per_customer": entry["max_entries_per_customer"],
        "reentry_cooldown_seconds": entry["reentry_cooldown_seconds"],
        "restart_active": entry["restart_active"],
        "entry_conditions": entry["conditions"],
        "cancellation_key": canonical["cancellation_key"] or "",
        "controls": {name: canonical[name] for name in CONTROL_FIELDS if name in canonical},
        "start_step": canonical["start"] or "",
        "steps": canonical["steps"],
    }


def definition_from_journey(journey: Journey) -> dict[str, Any]:
    """Export: the canonical document a journey's columns describe.

    The columns are read as stored (the admin and the importer only store normalised
    definitions), so exporting never fails and shows exactly what would be published.
    """
    return {
        "name": journey.name,
        "trigger": {
            "type": journey.trigger_type,
            "event": journey.trigger_event or None,
            "schema": journey.trigger_schema,
            "conditions": journey.trigger_conditions,
            **_type_options(journey),
        },
        "entry": {
            "allow_reentry": journey.allow_reentry,
            "max_entries_per_customer": journey.max_entries_per_customer,
            "reentry_cooldown_seconds": journey.reentry_cooldown_seconds,
            "restart_active": journey.restart_active,
            "conditions": journey.entry_conditions,
        },
        "cancellation_key": journey.cancellation_key or None,
        **{
            name: value
            for name, value in (journey.controls or {}).items()
            if name in CONTROL_FIELDS
        },
        "start": journey.start_step or None,
        "steps": journey.steps,
    }


def _type_options(journey: Journey) -> dict[str, Any]:
    """The fields of the journey's trigger type alone, with their defaults (nothing for
    the api and event triggers)."""
    options = journey.trigger_options or {}
    if journey.trigger_type == Journey.TriggerType.WEBHOOK:
        return {
            "identify": options.get("identify"),
            "signature": options.get("signature"),
            "create_customers": options.get("create_customers", True),
        }
    if journey.trigger_type == Journey.TriggerType.SEGMENT:
        return {"segment_id": options.get("segment_id")}
    return {}
