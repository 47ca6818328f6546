"""Sending one message exactly once per idempotency key, on any channel.

The Message row is committed before anything leaves: the engine writes it in the same
transaction as the step's visit (or :func:`message_prepare` writes it alone). Its key
is derived from (run, step, visit), so a re-run after a crash finds the row.
:func:`message_deliver` skips a message already sent. The one window left is a crash
after the provider accepted the message and before the row says so: the message is
then sent again, with the same Message-ID / idempotency key so that a receiver or
provider that deduplicates (Twilio does, by its idempotency token) drops the copy.
Losing a message silently would be worse.
"""

import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.db import row_update_unflushed
from delivery.consent import unsubscribe_url
from delivery.email import EmailSendError, email_send
from delivery.models import Message
from delivery.outbound import OutboundError, http_request
from delivery.send_gate import messages_gate
from delivery.sms import ProviderError, messaging_provider


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Outgoing:
    channel: str
    recipient: str
    subject: str
    body: str  # an e-mail's text part
    html: str = ""
    sender: str = ""  # "Name <address>"; blank for DEFAULT_FROM_EMAIL


def message_prepare(composed: Message) -> Message:
    """The message for ``composed``'s idempotency key: the stored one if it exists (its
    content as first written), else ``composed``, passed through the send gate and
    saved. Commit it before sending."""
    stored = Message.objects.filter(idempotency_key=composed.idempotency_key).first()
    if stored is not None:
        return stored
    try:
        with transaction.atomic():
            messages_gate([composed])
            composed.save(force_insert=True)
    except IntegrityError:  # written meanwhile by a run of the same visit
        return Message.objects.get(idempotency_key=composed.idempotency_key)
    return composed


def message_deliver(message: Message) -> Message:
    """Send ``message`` unless it was sent already; record the outcome in one write right
    after the provider answers, to keep the resend window small (a commit that does not
    wait for the disk: see :func:`row_update_unflushed`). The attempt itself is counted
    before, by :func:`message_attempt_count` or by the row's insert."""
    if message.status == Message.Status.SENT:
        return message
    try:
        provider_id = _send(message)
    except SendError as error:
        message.status = Message.Status.PENDING if error.retryable else Message.Status.FAILED
        message.error = str(error)
        row_update_unflushed(message, ["status", "error"])
        raise
    message.status = Message.Status.SENT
    message.sent_at = timezone.now()
    message.provider_message_id = provider_id
    message.error = ""
    row_update_unflushed(message, ["status", "sent_at", "provider_message_id", "error"])
    return message


def message_attempt_count(message: Message) -> None:
    """Count an attempt before it starts, so that attempts cut short by a dying worker
    count too and a message that kills its worker every time is given up in the end."""
    message.attempts += 1
    row_update_unflushed(message, ["attempts"])


def message_give_up(message: Message, reason: str) -> None:
    Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED, error=reason)


def _send(message: Message) -> str:
    if message.channel == Message.Channel.EMAIL:
        message_id = f"<{message.idempotency_key.replace(':', '.')}@journeys>"
        try:
            return email_send(
                to=message.recipient,
                subject=message.subject,
                body=message.body,
                message_id=message_id,
                html=message.html,
                sender=message.sender,
                headers=_list_headers(message),
                our_id=message.public_id,
            )
        except EmailSendError as error:
            raise SendError(str(error), retryable=error.retryable) from error
    if message.channel in (Message.Channel.SMS, Message.Channel.WHATSAPP):
        try:
            receipt = messaging_provider().send(
                channel=message.channel,
                to=message.recipient,
                body=message.body,
                idempotency_key=message.idempotency_key,
            )
        except ProviderError as error:
            raise SendError(str(error), retryable=error.retryable) from error
        return receipt.provider_message_id
    return _send_webhook(message)


def _list_headers(message: Message) -> dict[str, str]:
    """A marketing e-mail's unsubscribe headers: a link that unsubscribes with one POST
    and no login (RFC 8058), which Gmail and Yahoo require of bulk senders."""
    if message.transactional:
        return {}
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(message.public_id)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _send_webhook(message: Message) -> str:
    try:
        json.loads(message.body)
        content_type = "application/json"
    except ValueError:
        content_type = "text/plain; charset=utf-8"
    try:
        response = http_request(
            method="POST",
            url=message.recipient,
            headers={"Content-Type": content_type},
            body=message.body,
            idempotency_key=message.idempotency_key,
        )
    except OutboundError as error:
        raise SendError(str(error), retryable=error.retryable) from error
    if response.status >= 400:
        raise SendError(f"webhook answered {response.status}", retryable=response.status == 429)
    return f"http-{response.status}"
