"""Admin for workspaces, API keys, customers and what is known about them.

Customer and event tables grow to millions of rows, so their change lists skip the
full ``COUNT(*)`` and pick related rows by raw id instead of rendering giant selects.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils import timezone

from customers.admin_fields import STRICT_JSON_FIELDS
from customers.models import ApiKey, ChannelIdentity, Customer, Event, TenantProfile, Workspace
from customers.signals import customers_changed


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "created_at")
    search_fields = ("name", "public_id")
    readonly_fields = ("public_id", "created_at")


class RevokedFilter(admin.SimpleListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Revoked"), ("no", "Active")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=True)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here too; the secret is shown once, in a message, then only hashed."""

    list_display = (
        "name",
        "prefix",
        "workspace",
        "rate_limit_per_minute",
        "trigger_rate_limit_per_minute",
        "last_used_at",
        "revoked_at",
        "created_at",
    )
    list_filter = (RevokedFilter, "workspace")
    list_select_related = ("workspace",)
    search_fields = ("name", "prefix", "public_id", "workspace__name", "workspace__public_id")
    readonly_fields = ("public_id", "prefix", "last_used_at", "created_at")
    fields = (
        "workspace",
        "name",
        "rate_limit_per_minute",
        "trigger_rate_limit_per_minute",
        "public_id",
        "prefix",
        "last_used_at",
        "revoked_at",
        "created_at",
    )
    actions = ("revoke",)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple:
        # A key belongs to its workspace for life: moving it would hand one tenant's
        # integration to another.
        if obj is not None:
            return (*self.readonly_fields, "workspace")
        return self.readonly_fields

    # Revoking changes rows: a user who may only view keys must not be offered it.
    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The secret only exists in create_key's return value: make the key there and
        # adopt its row, so the admin's redirect and log entry point at it.
        api_key, raw_key = ApiKey.objects.create_key(workspace=obj.workspace, name=obj.name)
        api_key.rate_limit_per_minute = obj.rate_limit_per_minute
        api_key.trigger_rate_limit_per_minute = obj.trigger_rate_limit_per_minute
        api_key.revoked_at = obj.revoked_at
        api_key.save(
            update_fields=["rate_limit_per_minute", "trigger_rate_limit_per_minute", "revoked_at"]
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(api_key, field.attname))
        obj._state.adding = False
        obj._state.db = api_key._state.db
        self.message_user(
            request,
            f"New API key {api_key.name!r}: {raw_key} - copy it now, it will not be shown again.",
            messages.WARNING,
        )


class _SameWorkspaceFormSet(BaseInlineFormSet):
    """Rows hanging off a customer share the customer's workspace; nobody types it."""

    def save_new(self, form: ModelForm, commit: bool = True) -> Any:
        form.instance.workspace_id = self.instance.workspace_id
        return super().save_new(form, commit=commit)


class ChannelIdentityInline(admin.TabularInline):
    model = ChannelIdentity
    formset = _SameWorkspaceFormSet
    fields = ("channel_type", "channel_id", "created_at")
    readonly_fields = ("created_at",)
    extra = 0


class TenantProfileInline(admin.StackedInline):
    formfield_overrides = STRICT_JSON_FIELDS
    model = TenantProfile
    formset = _SameWorkspaceFormSet
    fields = ("tenant_id", "profile", "updated_at")
    readonly_fields = ("updated_at",)
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    formfield_overrides = STRICT_JSON_FIELDS
    list_display = ("__str__", "public_id", "external_id", "email", "status", "workspace")
    list_filter = ("status", "workspace", "created_at")
    list_select_related = ("workspace",)
    search_fields = ("=public_id", "=external_id", "email")
    readonly_fields = ("public_id", "created_at", "updated_at")
    fields = (
        "workspace",
        "public_id",
        "external_id",
        "email",
        "anonymous_id",
        "status",
        "timezone",
        "attributes",
        "created_at",
        "updated_at",
    )
    inlines = (ChannelIdentityInline, TenantProfileInline)
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> tuple:
        if obj is not None:
            return (*self.readonly_fields, "workspace")
        return self.readonly_fields

    def save_model(
        self, request: HttpRequest, obj: Customer, form: ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        # As every other write of a customer does (segment triggers listen).
        customers_changed.send(Customer, workspace_id=obj.workspace_id, customer_ids=[obj.pk])


@admin.register(ChannelIdentity)
class ChannelIdentityAdmin(admin.ModelAdmin):
    list_display = ("channel_type", "channel_id", "customer", "workspace", "created_at")
    list_filter = ("channel_type", "workspace")
    list_select_related = ("customer", "workspace")
    search_fields = ("=channel_id", "=customer__public_id", "=customer__external_id")
    raw_id_fields = ("customer",)
    show_full_result_count = False

    def save_model(
        self, request: HttpRequest, obj: ChannelIdentity, form: ModelForm, change: bool
    ) -> None:
        obj.workspace_id = obj.customer.workspace_id
        super().save_model(request, obj, form, change)

    def get_exclude(self, request: HttpRequest, obj: ChannelIdentity | None = None) -> tuple:
        return ("workspace",)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    formfield_overrides = STRICT_JSON_FIELDS
    list_display = ("name", "customer", "workspace", "timestamp", "received_at")
    list_filter = ("workspace",)
    list_select_related = ("customer", "workspace")
    search_fields = ("=name", "=customer__public_id", "=customer__external_id", "=message_id")
    raw_id_fields = ("customer",)
    readonly_fields = ("received_at",)
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: Event, form: ModelForm, change: bool) -> None:
        if obj.customer_id is not None:
            obj.workspace_id = obj.customer.workspace_id
        super().save_model(request, obj, form, change)
