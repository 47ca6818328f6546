"""Admin for workspaces, API keys, customers and what is known about them.

Customer and event tables grow to millions of rows, so their change lists skip the
full ``COUNT(*)`` and pick related rows by raw id instead of rendering giant selects.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from customers.admin_fields import STRICT_JSON_FIELDS
from customers.admin_scoping import WorkspaceScopedAdmin
from customers.admin_services import ServiceErrorsAsMessagesAdmin, row_adopt
from customers.errors import DomainError
from customers.models import (
    ApiKey,
    ChannelIdentity,
    Customer,
    Event,
    TenantProfile,
    Workspace,
    WorkspaceMember,
    normalize_email,
)
from customers.services import (
    UNSET,
    api_keys_revoke,
    customer_identify,
    customer_update,
    validate_timezone,
)


class WorkspaceMemberInline(admin.TabularInline):
    """Who works in this workspace: staff users who are not superusers see its rows only."""

    model = WorkspaceMember
    fields = ("user", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("user",)
    extra = 0


class UserWorkspacesInline(admin.TabularInline):
    """The same memberships, seen from the user's page."""

    model = WorkspaceMember
    fk_name = "user"
    fields = ("workspace", "created_at")
    readonly_fields = ("created_at",)
    extra = 0
    verbose_name = "workspace"
    verbose_name_plural = "workspaces (this user sees their rows only, unless a superuser)"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserWithWorkspacesAdmin(UserAdmin):
    inlines = (*UserAdmin.inlines, UserWorkspacesInline)


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
    workspace_path = "pk"
    list_display = ("name", "public_id", "created_at")
    search_fields = ("name", "public_id")
    readonly_fields = ("public_id", "created_at")
    inlines = (WorkspaceMemberInline,)


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
class ApiKeyAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
    """Keys are created here too; the secret is shown once, in a message, then only hashed.

    A key is revoked with the button on its page or the list action, never by typing a
    date: both go through ``api_keys_revoke``.
    """

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
    readonly_fields = (
        "public_id",
        "prefix",
        "last_used_at",
        "revoked",
        "revoked_at",
        "created_at",
    )
    fields = (
        "workspace",
        "name",
        "rate_limit_per_minute",
        "trigger_rate_limit_per_minute",
        "public_id",
        "prefix",
        "last_used_at",
        "revoked",
        "created_at",
    )
    actions = ("revoke",)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:  # nothing to revoke yet
            return [field for field in self.fields if field != "revoked"]
        if not self.has_change_permission(request, obj):  # no button for who cannot use it
            return [field if field != "revoked" else "revoked_at" for field in self.fields]
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple:
        # A key belongs to its workspace for life: moving it would hand one tenant's
        # integration to another.
        if obj is not None:
            return (*self.readonly_fields, "workspace")
        return self.readonly_fields

    # Revoking changes rows: a user who may only view keys must not be offered it.
    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = api_keys_revoke(keys=queryset)
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)

    @admin.display(description="Revoked")
    def revoked(self, obj: ApiKey) -> SafeString | str:
        """The revocation time, or the one button that revokes the key now."""
        if obj.pk is None:
            return "-"
        if obj.revoked_at is not None:
            return format_html("{} (requests with it get 401)", obj.revoked_at)
        return mark_safe(  # a constant: nothing from the row in it
            '<input type="submit" name="_revoke" value="Revoke this key" class="deletelink"'
            ' style="padding: 6px 12px">'
            '<p class="help">Requests with it are refused from then on; it cannot be undone.</p>'
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The button sits in the change form: its POST revokes, and saves nothing else.
        if request.method == "POST" and "_revoke" in request.POST:
            api_key = self.get_object(request, object_id)
            if not self.has_change_permission(request, api_key):
                raise PermissionDenied
            if api_keys_revoke(keys=ApiKey.objects.filter(pk=api_key.pk)):
                self.log_change(request, api_key, [{"changed": {"fields": ["revoked_at"]}}])
                self.message_user(request, f"Revoked API key {api_key.name!r}.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The secret only exists in create_key's return value: make the key there and
        # adopt its row, so the admin's redirect and log entry point at it.
        api_key, raw_key = ApiKey.objects.create_key(workspace=obj.workspace, name=obj.name)
        api_key.rate_limit_per_minute = obj.rate_limit_per_minute
        api_key.trigger_rate_limit_per_minute = obj.trigger_rate_limit_per_minute
        api_key.save(update_fields=["rate_limit_per_minute", "trigger_rate_limit_per_minute"])
        row_adopt(obj, api_key)
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


class CustomerAdminForm(forms.ModelForm):
    """The API's rules: an identifier to know the person by, a normalised e-mail (so the
    uniqueness check sees what is stored), a real time zone, attributes as an object."""

    class Meta:
        model = Customer
        fields = ("workspace", "external_id", "email", "anonymous_id", "status", "timezone")

    def clean_email(self) -> str | None:
        return normalize_email(self.cleaned_data.get("email"))

    def clean_timezone(self) -> str:
        value = self.cleaned_data.get("timezone") or ""
        try:
            return validate_timezone(value)
        except DomainError as error:
            raise forms.ValidationError(error.message) from None

    def clean_attributes(self) -> dict[str, Any]:
        value = self.cleaned_data.get("attributes")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError('Enter a JSON object, such as {"plan": "pro"}.')
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        identifiers = ("external_id", "email", "anonymous_id")
        if self.instance.pk is None and not any(cleaned.get(name) for name in identifiers):
            raise forms.ValidationError(
                "Give an external id, an e-mail or an anonymous id to know the customer by."
            )
        return cleaned


@admin.register(Customer)
class CustomerAdmin(ServiceErrorsAsMessagesAdmin, WorkspaceScopedAdmin, admin.ModelAdmin):
    """Customers are written by the same services as the API's identify and PATCH, so
    whatever listens to customer changes (segment triggers) hears the admin too."""

    form = CustomerAdminForm
    formfield_overrides = STRICT_JSON_FIELDS
    list_display = ("__str__", "public_id", "external_id", "email", "status", "workspace")
    list_filter = ("status", "workspace", "created_at")
    list_select_related = ("workspace",)
    search_fields = ("=public_id", "=external_id", "email")
    readonly_fields = ("public_id", "journeys_and_messages", "created_at", "updated_at")
    fields = (
        "workspace",
        "public_id",
        "external_id",
        "email",
        "anonymous_id",
        "status",
        "timezone",
        "attributes",
        "journeys_and_messages",
        "created_at",
        "updated_at",
    )
    inlines = (ChannelIdentityInline, TenantProfileInline)

    @admin.display(description="runs and messages")
    def journeys_and_messages(self, customer: Customer) -> str:
        """Links to this customer's runs and messages (their own pages, which list them
        newest first; named by URL, as customers knows nothing of journeys)."""
        if customer.pk is None:
            return "-"
        query = f"?customer__id__exact={customer.pk}"
        return format_html(
            '<a href="{}{}">Runs</a> · <a href="{}{}">Messages</a>',
            reverse("admin:journeys_enrollment_changelist"), query,
            reverse("admin:delivery_message_changelist"), query,
        )  # fmt: skip

    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> tuple:
        if obj is not None:
            # As in the API: PATCH changes neither the workspace nor the anonymous id.
            return (*self.readonly_fields, "workspace", "anonymous_id")
        return self.readonly_fields

    def save_model(
        self, request: HttpRequest, obj: Customer, form: ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            previous = form.initial.get("attributes") or {}
            attributes = {key: None for key in previous if key not in data["attributes"]}
            attributes.update(data["attributes"])  # null removes, as in the API
            saved = customer_update(
                customer=obj,
                email=data["email"] if "email" in form.changed_data else UNSET,
                external_id=data["external_id"] if "external_id" in form.changed_data else UNSET,
                attributes=attributes,
                status=data["status"],
                timezone=data["timezone"],
            )
        else:
            saved, _created = customer_identify(
                workspace=data["workspace"],
                external_id=data["external_id"],
                email=data["email"],
                anonymous_id=data["anonymous_id"],
                attributes=data["attributes"],
                timezone=data["timezone"],
                status=data["status"],
            )
        # Adopt the service's row, so inlines, the redirect and the log entry use it.
        row_adopt(obj, saved)


@admin.register(ChannelIdentity)
class ChannelIdentityAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
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
class EventAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
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
