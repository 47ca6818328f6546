"""A published definition, parsed once into frozen dataclasses.

Versions never change, and the per-process version cache keeps each one, so a trigger
or a walker reads typed attributes (``version.spec.entry.single_entry``) instead of
key paths into the JSON on every call. The document's shape and defaults are decided
by :mod:`journeys.authoring.definition`; a published definition is always canonical,
so parsing here only reads, it never validates.

Steps stay the canonical dicts their executors read (one shape per step type,
documented in :mod:`journeys.authoring.definition`).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class SchemaField:
    """One declared payload field of an API trigger."""

    name: str
    type: str
    required: bool = False


@dataclass(frozen=True)
class TriggerSpec:
    type: str = "api"
    event: str | None = None
    schema: tuple[SchemaField, ...] = ()
    conditions: Mapping[str, Any] | None = None
    #: A webhook trigger's: which identifier names the customer, at which body path
    #: (``("email", "data.object.customer_email")``); the signature it checks; whether
    #: an unknown customer is created.
    identify: tuple[str, str] | None = None
    signature: str | None = None
    create_customers: bool = True
    #: A segment trigger's segment (``seg_...``): its new members enter.
    segment_id: str | None = None


@dataclass(frozen=True)
class EntryRules:
    """Who may enter, and how often (DESIGN.md section 4; seed 000)."""

    allow_reentry: bool = False
    max_entries_per_customer: int | None = None
    reentry_cooldown_seconds: int = 0
    restart_active: bool = True
    conditions: Mapping[str, Any] | None = None

    @property
    def single_entry(self) -> bool:
        """The seed: "maxEntriesPerCustomer is 1 or not set" means one entry, ever."""
        return not self.allow_reentry or self.max_entries_per_customer == 1

    @property
    def restarts_active(self) -> bool:
        return not self.single_entry and self.restart_active


@dataclass(frozen=True)
class JourneySpec:
    name: str = ""
    trigger: TriggerSpec = field(default_factory=TriggerSpec)
    entry: EntryRules = field(default_factory=EntryRules)
    cancellation_key: str | None = None
    #: Journey-wide controls, as in the document (DESIGN.md section 6), or None.
    sender: Mapping[str, Any] | None = None
    send_window: Mapping[str, Any] | None = None
    exit: Mapping[str, Any] | None = None
    goal: Mapping[str, Any] | None = None
    start: str | None = None
    steps_by_key: Mapping[str, dict[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    #: Whether a step reads ``messages.<step>`` (engagement): only then does a walk load
    #: the run's messages into its context.
    reads_messages: bool = False

    @classmethod
    def parse(cls, definition: Mapping[str, Any]) -> "JourneySpec":
        """Read a canonical definition; keys a much older document lacks take defaults."""
        trigger = definition.get("trigger") or {}
        entry = definition.get("entry") or {}
        return cls(
            name=definition.get("name") or "",
            trigger=TriggerSpec(
                type=trigger.get("type") or "api",
                event=trigger.get("event"),
                schema=tuple(
                    SchemaField(
                        name=item["name"], type=item["type"], required=bool(item.get("required"))
                    )
                    for item in trigger.get("schema") or ()
                ),
                conditions=trigger.get("conditions"),
                identify=next(iter((trigger.get("identify") or {}).items()), None),
                signature=trigger.get("signature"),
                create_customers=trigger.get("create_customers", True) is not False,
                segment_id=trigger.get("segment_id"),
            ),
            entry=EntryRules(
                allow_reentry=bool(entry.get("allow_reentry", False)),
                max_entries_per_customer=entry.get("max_entries_per_customer"),
                reentry_cooldown_seconds=int(entry.get("reentry_cooldown_seconds") or 0),
                restart_active=bool(entry.get("restart_active", True)),
                conditions=entry.get("conditions"),
            ),
            cancellation_key=definition.get("cancellation_key"),
            sender=definition.get("sender"),
            send_window=definition.get("send_window"),
            exit=definition.get("exit"),
            goal=definition.get("goal"),
            start=definition.get("start"),
            steps_by_key=MappingProxyType(
                {step["key"]: step for step in definition.get("steps") or ()}
            ),
            reads_messages=_reads_messages(
                [definition.get("steps"), definition.get("exit"), definition.get("goal")]
            ),
        )


#: ``messages.<step key>``, as a condition's field or inside a template.
_MESSAGES_PATH = re.compile(r"(?<![\w.])messages\.[A-Za-z0-9_]")


def _reads_messages(steps: Any) -> bool:
    """Does any step's condition or template, or an exit or goal condition, name the
    ``messages`` root? (A plain text that happens to match only costs a query per walk.)"""
    return bool(_MESSAGES_PATH.search(json.dumps(steps)))
