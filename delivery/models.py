"""Outbound messages and state webhooks, stored before anything leaves the building.

``delivery`` sits downstream of ``journeys``: it knows workspaces and customers, never
runs. A message is identified by an idempotency key the caller derives from the run,
the step and the visit, so a step re-run after a crash finds its message instead of
sending another one.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from customers.ids import PublicId
from customers.models import Customer, Workspace

#: The channels that reach a person: those a frequency cap counts (a webhook send
#: reaches a system).
CAPPED_CHANNELS = ("email", "sms", "whatsapp")
CAP_MAX_LIMIT = 1_000_000
#: The longest period a cap may count over: a year.
CAP_MAX_PERIOD_SECONDS = 366 * 86400
TOPIC_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
#: The pseudo-topic of every marketing message (``Subscription.topic`` "").
ALL_TOPICS = "all"


def validate_topic_key_free(value: str) -> None:
    if value == ALL_TOPICS:
        raise ValidationError(f"'{ALL_TOPICS}' is reserved: it means every marketing message.")


class Message(models.Model):
    """One outbound message (e-mail, SMS, WhatsApp, webhook send) and its fate."""

    class Channel(models.TextChoices):
        EMAIL = "email"
        SMS = "sms"
        WHATSAPP = "whatsapp"
        WEBHOOK = "webhook"

    class Status(models.TextChoices):
        PENDING = "pending"  # written, not yet accepted by the provider
        SENT = "sent"
        FAILED = "failed"
        # Never sent, decided when the message was written (``delivery.send_gate``):
        SUPPRESSED = "suppressed"  # unsubscribed, bounced or complained
        FREQUENCY_CAPPED = "frequency_capped"  # the workspace's cap for the channel

    #: The statuses of messages that were never sent, by the send gate's decision.
    WITHHELD = (Status.SUPPRESSED, Status.FREQUENCY_CAPPED)

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    public_id = models.CharField(
        max_length=40, unique=True, default=PublicId("msg"), editable=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages")
    idempotency_key = models.CharField(max_length=300, unique=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.CharField(max_length=2048)
    subject = models.CharField(max_length=998, blank=True, default="")
    body = models.TextField(blank=True, default="")  # e-mail: the text part
    html = models.TextField(blank=True, default="")  # e-mail: the HTML part, if any
    sender = models.CharField(max_length=1000, blank=True, default="")  # "Name <address>"
    #: Marketing messages name their topic ("" for the workspace's marketing in
    #: general); transactional ones are exempt from subscriptions and frequency caps.
    transactional = models.BooleanField(default=False)
    topic = models.CharField(max_length=100, blank=True, default="")
    #: Where the message came from, for engagement events and ``messages.<step>``.
    run_public_id = models.CharField(max_length=40, blank=True, default="")
    step_key = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Engagement, reported by the e-mail service provider's tracking webhooks.
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="message_customer_idx"),
            # Tracking webhooks name the message by the provider's id.
            models.Index(
                fields=["provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="message_provider_id_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class MessageEvent(models.Model):
    """What the e-mail service provider reported about a message (delivered, opened,
    clicked, bounced...), as its tracking webhook said it."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    event_type = models.CharField(max_length=32)  # anymail's normalised event type
    #: The provider's id of this report, when it gives one: a retried webhook is stored once.
    provider_event_id = models.CharField(max_length=255, blank=True, default="")
    esp = models.CharField(max_length=32, blank=True, default="")
    occurred_at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)  # reason, url, user agent...
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "provider_event_id", "event_type"],
                condition=~Q(provider_event_id=""),
                name="message_event_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id}"


class Topic(models.Model):
    """A subscription topic ("Newsletter", "Product updates"): what a marketing send
    names and what a customer unsubscribes from."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="topics")
    key = models.CharField(
        max_length=100,
        validators=[
            RegexValidator(
                TOPIC_KEY_PATTERN, "Lower-case letters, digits, '_', '.' or '-', at most 100."
            ),
            validate_topic_key_free,
        ],
        help_text='What send steps name ("topic": "<key>"); it cannot change later.',
    )
    name = models.CharField(max_length=200, help_text="What customers see when unsubscribing.")
    #: Opt-out topics (true) reach every customer who did not unsubscribe; opt-in
    #: topics (false) only those who subscribed.
    default_subscribed = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="topic_key_unique")
        ]

    def __str__(self) -> str:
        return self.key


class Subscription(models.Model):
    """A customer's choice for one topic, or for every marketing message (``topic``
    blank: "all"). No row means the topic's default."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, db_index=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="subscriptions", db_index=False
    )
    topic = models.CharField(max_length=100, blank=True, default="")
    subscribed = models.BooleanField()
    #: Where the choice came from: "api", "unsubscribe_link", "esp", "admin".
    source = models.CharField(max_length=32, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "topic"], name="subscription_unique")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.topic or 'all'}={self.subscribed}"


class Suppression(models.Model):
    """An address nothing is sent to: it bounced hard or its owner complained (or an
    operator added it). Kept by address, so a new customer with the address is covered."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce"
        COMPLAINT = "complaint"
        MANUAL = "manual"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, db_index=False)
    channel = models.CharField(max_length=16, default="email")
    address = models.CharField(max_length=2048)  # lower-cased e-mail address or number
    reason = models.CharField(max_length=16, choices=Reason.choices)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "address"], name="suppression_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.reason})"


class FrequencyCap(models.Model):
    """At most ``limit`` marketing messages of ``channel`` per customer in
    ``period_seconds``, counted across every journey; transactional sends are exempt."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="frequency_caps"
    )
    public_id = models.CharField(
        max_length=40, unique=True, default=PublicId("cap"), editable=False
    )
    channel = models.CharField(
        max_length=16, choices=[(channel, channel) for channel in CAPPED_CHANNELS]
    )
    limit = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(CAP_MAX_LIMIT)]
    )
    period_seconds = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(CAP_MAX_PERIOD_SECONDS)],
        help_text="e.g. 86400 for a day, 604800 for a week",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.limit} {self.channel} per {self.period_seconds}s"


class WebhookEndpoint(models.Model):
    """Where a workspace wants run and journey events delivered (Standard Webhooks)."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    public_id = models.CharField(
        max_length=40, unique=True, default=PublicId("whe"), editable=False
    )
    url = models.URLField(max_length=2048)
    # Kept in clear because the sender signs with it; shown once, when the endpoint is
    # created (API response, admin message), never listed or displayed again.
    secret = models.CharField(max_length=100, help_text="whsec_ + base64; signs every delivery")
    event_types = models.JSONField(
        default=list, blank=True, help_text="Event types to send; empty means all."
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: written with the change it reports, then delivered.

    Retries are durable timers (``next_attempt_at``), swept like due runs, so a back-off
    spanning days holds nothing in a worker's memory.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=40, unique=True, default=PublicId("evt"), editable=False)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The delivery sweep: WHERE status = 'pending' AND next_attempt_at <= now.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id}"
