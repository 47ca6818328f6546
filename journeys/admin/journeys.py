"""The admin is the journey editor: edit a draft, check it, publish, pause, archive.

The editor stores exactly what the importer stores: the form normalises the definition
through :mod:`journeys.authoring.definition`, so the admin and the JSON describe the same thing
and an export round-trips. Lifecycle buttons and list actions call
:mod:`journeys.authoring.services`; the change page (:mod:`journeys.admin.lifecycle`) shows
the step graph, each publish problem beside its step and field, and what the draft changed
since the live version. Versions, runs and their steps are read-only: they are history.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import SafeString

from customers.admin_fields import STRICT_JSON_FIELDS
from customers.admin_scoping import WorkspaceScopedAdmin
from customers.admin_services import ServiceErrorsAsMessagesAdmin, row_adopt
from customers.errors import Conflict, InvalidRequest
from journeys.admin.display import ReadOnlyAdmin, pretty_json, problem_text
from journeys.admin.editor import editor_fields_apply
from journeys.admin.json_io import JsonAdminMixin
from journeys.admin.lifecycle import JourneyLifecycleMixin
from journeys.admin.message_previews import MessagePreviewsMixin
from journeys.admin.stats import StatsAdminMixin
from journeys.admin.try_it import TryItAdminMixin
from journeys.authoring.definition import definition_normalize
from journeys.authoring.documents import definition_from_journey
from journeys.authoring.documents import journey_fields_from_definition as fields_from_definition
from journeys.authoring.services import (
    journey_archive,
    journey_import,
    journey_name_check,
    journey_pause,
    journey_publish,
    journey_publish_check,
    journey_update,
)
from journeys.models import Enrollment, Journey, JourneyVersion

DEFINITION_COLUMNS = (
    "name",
    "trigger_type",
    "trigger_event",
    "trigger_schema",
    "trigger_conditions",
    "trigger_options",
    "allow_reentry",
    "max_entries_per_customer",
    "reentry_cooldown_seconds",
    "restart_active",
    "entry_conditions",
    "cancellation_key",
    "controls",
    "start_step",
    "steps",
)


class JourneyAdminForm(forms.ModelForm):
    """Stores only definitions that pass :func:`definition_normalize`, in canonical form."""

    class Meta:
        model = Journey
        fields = ("workspace", *DEFINITION_COLUMNS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        editor_fields_apply(self)  # forms instead of JSON (journeys.admin.editor)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        # A column the form does not show keeps its stored value, and is checked with it.
        draft = Journey(
            **{
                column: cleaned[column] if column in cleaned else getattr(self.instance, column)
                for column in DEFINITION_COLUMNS
            }
        )
        try:
            canonical = definition_normalize(definition_from_journey(draft))
        except InvalidRequest as error:
            raise forms.ValidationError(
                [problem_text(problem) for problem in error.details["problems"]]
            ) from error
        cleaned.update(fields_from_definition(canonical))
        self._check_name(cleaned)
        return cleaned

    def _check_name(self, cleaned: dict[str, Any]) -> None:
        """The import and update services' rule: a name no other journey of the
        workspace has (the change page shows the workspace read-only, so the model's
        constraint check alone would skip it there)."""
        workspace = cleaned.get("workspace") or getattr(self.instance, "workspace", None)
        if workspace is None:
            return
        try:
            journey_name_check(
                workspace_id=workspace.pk, name=cleaned["name"], journey=self.instance
            )
        except Conflict as error:
            self.add_error("name", error.message.removeprefix("name: "))


class JourneyVersionInline(admin.TabularInline):
    model = JourneyVersion
    fields = ("number", "published_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-number",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Journey)
class JourneyAdmin(
    ServiceErrorsAsMessagesAdmin,
    MessagePreviewsMixin,
    JsonAdminMixin,
    StatsAdminMixin,
    WorkspaceScopedAdmin,
    JourneyLifecycleMixin,
    TryItAdminMixin,
    admin.ModelAdmin,
):
    formfield_overrides = STRICT_JSON_FIELDS
    form = JourneyAdminForm
    # What a marketer scans for first, then the ids.
    list_display = (
        "name",
        "status",
        "live_version_number",
        "runs_active",
        "trigger_type",
        "trigger_event",
        "updated_at",
        "public_id",
        "workspace",
    )
    list_filter = ("status", "trigger_type")
    search_fields = ("name", "=public_id")
    list_select_related = ("workspace",)
    raw_id_fields = ("workspace",)
    actions = ("publish_journeys", "pause_journeys", "archive_journeys")
    inlines = (JourneyVersionInline,)
    fieldsets = (
        (None, {"fields": ("workspace", "public_id", "name", "status", "lifecycle")}),
        ("Picture and publish check", {"fields": ("journey_graph", "publish_check")}),
        ("Runs", {"fields": ("run_stats",)}),
        (
            "Trigger",
            {
                "fields": (
                    "trigger_type",
                    "trigger_event",
                    "trigger_schema",
                    "trigger_conditions",
                    "trigger_options",
                    "webhook_url",
                )
            },
        ),
        (
            "Entry rules",
            {
                "fields": (
                    "allow_reentry",
                    "max_entries_per_customer",
                    "reentry_cooldown_seconds",
                    "restart_active",
                    "entry_conditions",
                    "cancellation_key",
                )
            },
        ),
        (
            "Messaging and controls",
            {
                "fields": ("controls",),
                "description": (
                    "Who e-mails are from, when messages may go out (in each customer's "
                    "time zone), what ends a run early, and what counts as a conversion."
                ),
            },
        ),
        (
            "Steps",
            {"fields": ("start_step", "steps", "message_previews", "steps_pretty", "as_json")},
        ),
        ("Try it", {"fields": ("try_it",)}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    base_readonly_fields = (
        "message_previews",
        "as_json",
        "run_stats",
        "public_id",
        "webhook_url",
        "status",
        "lifecycle",
        "lifecycle_buttons",
        "journey_graph",
        "steps_pretty",
        "publish_check",
        "created_at",
        "updated_at",
        "try_it",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Journey]:
        # The number only: selecting the version row would load its whole definition.
        # Active runs counted per journey by a subquery over the partial index of active
        # runs (journey, customer): a join would aggregate every run the journeys ever had.
        active = (
            Enrollment.objects.filter(journey=OuterRef("pk"), state=Enrollment.State.ACTIVE)
            .order_by()
            .values("journey")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                live_version_number=F("live_version__number"),
                runs_active=Coalesce(Subquery(active), 0),
            )
        )

    def save_model(self, request: HttpRequest, obj: Journey, form: Any, change: bool) -> None:
        """Through the API's services: the form has checked the document; the services
        write it (a draft, the name unique in the workspace, an archived one refused)."""
        document = definition_from_journey(obj)
        if change:
            row_adopt(obj, journey_update(journey=obj, document=document))
        else:
            row_adopt(obj, journey_import(workspace=obj.workspace, document=document))

    def get_readonly_fields(self, request: HttpRequest, obj: Journey | None = None) -> Any:
        if obj is not None and obj.status == Journey.Status.ARCHIVED:
            return (*self.base_readonly_fields, "workspace", *DEFINITION_COLUMNS)
        if obj is not None:
            return (*self.base_readonly_fields, "workspace")
        return self.base_readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Journey | None = None) -> bool:
        """Only never-published drafts may be deleted; anything that ran is archived."""
        if obj is not None and (obj.status != Journey.Status.DRAFT or obj.versions.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Bulk delete would bypass the per-journey rule above.
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="live version", ordering="live_version__number")
    def live_version_number(self, journey: Journey) -> int | None:
        return getattr(journey, "live_version_number", None)

    @admin.display(description="runs active", ordering="runs_active")
    def runs_active(self, journey: Journey) -> int:
        return getattr(journey, "runs_active", 0)

    @admin.display(description="webhook URL")
    def webhook_url(self, journey: Journey) -> str:
        """Where a webhook trigger's sender POSTs (rotate it through the API)."""
        if journey.trigger_type != Journey.TriggerType.WEBHOOK or not journey.webhook_token:
            return "-"
        # The path: senders prefix it with this server's public address.
        return reverse("webhook-trigger", args=[journey.webhook_token])

    @admin.display(description="steps (formatted)")
    def steps_pretty(self, journey: Journey) -> SafeString:
        return pretty_json(journey.steps)

    # The actions change journeys: a user who may only view them is not offered them.
    @admin.action(description="Publish selected journeys", permissions=["change"])
    def publish_journeys(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        for journey in queryset:
            try:
                version = journey_publish(journey=journey)
            except InvalidRequest as error:
                # Plain text: a list inside the message would be drawn as success items.
                problems = "; ".join(map(problem_text, error.details.get("problems", [])))
                self.message_user(
                    request, f"{journey.name} cannot be published: {problems}", messages.ERROR
                )
                continue
            except Conflict as error:
                self.message_user(request, f"{journey.name}: {error.message}", messages.ERROR)
                continue
            self.message_user(
                request, f"{journey.name}: version {version.number} is live", messages.SUCCESS
            )
            warnings = journey_publish_check(journey=journey)["warnings"]
            if warnings:
                self.message_user(
                    request,
                    f"{journey.name} warnings: {'; '.join(map(problem_text, warnings))}",
                    messages.WARNING,
                )

    @admin.action(description="Pause selected journeys", permissions=["change"])
    def pause_journeys(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        self._transition(request, queryset, journey_pause, "paused")

    @admin.action(
        description="Archive selected journeys (stops new entries)", permissions=["change"]
    )
    def archive_journeys(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        self._transition(request, queryset, journey_archive, "archived")

    def _transition(
        self, request: HttpRequest, queryset: QuerySet[Journey], service: Any, done: str
    ) -> None:
        for journey in queryset:
            try:
                service(journey=journey)
            except Conflict as error:
                self.message_user(request, f"{journey.name}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{journey.name}: {done}", messages.SUCCESS)


@admin.register(JourneyVersion)
class JourneyVersionAdmin(WorkspaceScopedAdmin, ReadOnlyAdmin):
    workspace_path = "journey__workspace"
    list_display = ("journey", "number", "published_at")
    list_select_related = ("journey",)
    search_fields = ("=journey__public_id", "journey__name")
    fields = ("journey", "number", "published_at", "definition_pretty")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[JourneyVersion]:
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("definition")
        return queryset

    @admin.display(description="definition")
    def definition_pretty(self, version: JourneyVersion) -> SafeString:
        return pretty_json(version.definition)
