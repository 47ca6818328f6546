"""The Sprinklr dialect's rules: a profile named by channel, or a unified profile to
create or update, then one trigger.

Sprinklr names a person by a channel and an id on it (``snType``/``snId``). Here:

- ``EMAIL``: the customer's e-mail address (normalised), else an ``email`` channel
  identity;
- ``SMS``: an ``sms`` channel identity; ``WHATSAPP_BUSINESS``: a ``whatsapp`` one, else
  an ``sms`` one (the number the send step would use); a number matches with or
  without its leading ``+``;
- any other type: a channel identity of that type, lower-cased (``TWITTER`` ->
  ``twitter``, spaces as ``_``).

``triggerWithNewProfile`` writes a unified profile the same way round, so the profiles
it creates are the ones ``trigger`` finds. ``contextParams`` are the trigger payload
(``data.*`` in templates).
"""

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from customers.errors import NotFound
from customers.models import Customer, Workspace, normalize_email
from customers.selectors import active_customers, customer_by_channel
from customers.services import customer_identify
from journeys.entry.selectors import journey_for_trigger
from journeys.entry.service import Audience, TriggerResult, journey_trigger

#: snTypes whose id is a phone number, and the channel identity types that hold it.
PHONE_TYPES = {"SMS": ("sms",), "WHATSAPP_BUSINESS": ("whatsapp", "sms")}


def channel_type(sn_type: str) -> str:
    """The channel identity type an ``snType`` / ``channelType`` is stored under."""
    if sn_type in PHONE_TYPES:
        return PHONE_TYPES[sn_type][0]
    return re.sub(r"\s+", "_", sn_type.strip()).lower()


def sn_type_normalize(sn_type: str) -> str:
    return re.sub(r"\s+", "_", sn_type.strip()).upper()


def is_email_type(sn_type: str) -> bool:
    """``EMAIL`` in any case. Compared lower-cased: ``str.upper`` would also read a
    dotless i (U+0131) as ``I``."""
    return sn_type.strip().lower() == "email"


def profile_find(*, workspace: Workspace, sn_type: str, sn_id: str) -> Customer | None:
    """The active customer ``snType``/``snId`` names (see the module docstring)."""
    if is_email_type(sn_type):
        email = normalize_email(sn_id)
        customer = active_customers(workspace).filter(email=email).first()
        if customer is not None:
            return customer
        return customer_by_channel(
            workspace=workspace, channel_types=["email"], channel_ids=[email]
        )
    sn_type = sn_type_normalize(sn_type)
    sn_id = sn_id.strip()
    if sn_type in PHONE_TYPES:
        digits = sn_id.removeprefix("+")
        return customer_by_channel(
            workspace=workspace,
            channel_types=list(PHONE_TYPES[sn_type]),
            channel_ids=list(dict.fromkeys([sn_id, f"+{digits}", digits])),
        )
    return customer_by_channel(
        workspace=workspace, channel_types=[channel_type(sn_type)], channel_ids=[sn_id]
    )


def sprinklr_trigger(
    *,
    workspace: Workspace,
    journey_id: str,
    sn_type: str,
    sn_id: str,
    context_params: dict[str, str],
) -> TriggerResult:
    """Trigger the journey for the profile ``snType``/``snId`` names.

    An unknown journey is a 404 before an unknown profile is.
    """
    customer = profile_find(workspace=workspace, sn_type=sn_type, sn_id=sn_id)
    if customer is None:
        journey_for_trigger(workspace=workspace, journey_id=journey_id)
        raise NotFound(f"Profile not found: no {sn_type_normalize(sn_type)} profile {sn_id!r}")
    return journey_trigger(
        workspace=workspace,
        journey_id=journey_id,
        audience=Audience(customer_id=customer.public_id),
        payload=context_params,
    )


@dataclass(frozen=True)
class UnifiedProfile:
    """Sprinklr's ``unifiedProfile``: its id, contact fields and channel profiles."""

    id: str
    contact: dict[str, Any] = field(default_factory=dict)
    #: ``(channelType, channelId)`` pairs, in the order given.
    profiles: list[tuple[str, str]] = field(default_factory=list)


@transaction.atomic
def sprinklr_trigger_with_new_profile(
    *,
    workspace: Workspace,
    journey_id: str,
    profile: UnifiedProfile,
    context_params: dict[str, str],
) -> TriggerResult:
    """Create or update the customer the unified profile describes, then trigger.

    The profile's id is the customer's ``external_id``; its first ``EMAIL`` profile is
    the e-mail address, every other profile a channel identity; contact fields become
    attributes in snake_case (``firstName`` -> ``first_name``). One transaction: a
    trigger that fails (unknown journey, bad payload) leaves no profile behind.
    """
    journey_for_trigger(workspace=workspace, journey_id=journey_id)
    email, channels = _channels(profile.profiles)
    customer, _ = customer_identify(
        workspace=workspace,
        external_id=profile.id,
        email=email,
        attributes=_attributes(profile.contact),
        channels=channels,
    )
    return journey_trigger(
        workspace=workspace,
        journey_id=journey_id,
        audience=Audience(customer_id=customer.public_id),
        payload=context_params,
    )


def _channels(profiles: list[tuple[str, str]]) -> tuple[str | None, list[dict[str, str]]]:
    """The first e-mail address, and every other profile as a channel identity."""
    email = None
    channels = []
    for sn_type, channel_id in profiles:
        if is_email_type(sn_type):
            address = normalize_email(channel_id)
            if email is None:
                email = address
                continue
            channel_id = address or channel_id
        channels.append({"type": channel_type(sn_type_normalize(sn_type)), "id": channel_id})
    return email, channels


def _attributes(contact: dict[str, Any]) -> dict[str, Any]:
    """Contact fields as attributes, snake_case; names of customer columns are skipped
    (the e-mail address comes from the EMAIL profile, the id from the profile's id)."""
    attributes = {}
    for name, value in contact.items():
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.strip()).lower()
        if snake and snake not in Customer.CONDITION_FIELDS:
            attributes[snake] = value
    return attributes
