"""Admin for state webhooks: endpoints are managed here, deliveries are history.

Endpoints made in the admin get a generated signing secret, shown once in a message
when the endpoint is saved (like an API key): the sender still signs with it, but no
page shows it again, so a staff user who may only view endpoints never reads one;
pages show a short hint instead. Deliveries are read-only: their fate is written by the
delivery tasks alone, and the table grows with every event, so its list skips the full
count.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string

from customers.admin_scoping import WorkspaceScopedAdmin
from customers.admin_services import CreatedByServiceAdmin, ServiceErrorsAsMessagesAdmin
from customers.errors import InvalidRequest
from delivery.consent import subscriptions_update, topic_create
from delivery.frequency_caps import frequency_cap_create
from delivery.models import (
    ALL_TOPICS,
    FrequencyCap,
    Message,
    Subscription,
    Suppression,
    Topic,
    WebhookDelivery,
    WebhookEndpoint,
)
from delivery.state_webhooks.endpoints import (
    EVENT_TYPES,
    webhook_secret_hint,
    webhook_secret_new,
    webhook_url_validate,
)


class WebhookEndpointForm(forms.ModelForm):
    # Validated by the same rule as the API (clean_url), not by a second URL parser.
    url = forms.CharField(max_length=2048, widget=forms.URLInput(attrs={"size": 80}))
    event_types = forms.MultipleChoiceField(
        choices=[(event_type, event_type) for event_type in EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("workspace", "url", "event_types", "enabled", "disabled_reason")

    def clean_url(self) -> str:
        try:
            return webhook_url_validate(self.cleaned_data["url"])
        except InvalidRequest as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_event_types(self) -> list[str]:
        chosen = set(self.cleaned_data["event_types"])
        return [event_type for event_type in EVENT_TYPES if event_type in chosen]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "workspace", "enabled", "event_types", "disabled_reason", "created_at")
    list_filter = ("enabled", "workspace")
    list_select_related = ("workspace",)
    search_fields = ("url", "public_id", "workspace__name", "workspace__public_id")
    readonly_fields = ("public_id", "signing_secret", "created_at")
    fields = (
        "workspace",
        "url",
        "event_types",
        "enabled",
        "disabled_reason",
        "public_id",
        "signing_secret",
        "created_at",
    )
    actions = ("enable", "disable")

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> Any:
        # An endpoint belongs to its workspace for life: moving it would send one
        # tenant's events to another's receiver.
        if obj is not None:
            return (*self.readonly_fields, "workspace")
        return self.readonly_fields

    @admin.display(description="Signing secret")
    def signing_secret(self, obj: WebhookEndpoint) -> str:
        if not obj.secret:
            return "generated when the endpoint is saved, and shown once"
        return f"{webhook_secret_hint(obj.secret)} (shown only when the endpoint was created)"

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool
    ) -> None:
        new_secret = None if obj.secret else webhook_secret_new()
        if new_secret:
            obj.secret = new_secret
        if obj.enabled:
            obj.disabled_reason = ""
        super().save_model(request, obj, form, change)
        if new_secret:
            self.message_user(
                request,
                f"Signing secret for {obj.url}: {new_secret} - copy it into the receiver now, "
                "it will not be shown again.",
                messages.WARNING,
            )

    # Actions change rows: a user who may only view endpoints must not see them.
    @admin.action(description="Enable selected endpoints", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = queryset.filter(enabled=False).update(enabled=True, disabled_reason="")
        self.message_user(request, f"Enabled {count} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = queryset.filter(enabled=True).update(
            enabled=False, disabled_reason="disabled in the admin"
        )
        self.message_user(request, f"Disabled {count} endpoint(s).", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
    workspace_path = "endpoint__workspace"
    list_display = (
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "event_type")
    list_select_related = ("endpoint",)
    search_fields = ("event_id", "endpoint__url", "endpoint__public_id")
    show_full_result_count = False
    ordering = ("-created_at",)
    fields = (
        "event_id",
        "endpoint",
        "event_type",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Topic)
class TopicAdmin(CreatedByServiceAdmin, WorkspaceScopedAdmin, admin.ModelAdmin):
    """Subscription topics: what marketing send steps name and customers unsubscribe from.
    New ones are made by ``topic_create``, as in the API (its per-workspace limit too)."""

    list_display = ("key", "name", "workspace", "default_subscribed", "created_at")
    list_filter = ("default_subscribed",)
    search_fields = ("key", "name")
    fields = ("workspace", "key", "name", "default_subscribed")

    def get_readonly_fields(self, request: HttpRequest, obj: Topic | None = None) -> Any:
        # Send steps name the key: renaming it would orphan them. The name may change.
        return ("workspace", "key") if obj is not None else ()

    def create_through_service(self, obj: Topic) -> Topic:
        return topic_create(
            workspace=obj.workspace,
            key=obj.key,
            name=obj.name,
            default_subscribed=obj.default_subscribed,
        )


@admin.register(FrequencyCap)
class FrequencyCapAdmin(CreatedByServiceAdmin, WorkspaceScopedAdmin, admin.ModelAdmin):
    """At most so many marketing messages per customer, channel and period, across journeys.
    New ones are made by ``frequency_cap_create``, as in the API."""

    list_display = ("public_id", "workspace", "channel", "limit", "period_seconds")
    list_filter = ("channel",)
    fields = ("workspace", "channel", "limit", "period_seconds")

    def create_through_service(self, obj: FrequencyCap) -> FrequencyCap:
        return frequency_cap_create(
            workspace=obj.workspace,
            channel=obj.channel,
            limit=obj.limit,
            period_seconds=obj.period_seconds,
        )


@admin.register(Suppression)
class SuppressionAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
    """Addresses nothing is sent to. Delete a row to allow an address again."""

    list_display = ("address", "channel", "reason", "workspace", "created_at")
    list_filter = ("reason", "channel")
    search_fields = ("=address",)
    fields = ("workspace", "channel", "address", "reason", "message", "created_at")
    readonly_fields = ("message", "created_at")
    raw_id_fields = ("message",)

    def save_model(self, request: HttpRequest, obj: Suppression, form: Any, change: bool) -> None:
        obj.address = obj.address.strip().lower()
        super().save_model(request, obj, form, change)


@admin.register(Subscription)
class SubscriptionAdmin(ServiceErrorsAsMessagesAdmin, WorkspaceScopedAdmin, admin.ModelAdmin):
    """Customers' choices per topic (blank topic: every marketing message), written by
    ``subscriptions_update`` as the API's: the topic must be one of the customer's
    workspace, and the workspace is the customer's."""

    list_display = ("customer", "topic_or_all", "subscribed", "source", "updated_at")
    list_filter = ("subscribed", "source")
    search_fields = ("=customer__public_id", "=customer__external_id", "=customer__email")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    fields = ("workspace", "customer", "topic", "subscribed", "source", "updated_at")
    readonly_fields = ("workspace", "source", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Subscription | None = None) -> Any:
        # A row is one customer's choice about one topic: only the choice changes.
        if obj is not None:
            return (*self.readonly_fields, "customer", "topic")
        return self.readonly_fields

    @admin.display(description="topic")
    def topic_or_all(self, subscription: Subscription) -> str:
        return subscription.topic or "all"

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        subscriptions_update(
            customer=obj.customer, changes={obj.topic or ALL_TOPICS: obj.subscribed}, source="admin"
        )
        saved = Subscription.objects.get(customer=obj.customer, topic=obj.topic)
        for field in Subscription._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False


@admin.register(Message)
class MessageAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
    """Every message written: what it said, to whom, and what became of it. History: read
    only."""

    list_display = (
        "public_id", "customer", "channel", "status", "subject", "step_key", "created_at",
        "sent_at",
    )  # fmt: skip
    list_filter = ("status", "channel", "transactional")
    search_fields = ("=public_id", "=recipient", "=run_public_id", "=provider_message_id")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    show_full_result_count = False
    fields = ("rendered",)
    readonly_fields = ("rendered",)

    @admin.display(description="message")
    def rendered(self, message: Message) -> str:
        return render_to_string("admin/delivery/messages_rendered.html", {"messages": [message]})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
