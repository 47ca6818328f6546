"""Journeys, their published versions, enrollments (runs) and the runs' timelines."""

import functools
import secrets

from django.db import models
from django.db.models import Q

from customers.ids import PublicId
from customers.models import Customer, Workspace
from journeys.spec import JourneySpec


class Journey(models.Model):
    """The editable definition a marketer works on; publishing snapshots it."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        LIVE = "live"
        PAUSED = "paused"
        ARCHIVED = "archived"

    class TriggerType(models.TextChoices):
        API = "api"
        EVENT = "event"
        WEBHOOK = "webhook"
        SEGMENT = "segment"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="journeys")
    public_id = models.CharField(
        max_length=40, unique=True, default=PublicId("jrn"), editable=False
    )
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)

    trigger_type = models.CharField(
        max_length=16, choices=TriggerType.choices, default=TriggerType.API
    )
    trigger_event = models.CharField(max_length=255, blank=True, default="")
    trigger_schema = models.JSONField(default=list, blank=True)
    trigger_conditions = models.JSONField(null=True, blank=True)
    #: What only some trigger types have (a webhook trigger's ``identify``, ``signature``
    #: and ``create_customers``, a segment trigger's ``segment_id``), as the definition
    #: spells them.
    trigger_options = models.JSONField(default=dict, blank=True)
    #: A webhook trigger's secret URL is ``/hooks/<webhook_token>``: made when the journey
    #: first has that trigger, replaced by a rotation (the old URL answers 404 at once).
    webhook_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    #: The secret a webhook trigger's sender signs with (``trigger.signature``): theirs,
    #: set through the API (Stripe's ``whsec_...``, a Standard Webhooks ``whsec_...``).
    webhook_secret = models.CharField(max_length=200, blank=True, default="")

    allow_reentry = models.BooleanField(default=False)
    max_entries_per_customer = models.PositiveIntegerField(null=True, blank=True)
    reentry_cooldown_seconds = models.PositiveIntegerField(default=0)
    restart_active = models.BooleanField(default=True)
    entry_conditions = models.JSONField(null=True, blank=True)
    cancellation_key = models.CharField(
        max_length=500, blank=True, default="", help_text="Liquid, e.g. order-{{ data.order_id }}"
    )

    #: The journey-wide controls of the document: ``sender``, ``send_window``, ``exit``
    #: and ``goal`` (DESIGN.md section 6), each null when not set.
    controls = models.JSONField(default=dict, blank=True)

    start_step = models.CharField(max_length=100, blank=True, default="")
    steps = models.JSONField(default=list, blank=True)

    live_version = models.ForeignKey(
        "JourneyVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "status"], name="journey_status_idx")]
        constraints = [
            # Names are how marketers tell journeys apart; the import and update services
            # answer a taken name with a 409 before this would (journey_name_check).
            models.UniqueConstraint(fields=["workspace", "name"], name="journey_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if self.trigger_type == self.TriggerType.WEBHOOK and not self.webhook_token:
            self.webhook_token = webhook_token_new()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "webhook_token"}
        super().save(*args, **kwargs)


def webhook_token_new() -> str:
    """A webhook trigger URL's secret part: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


class JourneyVersion(models.Model):
    """An immutable snapshot of a journey's graph, made at publish.

    Enrollments pin the version they entered on, so editing a live journey never changes
    the path of a customer who is mid-way.
    """

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    published_at = models.DateTimeField(auto_now_add=True)
    #: The event names its runs may need (``wait_for_event`` steps, exit events, the
    #: goal: :func:`awaited_events_of`), set as it is saved: the event stream asks which
    #: events a run may need (one query over versions), not every version's definition.
    awaited_events = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["journey", "number"], name="journey_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.journey_id} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("journey versions are immutable; publish a new one instead")
        self.awaited_events = awaited_events_of(self.definition)
        super().save(*args, **kwargs)

    @functools.cached_property
    def spec(self) -> JourneySpec:
        """The definition, parsed once per (cached, immutable) version."""
        return JourneySpec.parse(self.definition)


def awaited_events_of(definition: dict) -> list[str]:
    """The event names a definition's runs may need, sorted: those its
    ``wait_for_event`` steps wait for, its exit events and its goal's event."""
    steps = definition.get("steps") or []
    names = {step.get("event") for step in steps if step.get("type") == "wait_for_event"}
    names.update(rule["event"] for rule in (definition.get("exit") or {}).get("events") or ())
    goal = definition.get("goal")
    if goal and goal.get("event"):
        names.add(goal["event"])
    return sorted(name for name in names if name)


@functools.lru_cache(maxsize=512)
def journey_version_get(journey_public_id: str, number: int, pk: int) -> JourneyVersion:
    """A published version, cached per process: versions are immutable once saved, so
    the cache never goes stale (and it spares every trigger parsing the graph's JSON).
    Keyed by the journey's public id and the version number, which no other version
    ever has, even where a database reuses integer keys."""
    return JourneyVersion.objects.get(pk=pk)


