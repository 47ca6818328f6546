"""Segments: static lists of customers, or dynamic ones defined by a condition."""

from django.db import models
from django.db.models import Q

from customers.ids import PublicId
from customers.models import Customer, Workspace, normalize_email


class Segment(models.Model):
    class Kind(models.TextChoices):
        STATIC = "static"
        DYNAMIC = "dynamic"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="segments")
    public_id = models.CharField(
        max_length=40, unique=True, default=PublicId("seg"), editable=False
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STATIC)
    list_email = models.CharField(
        max_length=320,
        null=True,
        blank=True,
        help_text="Static lists only: an address that names this list (enroll dialect).",
    )
    conditions = models.JSONField(
        null=True, blank=True, help_text="Dynamic segments only: who belongs, as a condition."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "list_email"],
                condition=Q(list_email__isnull=False),
                name="segment_unique_list_email",
            ),
            models.CheckConstraint(
                condition=Q(kind="static") | Q(list_email__isnull=True),
                name="segment_list_email_only_static",
            ),
            models.CheckConstraint(
                condition=Q(kind="static") | Q(conditions__isnull=False),
                name="segment_dynamic_has_conditions",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.list_email = normalize_email(self.list_email)
        super().save(*args, **kwargs)


class SegmentMembership(models.Model):
    """An explicit member of a static segment."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_memberships"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index bulk entry scans: WHERE segment_id IN (...) -> customer_id.
            models.UniqueConstraint(
                fields=["segment", "customer"], name="segment_membership_unique"
            )
        ]
        indexes = [models.Index(fields=["customer"], name="segment_member_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class SegmentPresence(models.Model):
    """A customer seen matching a dynamic segment, kept for the segments that
    segment-triggered journeys watch: a customer who starts to match is added (and
    enters those journeys), one who stops matching is removed (and enters again on
    matching again, as the entry rules allow)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="presences")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_presence_unique")
        ]
        indexes = [models.Index(fields=["customer"], name="segment_presence_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class SegmentImport(models.Model):
    """A CSV of customers added to a static segment, in the background, with progress.

    The file is read when it is uploaded (its problems answered at once); its rows wait
    here until a task has added them, a chunk at a time, each chunk's counts committed
    with it, so the page shows progress and a task that dies resumes where it stopped.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="imports")
    filename = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    #: ``[[line, "external_id" | "email", value], ...]`` to add (emptied when done), and
    #: how many of them were added so far: where a resumed task goes on.
    rows = models.JSONField(default=list, blank=True)
    next_row = models.PositiveIntegerField(default=0)
    #: Lines of the file with a customer on them, and how many were dealt with so far.
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    already_members = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    #: The first rejected rows: ``[{"line": 12, "value": "...", "reason": "..."}, ...]``.
    rejected_rows = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.pk} into {self.segment_id}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else self.processed * 100 // self.total
