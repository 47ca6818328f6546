"""Workspaces (tenants), their API keys, customers and what is known about them."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from customers.ids import PublicId
from customers.validators import validate_sender_email, validate_sender_name, validate_time_zone


class Workspace(models.Model):
    """The tenant: every other row belongs to exactly one workspace."""

    public_id = models.CharField(max_length=40, unique=True, default=PublicId("ws"), editable=False)
    name = models.CharField(max_length=200)
    #: The zone a send window is read in for customers whose own ``timezone`` is unknown.
    # Database defaults too, so that rows written in SQL (benchmarks, fixtures) get them.
    timezone = models.CharField(
        max_length=64, default="UTC", db_default="UTC", validators=[validate_time_zone]
    )
    #: The sender of e-mails whose journey and step name none (``DEFAULT_FROM_EMAIL``
    #: when blank).
    sender_name = models.CharField(
        max_length=100, blank=True, default="", db_default="", validators=[validate_sender_name]
    )
    sender_email = models.CharField(
        max_length=254, blank=True, default="", db_default="", validators=[validate_sender_email]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class WorkspaceMember(models.Model):
    """A staff user's membership of a workspace: the admin shows a user who is not a
    superuser only the rows of the workspaces they belong to."""

    # No index of its own: the unique (user, workspace) index starts with it, and the
    # admin's scoping asks exactly "the workspaces of this user".
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="workspace_memberships",
        db_index=False,
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="members")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="workspace_member_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace}"


def hash_api_key(raw_key: str) -> str:
    """Keys are 192-bit random strings, so a fast unsalted hash is enough to store them."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyManager(models.Manager["ApiKey"]):
    def create_key(self, *, workspace: Workspace, name: str = "default") -> tuple["ApiKey", str]:
        """Create a key and return it with its secret, which is never retrievable again."""
        raw_key = f"sk_{secrets.token_hex(24)}"
        api_key = self.create(
            workspace=workspace,
            name=name,
            prefix=raw_key[: ApiKey.VISIBLE_PREFIX_LENGTH],
            key_hash=hash_api_key(raw_key),
        )
        return api_key, raw_key

    def for_raw_key(self, raw_key: str) -> "ApiKey | None":
        return self.select_related("workspace").filter(key_hash=hash_api_key(raw_key)).first()


def default_rate_limit() -> int:
    from django.conf import settings

    return settings.RATELIMIT_DEFAULT_PER_MINUTE


def default_trigger_rate_limit() -> int:
    from django.conf import settings

    return settings.RATELIMIT_TRIGGER_PER_MINUTE


class ApiKey(models.Model):
    """A secret that authenticates an application; shown once, stored as a hash."""

    VISIBLE_PREFIX_LENGTH = 11  # "sk_" and eight characters: enough to tell keys apart

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    public_id = models.CharField(
        max_length=40, unique=True, default=PublicId("key"), editable=False
    )
    name = models.CharField(max_length=200, default="default")
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(
        "API calls a minute",
        default=default_rate_limit,
        help_text="Requests a minute to the API, triggers apart.",
    )
    trigger_rate_limit_per_minute = models.PositiveIntegerField(
        "triggers a minute",
        default=default_trigger_rate_limit,
        help_text="Trigger requests a minute: a budget of their own (seed 000: 100).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyManager()

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    # DRF asks the authenticated principal this question.
    is_authenticated = True

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


def normalize_email(email: str | None) -> str | None:
    """Trim and lower-case, the way every seed says addresses are matched."""
    if email is None:
        return None
    email = email.strip().lower()
    return email or None


class Customer(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"

    #: Model columns a condition may name as ``customer.<field>``; any other name is an
    #: attribute. Kept here so the condition compiler and the template context agree.
    CONDITION_FIELDS = ("external_id", "email", "anonymous_id", "status", "timezone")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="customers")
    public_id = models.CharField(
        max_length=40, unique=True, default=PublicId("cus"), editable=False
    )
    external_id = models.CharField(max_length=255, null=True, blank=True)
    email = models.CharField(max_length=320, null=True, blank=True)
    anonymous_id = models.CharField(max_length=255, null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    timezone = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                condition=Q(external_id__isnull=False),
                name="customer_unique_external_id",
            ),
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(email__isnull=False),
                name="customer_unique_email",
            ),
        ]
        indexes = [
            # identify/track look people up by anonymous id before they are known.
            models.Index(
                fields=["workspace", "anonymous_id"],
                condition=Q(anonymous_id__isnull=False),
                name="customer_anonymous_id_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id or self.email or self.public_id

    def save(self, *args, **kwargs) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


class ChannelIdentity(models.Model):
    """How to reach a customer on a channel other than e-mail (SMS, WhatsApp, ...)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    channel_type = models.CharField(max_length=40, help_text="e.g. sms, whatsapp, email, push")
    channel_id = models.CharField(max_length=320)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "channel identities"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel_type", "channel_id"],
                name="channel_identity_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_type}:{self.channel_id}"


class TenantProfile(models.Model):
    """Per-tenant profile data of a customer (Courier's tenant-scoped profiles)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tenant_profiles")
    tenant_id = models.CharField(max_length=255)
    profile = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "tenant_id"], name="tenant_profile_unique")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}@{self.tenant_id}"


class Event(models.Model):
    """A tracked event: feeds event triggers, conditions and ``wait_for_event`` steps."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    #: No index of its own: ``event_customer_name_idx`` starts with the customer, and a
    #: second index would cost every stored event another random B-tree insert.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, related_name="events", db_index=False
    )
    name = models.CharField(max_length=255)
    properties = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(auto_now_add=True)
    message_id = models.CharField(max_length=255, null=True, blank=True)
    #: When the event was matched against the live journeys it may trigger; NULL while
    #: it waits for that (``journeys.entry.events.matching`` claims these in id order).
    matched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Segment-style clients retry with the same messageId: store it once.
            models.UniqueConstraint(
                fields=["workspace", "message_id"],
                condition=Q(message_id__isnull=False),
                name="event_unique_message_id",
            )
        ]
        indexes = [
            # "did this customer do X since T": event conditions and waits.
            models.Index(fields=["customer", "name", "timestamp"], name="event_customer_name_idx"),
            # Events waiting to be matched, oldest first: ``WHERE matched_at IS NULL ORDER
            # BY id LIMIT n FOR UPDATE SKIP LOCKED``. Partial, so it holds only the few
            # events in flight, however many are stored.
            models.Index(
                fields=["id"], condition=Q(matched_at__isnull=True), name="event_unmatched_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name
