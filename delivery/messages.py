"""Sending one message exactly once per idempotency key, on any channel.

:func:`message_prepare` commits the Message row before anything leaves; the step that
sends derives the key from (run, step, visit), so a re-run after a crash finds the row.
:func:`message_deliver` skips a message already sent. The one window left is a crash
after the provider accepted the message and before the row says so: the message is
then sent again, with the same Message-ID / idempotency key so that a receiver or
provider that deduplicates (Twilio does, by its idempotency token) drops the copy.
Losing a message silently would be worse.
"""

import json
from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from customers.models import Customer, Workspace
from delivery.email import EmailSendError, email_send
from delivery.models import Message
from delivery.outbound import OutboundError, http_request
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
    body: str


def message_prepare(
    *, workspace: Workspace, customer: Customer, idempotency_key: str, outgoing: Outgoing
) -> Message:
    """The message for this key, written (and committed by the caller) before sending."""
    message, _ = Message.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "workspace": workspace,
            "customer": customer,
            "channel": outgoing.channel,
            "recipient": outgoing.recipient,
            "subject": outgoing.subject,
            "body": outgoing.body,
        },
    )
    return message


def message_deliver(message: Message) -> Message:
    """Send ``message`` unless it was sent already; record the attempt either way."""
    if message.status == Message.Status.SENT:
        return message
    Message.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1)
    message.attempts += 1
    try:
        provider_id = _send(message)
    except SendError as error:
        Message.objects.filter(pk=message.pk).update(
            error=str(error),
            status=Message.Status.PENDING if error.retryable else Message.Status.FAILED,
        )
        raise
    message.status = Message.Status.SENT
    message.sent_at = timezone.now()
    message.provider_message_id = provider_id
    message.error = ""
    message.save(update_fields=["status", "sent_at", "provider_message_id", "error"])
    return message


def message_give_up(message: Message, reason: str) -> None:
    Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED, error=reason)


def _send(message: Message) -> str:
    if message.channel == Message.Channel.EMAIL:
        message_id = f"<{message.idempotency_key.replace(':', '.')}@journeys>"
        try:
            email_send(
                to=message.recipient,
                subject=message.subject,
                body=message.body,
                message_id=message_id,
            )
        except EmailSendError as error:
            raise SendError(str(error), retryable=error.retryable) from error
        return message_id
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
