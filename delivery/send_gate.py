"""The send gate: which new messages may be sent, decided in the transaction that writes them.

Before anything leaves, every message is checked against what the workspace and its
customers asked for:

1. **Suppression.** An address that bounced hard or complained (or that an operator
   suppressed) is sent nothing, transactional messages included.
2. **Consent.** A marketing message (not ``transactional``) reaches its customer only
   while they are subscribed to its topic and have not unsubscribed from ``all``
   (:mod:`delivery.consent`).
3. **Frequency caps.** A marketing message is counted against each of the workspace's
   caps on its channel (``3 e-mails in 7 days``), across every journey.

A message that fails a check is written all the same, with the status that says why
(``suppressed``, ``frequency_capped``), so the run's timeline shows it, and it is never
handed to a provider. The caps must hold when two workers write messages for one
customer at the same moment: the gate takes a transaction-scoped advisory lock per
customer (in customer order, so two batches cannot deadlock) before it counts, and the
count sees every message committed before the lock was granted. The whole gate costs a
few statements per batch of messages, never one per message.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from delivery.models import FrequencyCap, Message, Subscription, Suppression, Topic

#: The advisory-lock namespace of the frequency caps (the first key of the two-key form).
_CAP_LOCK_SPACE = 0x6361  # "ca"
#: The statuses that count against a cap: messages sent, or on their way.
_COUNTED = (Message.Status.PENDING, Message.Status.SENT)


def messages_gate(messages: Sequence[Message], *, now: datetime | None = None) -> None:
    """Set ``status`` and ``error`` of the unsaved ``messages`` that must not be sent.
    Call inside the transaction that inserts them, right before the insert: a batch
    written again after its transaction failed is decided again, from scratch."""
    for message in messages:  # all about to be inserted: none was decided for good yet
        if message.status in Message.WITHHELD:
            message.status, message.error = Message.Status.PENDING, ""
    pending = [
        message
        for message in messages
        if message.status == Message.Status.PENDING and message.channel != Message.Channel.WEBHOOK
    ]
    if not pending:
        return
    _suppressed_withhold(pending)
    marketing = [
        message
        for message in pending
        if message.status == Message.Status.PENDING and not message.transactional
    ]
    if marketing:
        _unsubscribed_withhold(marketing)
        _capped_withhold(
            [message for message in marketing if message.status == Message.Status.PENDING],
            now or timezone.now(),
        )


def _withhold(message: Message, status: str, why: str) -> None:
    message.status = status
    message.error = why


def _suppressed_withhold(messages: list[Message]) -> None:
    addresses = {message.recipient.lower() for message in messages}
    suppressed = {
        (workspace_id, channel, address): reason
        for workspace_id, channel, address, reason in Suppression.objects.filter(
            workspace_id__in={message.workspace_id for message in messages},
            address__in=addresses,
        ).values_list("workspace_id", "channel", "address", "reason")
    }
    if not suppressed:
        return
    for message in messages:
        key = (
            message.workspace_id,
            _suppression_channel(message.channel),
            message.recipient.lower(),
        )
        reason = suppressed.get(key)
        if reason is not None:
            _withhold(message, Message.Status.SUPPRESSED, f"address suppressed ({reason})")


def _suppression_channel(channel: str) -> str:
    """A number suppressed for SMS is suppressed for WhatsApp too: one phone, one owner."""
    return "sms" if channel == Message.Channel.WHATSAPP else channel


def _unsubscribed_withhold(messages: list[Message]) -> None:
    chosen = {
        (customer_id, topic): subscribed
        for customer_id, topic, subscribed in Subscription.objects.filter(
            customer_id__in={message.customer_id for message in messages}
        ).values_list("customer_id", "topic", "subscribed")
    }
    topics = {message.topic for message in messages if message.topic}
    opt_in = set()
    if topics:
        opt_in = set(
            Topic.objects.filter(
                workspace_id__in={message.workspace_id for message in messages},
                key__in=topics,
                default_subscribed=False,
            ).values_list("workspace_id", "key")
        )
    for message in messages:
        if chosen.get((message.customer_id, "")) is False:
            _withhold(message, Message.Status.SUPPRESSED, "unsubscribed from all marketing")
            continue
        if not message.topic:
            continue
        default = (message.workspace_id, message.topic) not in opt_in
        if not chosen.get((message.customer_id, message.topic), default):
            why = "unsubscribed from" if default else "not subscribed to"
            _withhold(message, Message.Status.SUPPRESSED, f"{why} topic {message.topic!r}")


def _capped_withhold(messages: list[Message], now: datetime) -> None:
    caps: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for workspace_id, channel, limit, period in FrequencyCap.objects.filter(
        workspace_id__in={message.workspace_id for message in messages}
    ).values_list("workspace_id", "channel", "limit", "period_seconds"):
        caps[(workspace_id, channel)].append((limit, period))
    capped = [message for message in messages if (message.workspace_id, message.channel) in caps]
    if not capped:
        return
    customers = sorted({message.customer_id for message in capped})
    _customers_lock(customers)
    longest = max(period for rules in caps.values() for _, period in rules)
    sent: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for customer_id, channel, created_at in Message.objects.filter(
        customer_id__in=customers,
        channel__in={message.channel for message in capped},
        transactional=False,
        status__in=_COUNTED,
        created_at__gte=now - timedelta(seconds=longest),
    ).values_list("customer_id", "channel", "created_at"):
        sent[(customer_id, channel)].append(created_at)
    for message in capped:
        earlier = sent[(message.customer_id, message.channel)]
        for limit, period in caps[(message.workspace_id, message.channel)]:
            since = now - timedelta(seconds=period)
            if sum(1 for moment in earlier if moment >= since) >= limit:
                _withhold(
                    message,
                    Message.Status.FREQUENCY_CAPPED,
                    f"frequency cap: at most {limit} {message.channel} per {_period(period)}",
                )
                break
        else:
            earlier.append(now)  # counts against the next message of this batch


def _customers_lock(customer_ids: list[int]) -> None:
    """Hold each customer's cap lock until the transaction ends, taken in id order. On
    SQLite, whose writers take turns for whole transactions, there is nothing to take."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # Ordered by the lock's own key, which two batches then take in the same order.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT"
            " (c %% 2147483647)::int AS k FROM unnest(%s::bigint[]) AS c ORDER BY k) AS keys",
            [_CAP_LOCK_SPACE, customer_ids],
        )


def _period(seconds: int) -> str:
    """``day``, ``7 days``, ``90 minutes``: the largest unit that divides the period."""
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"
