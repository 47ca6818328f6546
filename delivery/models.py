"""Outbound messages and state webhooks, stored before anything leaves the building.

``delivery`` sits downstream of ``journeys``: it knows workspaces and customers, never
runs. A message is identified by an idempotency key the caller derives from the run,
the step and the visit, so a step re-run after a crash finds its message instead of
sending another one.
"""

from django.db import models
from django.db.models import Q

from customers.ids import PublicId
from customers.models import Customer, Workspace


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

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    public_id = models.CharField(
        max_length=40, unique=True, default=PublicId("msg"), editable=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages")
    idempotency_key = models.CharField(max_length=300, unique=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.CharField(max_length=2048)
    subject = models.CharField(max_length=998, blank=True, default="")
    body = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"], name="message_customer_idx")]

    def __str__(self) -> str:
        return self.public_id


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
