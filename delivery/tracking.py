"""What an ESP's tracking webhook reports about a message we sent, recorded.

django-anymail's webhook views (``delivery.esp_urls``, one transaction per call) turn
each ESP's payload into normalised events and send them through its ``tracking`` signal;
:func:`tracking_event_record` records one. An event names its message by the ESP's
message id, which :func:`delivery.email.provider_message_id` stored when it was sent
(or, when it arrives before that, by our own id, sent along as metadata); an
event for a message we do not know (another system's mail on the same account, a
message deleted since) is logged and dropped, and the webhook is still answered 200.

For a known message:

- a :class:`MessageEvent` is stored once per (message, report, type): the report is
  named by the ESP's event id or, where the ESP gives none (Brevo; Postmark but for
  bounces), by a digest of the event's payload, so a retried webhook stores nothing new
  and changes nothing else either;
- engagement sets the message's timestamp (``delivered_at``, ``opened_at``...); the
  earliest occurrence wins, in whatever order the reports arrive;
- a hard bounce or a complaint suppresses the recipient's address in the workspace; a
  soft bounce (the mailbox full, the server refusing for now) marks the message bounced
  without suppressing the address. Anymail reports most temporary failures as
  ``deferred`` (stored, nothing else), but some ESPs' soft bounces as ``bounced``:
  :func:`_bounce_is_hard` reads which from the ESP's own payload;
- an unsubscribe made at the ESP (its link, its list-unsubscribe) unsubscribes the
  customer from the message's topic ("" : from all marketing);
- the engagement becomes an event of the customer (``email.opened`` with the message,
  run and step), through :data:`delivery.signals.message_engagement`: the journeys app
  stores it in the event stream, in this transaction, so that runs waiting for it wake.

Reports of other kinds (``queued``, ``sent``, ``deferred``, ``rejected`` and ``failed``
by the ESP itself, ``autoresponded``...) are stored as message events and do nothing
else: the message's status stays what sending it decided.
"""

import hashlib
import json
import logging
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from delivery.email import METADATA_KEY
from delivery.models import Message, MessageEvent, Subscription, Suppression
from delivery.signals import message_engagement

logger = logging.getLogger(__name__)

#: anymail's event type: (the message's timestamp field, the customer event's name).
ENGAGEMENT = {
    EventType.DELIVERED: ("delivered_at", "email.delivered"),
    EventType.OPENED: ("opened_at", "email.opened"),
    EventType.CLICKED: ("clicked_at", "email.clicked"),
    EventType.BOUNCED: ("bounced_at", "email.bounced"),
    EventType.COMPLAINED: ("complained_at", "email.complained"),
    EventType.UNSUBSCRIBED: ("unsubscribed_at", "email.unsubscribed"),
}

_MAX_ID = 255  # MessageEvent.provider_event_id