class Enrollment(models.Model):
    """One run of one customer through one journey version."""

    class State(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        EXITED = "exited"
        FAILED = "failed"

    # Every index is written by each of the millions of runs a bulk entry creates, so
    # the table has no index that another one covers: the foreign keys have none of
    # their own (see Meta.indexes for the one that serves each).
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, db_index=False)
    # Unique by a constraint in Meta: ``unique=True`` would add a second index on it
    # (varchar_pattern_ops, for LIKE), which no query uses.
    public_id = models.CharField(max_length=40, default=PublicId("run"), editable=False)
    # No index of its own, and none that leads with it over all runs: the indexes below
    # serve lookups by journey with a customer or among active runs, and a journey-only
    # index would tempt the planner, short of statistics, to check a candidate's runs by
    # reading all of the journey's. A journey with runs is never deleted (only drafts,
    # which have none, are); the check that a deleted draft has no runs reads the table.
    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    # No index: versions are immutable and never deleted by the product; deleting one
    # (with its workspace or journey, which PROTECT refuses once published) is the only
    # lookup by version, and it may read the table.
    version = models.ForeignKey(
        JourneyVersion, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Indexed by enrollment_entry_rules_idx, which leads with it.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    current_step = models.CharField(max_length=100, blank=True, default="")
    wake_at = models.DateTimeField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    cancellation_key = models.CharField(max_length=500, null=True, blank=True)
    exit_reason = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    entered_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    #: When the journey's goal event arrived within its window: the run converted.
    converted_at = models.DateTimeField(null=True, blank=True)
    # A worker that claimed the run owns it until the lease expires; every write of the
    # engine checks the token, so a run reclaimed after a crash has one owner at a time.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Claims since the run last took a step: each claim adds one, each step taken sets
    # it back to 0. A run whose walks keep failing (or keep killing their worker) is
    # failed once it reaches journeys.engine.failures.MAX_WALK_ATTEMPTS, not retried
    # forever. A database default, so that the entry INSERT need not name it.
    walk_attempts = models.PositiveSmallIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        # A "run" to everyone who reads about it: the API, the admin, the docs.
        verbose_name = "run"
        verbose_name_plural = "runs"
        constraints = [
            # Decides concurrent triggers: the second INSERT conflicts, nobody reads first
            # (journeys.entry.core names it as the INSERT's arbiter). Also serves the lookups of
            # a journey's active runs: "is a run active?" at entry, archive, resume.
            models.UniqueConstraint(
                fields=["journey", "customer"],
                condition=Q(state="active"),
                name="enrollment_one_active_per_customer",
            ),
            # GET runs/{run_id} (journeys.engine.runs.run_get), the admin's search by id.
            models.UniqueConstraint(fields=["public_id"], name="enrollment_public_id_unique"),
        ]
        indexes = [
            # Entry rules: EXISTS / COUNT over (customer, journey[, state]) at trigger time.
            # Customer first, so that it is also the customer foreign key's index: a
            # customer's runs (erasing a customer: Django's cascade, then the database's
            # check that none is left).
            models.Index(
                fields=["customer", "journey", "state"], name="enrollment_entry_rules_idx"
            ),
            # Claims (journeys.engine.claims): per live journey, WHERE journey_id = %s AND
            # state = 'active' AND wake_at <= now ORDER BY wake_at. Claimed runs move
            # their wake_at to the lease's expiry, out of the range claims read. The
            # condition on wake_at keeps the entry rules' "is a run active?" probes,
            # which name no wake_at, off this index whatever the statistics say.
            models.Index(
                fields=["journey", "wake_at"],
                condition=Q(state="active", wake_at__isnull=False),
                name="enrollment_due_per_journey_idx",
            ),
            # The workspace foreign key's index: a workspace's runs (deleting a workspace:
            # Django's cascade, then the database's check). The key second, newest first:
            # GET runs (journeys.engine.runs.runs_list, ordered by -id, which is unique
            # where entered_at is shared by every run of a bulk entry).
            models.Index(fields=["workspace", "-id"], name="enrollment_listing_idx"),
            # Cancelling runs by key (WHERE workspace_id = %s AND cancellation_key = %s).
            # Partial: runs without a key (all of them until the engine sets keys) cost
            # it nothing.
            models.Index(
                fields=["workspace", "cancellation_key"],
                condition=Q(cancellation_key__isnull=False),
                name="enrollment_cancel_key_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class StepRun(models.Model):
    """One visit of a run to a step: the run's timeline."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="step_runs")
    step_key = models.CharField(max_length=100)
    step_type = models.CharField(max_length=32)
    visit = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    message = models.ForeignKey(
        "delivery.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "step_key", "visit"], name="step_run_unique_visit"
            )
        ]
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.enrollment_id}:{self.step_key}#{self.visit}"


class IdempotencyRecord(models.Model):
    """The stored answer to a request sent with an ``Idempotency-Key`` header.

    The row is inserted before the work and completed in the same transaction, so a
    concurrent duplicate waits on the unique index and then replays the answer.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField()
    #: Set when the request asked for its own expiry (the Courier dialect's
    #: ``x-idempotency-expiration``); null: ``IDEMPOTENCY_TTL_SECONDS`` after creation.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="idempotency_key_unique")
        ]
        indexes = [
            # The hourly purge (journeys.entry.idempotency.idempotency_records_purge): the
            # records of the default lifetime by age, the others by their own expiry.
            models.Index(fields=["created_at"], name="idempotency_expiry_idx"),
            models.Index(
                fields=["expires_at"],
                condition=Q(expires_at__isnull=False),
                name="idempotency_own_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.key
