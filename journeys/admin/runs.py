"""Runs in the admin: read-only history, each with its timeline and the messages it sent."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from customers.admin_scoping import WorkspaceScopedAdmin
from delivery.models import Message
from journeys.admin.display import ReadOnlyAdmin, pretty_json, to_the_second
from journeys.models import Enrollment, StepRun


class StepRunInline(admin.TabularInline):
    """The run's timeline."""

    model = StepRun
    verbose_name = "step of this run"
    verbose_name_plural = "steps of this run"
    fields = ("step_key", "step_type", "visit", "started", "finished", "outcome", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="started", ordering="started_at")
    def started(self, step: StepRun) -> str:
        return to_the_second(step.started_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, step: StepRun) -> str:
        return to_the_second(step.finished_at)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(WorkspaceScopedAdmin, ReadOnlyAdmin):
    list_display = (
        "run_id",
        "journey",
        "customer",
        "state",
        "current_step",
        "wakes",
        "entered",
        "finished",
    )
    list_filter = ("state",)
    search_fields = ("=public_id", "=customer__public_id", "=customer__external_id")
    list_select_related = ("journey", "customer")
    ordering = ("-entered_at",)
    # A full COUNT(*) over millions of runs on every page load is not worth it.
    show_full_result_count = False
    fields = (
        "public_id",
        "workspace",
        "journey",
        "version",
        "customer",
        "state",
        "current_step",
        "wakes",
        "cancellation_key",
        "exit_reason",
        "error",
        "entered",
        "finished",
        "converted",
        "context_pretty",
        "messages_rendered",
    )
    readonly_fields = fields
    inlines = (StepRunInline,)

    @admin.display(description="run id", ordering="id")
    def run_id(self, run: Enrollment) -> str:
        return run.public_id

    @admin.display(description="wakes at", ordering="wake_at")
    def wakes(self, run: Enrollment) -> str:
        return to_the_second(run.wake_at)

    @admin.display(description="entered", ordering="entered_at")
    def entered(self, run: Enrollment) -> str:
        return to_the_second(run.entered_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, run: Enrollment) -> str:
        return to_the_second(run.finished_at)

    @admin.display(description="converted", ordering="converted_at")
    def converted(self, run: Enrollment) -> str:
        return to_the_second(run.converted_at)

    @admin.display(description="messages")
    def messages_rendered(self, enrollment: Enrollment) -> SafeString:
        """Each message the run sent (or was kept from sending), as its recipient got it."""
        messages = Message.objects.filter(
            customer_id=enrollment.customer_id, run_public_id=enrollment.public_id
        ).order_by("created_at", "id")
        return render_to_string("admin/delivery/messages_rendered.html", {"messages": messages})

    @admin.display(description="context")
    def context_pretty(self, enrollment: Enrollment) -> SafeString:
        return pretty_json(enrollment.context)
