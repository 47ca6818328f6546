"""Admin for segments and their explicit members.

Members are not an inline of the segment: a static list can hold millions of rows, and
an inline renders every one of them. They have their own change list, filterable by
segment, instead.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from customers.admin_fields import STRICT_JSON_FIELDS
from customers.admin_scoping import WorkspaceScopedAdmin
from customers.admin_services import CreatedByServiceAdmin
from segments.admin_imports import SegmentImportAdminMixin
from segments.conditions import condition_problems
from segments.models import Segment, SegmentMembership
from segments.services import segment_create, segment_member_count
from segments.signals import segment_members_joined


class SegmentForm(forms.ModelForm):
    """The API's rules, so the admin cannot save a segment that bulk entry cannot use."""

    class Meta:
        model = Segment
        fields = ("workspace", "name", "kind", "list_email", "conditions")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        conditions = cleaned.get("conditions")
        if kind == Segment.Kind.STATIC and conditions is not None:
            self.add_error("conditions", "Only dynamic segments have conditions.")
        if kind == Segment.Kind.DYNAMIC:
            if cleaned.get("list_email"):
                self.add_error("list_email", "Only static segments can have a list email.")
            if conditions is None:
                self.add_error("conditions", "A dynamic segment needs conditions.")
            else:
                for problem in condition_problems(conditions, path="conditions"):
                    self.add_error("conditions", problem)
        return cleaned


@admin.register(Segment)
class SegmentAdmin(
    CreatedByServiceAdmin, WorkspaceScopedAdmin, SegmentImportAdminMixin, admin.ModelAdmin
):
    formfield_overrides = STRICT_JSON_FIELDS
    form = SegmentForm
    list_display = ("name", "public_id", "kind", "members", "list_email", "workspace", "created_at")
    list_filter = ("kind", "workspace")
    list_select_related = ("workspace",)
    search_fields = ("name", "=public_id", "list_email")
    readonly_fields = ("public_id", "member_count", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Segment | None = None) -> tuple:
        if obj is not None:
            return (*self.readonly_fields, "workspace")
        return ("public_id", "created_at")

    def create_through_service(self, obj: Segment) -> Segment:
        # As the API makes them (a dynamic segment reads customer fields only, a list
        # e-mail is normalised and unique); a refusal comes back as a message.
        return segment_create(
            workspace=obj.workspace,
            name=obj.name,
            kind=obj.kind,
            list_email=obj.list_email,
            conditions=obj.conditions,
        )

    @admin.display(description="members now")
    def member_count(self, obj: Segment) -> int:
        return segment_member_count(segment=obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Segment]:
        # A static segment's members counted in the list's one query; a dynamic one's
        # by its condition, per row (a page shows at most list_per_page of them).
        return (
            super()
            .get_queryset(request)
            .annotate(static_members=Count("memberships", distinct=True))
        )

    @admin.display(description="members")
    def members(self, obj: Segment) -> int:
        if obj.kind == Segment.Kind.STATIC:
            return obj.static_members
        return segment_member_count(segment=obj)


class MembershipForm(forms.ModelForm):
    class Meta:
        model = SegmentMembership
        fields = ("segment", "customer")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        segment, customer = cleaned.get("segment"), cleaned.get("customer")
        if segment is not None and segment.kind != Segment.Kind.STATIC:
            self.add_error("segment", "Dynamic segments get their members from their conditions.")
        if (
            segment is not None
            and customer is not None
            and segment.workspace_id != customer.workspace_id
        ):
            self.add_error("customer", "The customer belongs to another workspace.")
        return cleaned


@admin.register(SegmentMembership)
class SegmentMembershipAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
    workspace_path = "segment__workspace"
    form = MembershipForm
    list_display = ("segment", "customer", "added_at")
    list_filter = ("segment",)
    list_select_related = ("segment", "customer")
    search_fields = ("=customer__public_id", "=customer__external_id", "=customer__email")
    raw_id_fields = ("segment", "customer")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[SegmentMembership]:
        return super().get_queryset(request).filter(segment__kind=Segment.Kind.STATIC)

    def save_model(
        self, request: HttpRequest, obj: SegmentMembership, form: forms.ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if not change:  # a new member, as segment_members_add reports them
            segment_members_joined.send(
                Segment, segment=obj.segment, customer_ids=[obj.customer_id]
            )