def tracking_event_received(
    sender: Any, *, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    """anymail's ``tracking`` signal's receiver (connected in ``DeliveryConfig.ready``)."""
    tracking_event_record(event=event, esp_name=esp_name)


@transaction.atomic
def tracking_event_record(*, event: AnymailTrackingEvent, esp_name: str) -> MessageEvent | None:
    """Record ``event`` on its message (see the module docstring); returns the stored
    event, or None when the message is unknown or the report was stored before."""
    message = _message_find(event, esp_name)
    if message is None:
        return None
    occurred_at = event.timestamp or timezone.now()
    hard = _bounce_is_hard(event, esp_name) if event.event_type == EventType.BOUNCED else None
    stored, created = MessageEvent.objects.get_or_create(
        message=message,
        provider_event_id=_report_id(event),
        event_type=event.event_type,
        defaults={"esp": esp_name[:32], "occurred_at": occurred_at, "detail": _detail(event, hard)},
    )
    if not created:
        return None  # a retried webhook: recorded the first time
    engagement = ENGAGEMENT.get(event.event_type)
    if engagement is None:
        return stored
    field, name = engagement
    Message.objects.filter(
        Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": occurred_at}), pk=message.pk
    ).update(**{field: occurred_at})
    if hard or event.event_type == EventType.COMPLAINED:
        _address_suppress(message, event, hard=bool(hard))
    if event.event_type == EventType.UNSUBSCRIBED:
        Subscription.objects.bulk_create(
            [
                Subscription(
                    workspace_id=message.workspace_id,
                    customer_id=message.customer_id,
                    topic=message.topic,
                    subscribed=False,
                    source="esp",
                )
            ],
            update_conflicts=True,
            unique_fields=["customer", "topic"],
            update_fields=["subscribed", "source", "updated_at"],
        )
    message_engagement.send(
        Message,
        message=message,
        event=name,
        properties=_properties(message, event, esp_name, hard),
        occurred_at=occurred_at,
        key=f"msgevt_{stored.pk}",
    )
    return stored


def _message_find(event: AnymailTrackingEvent, esp_name: str) -> Message | None:
    """The message by the ESP's id; else by the id we gave it as metadata, for a report
    that arrives before the ESP's answer to the send was recorded."""
    messages = Message.objects.filter(channel=Message.Channel.EMAIL).select_related("workspace")
    if event.message_id:
        message = messages.filter(provider_message_id=str(event.message_id)).order_by("pk").first()
        if message is not None:
            return message
    ours = (event.metadata or {}).get(METADATA_KEY)
    if isinstance(ours, str) and ours:
        message = messages.filter(public_id=ours).first()
        if message is not None:
            return message
    logger.info(
        "%s %s event for an unknown message %r: ignored",
        esp_name,
        event.event_type,
        event.message_id,
    )
    return None


def _report_id(event: AnymailTrackingEvent) -> str:
    """The ESP's id of this report, else a digest of its payload (module docstring)."""
    if event.event_id:
        return str(event.event_id)[:_MAX_ID]
    payload = json.dumps(event.esp_event, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def _bounce_is_hard(event: AnymailTrackingEvent, esp_name: str) -> bool:
    """Whether a ``bounced`` event says the address cannot receive mail. Anymail turns
    Mailgun's temporary failures into ``deferred``, but reports the soft bounces of the
    ESPs below as ``bounced`` too; their payload tells."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if esp_name == "Postmark":
        return raw.get("Type") == "HardBounce"
    if esp_name == "SendGrid":
        # "bounce" is permanent; "blocked" the receiving server refusing for now.
        return raw.get("type", "bounce") == "bounce"
    if esp_name == "Amazon SES":
        return (raw.get("bounce") or {}).get("bounceType") == "Permanent"
    if esp_name in ("Brevo", "SendinBlue"):
        return raw.get("event") in ("hard_bounce", "invalid_email")
    # Anymail's meaning of "bounced": rejected by the receiving server, for good.
    return True


def _address_suppress(message: Message, event: AnymailTrackingEvent, *, hard: bool) -> None:
    address = (event.recipient or message.recipient).strip().lower()
    reason = Suppression.Reason.HARD_BOUNCE if hard else Suppression.Reason.COMPLAINT
    # The first reason stays: an address suppressed already (by hand, by an earlier
    # bounce) is suppressed.
    Suppression.objects.bulk_create(
        [
            Suppression(
                workspace_id=message.workspace_id,
                channel=Message.Channel.EMAIL,
                address=address,
                reason=reason,
                message=message,
            )
        ],
        ignore_conflicts=True,
    )


def _detail(event: AnymailTrackingEvent, hard: bool | None) -> dict[str, Any]:
    detail = {
        "recipient": event.recipient,
        "reject_reason": event.reject_reason,
        "description": event.description,
        "mta_response": event.mta_response,
        "url": event.click_url,
        "user_agent": event.user_agent,
        "bounce": None if hard is None else ("hard" if hard else "soft"),
    }
    return {key: value for key, value in detail.items() if value not in (None, "")}


def _properties(
    message: Message, event: AnymailTrackingEvent, esp_name: str, hard: bool | None
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "message_id": message.public_id,
        "run_id": message.run_public_id or None,
        "step": message.step_key or None,
        "topic": message.topic or None,
        "esp": esp_name,
    }
    if event.event_type == EventType.CLICKED:
        properties["url"] = event.click_url
    if hard is not None:
        properties["bounce"] = "hard" if hard else "soft"
    return properties
