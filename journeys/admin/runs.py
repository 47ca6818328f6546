"""Runs in the admin: read-only history, each with its timeline and the messages it sent."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from customers.admin_scoping import WorkspaceScopedAdmin
from delivery.models import Message
from journeys.admin.display import ReadOnlyAdmin, pretty_json
from journeys.models import Enrollment, StepRun


class StepRunInline(admin.TabularInline):
    model = StepRun
    fields = ("step_key", "step_type", "visit", "started_at", "finished_at", "outcome", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(WorkspaceScopedAdmin, ReadOnlyAdmin):
    list_display = (
        "public_id",
        "journey",
        "customer",
        "state",
        "current_step",
        "wake_at",
        "entered_at",
        "finished_at",
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
        "wake_at",
        "cancellation_key",
        "exit_reason",
        "error",
        "entered_at",
        "finished_at",
        "converted_at",
        "context_pretty",
        "messages_rendered",
    )
    readonly_fields = fields
    inlines = (StepRunInline,)

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
