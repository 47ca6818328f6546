"""The journey's lifecycle on its change page: which version is live and what the draft
changed since, the publish problems beside their steps and fields, the step graph, and
Publish / Pause / Resume / Archive buttons.

The buttons POST to admin URLs of their own (``<id>/publish/`` ...), which call the same
services as the API (:mod:`journeys.authoring.services`) and come back to the page with a
message. They sit inside the change form (``formaction``), so they carry its CSRF token
and need no template of their own; they act on the saved journey, not on unsaved edits.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from customers.errors import Conflict, InvalidRequest
from journeys.admin.display import to_the_second
from journeys.admin.graph import journey_graph_html
from journeys.authoring.definition import definition_normalize
from journeys.authoring.documents import definition_from_journey
from journeys.authoring.services import (
    journey_archive,
    journey_pause,
    journey_publish,
    journey_publish_check,
)
from journeys.models import Journey

#: The lifecycle buttons: (URL name suffix, service, label) by the statuses they apply to.
ACTIONS: dict[str, tuple[Callable[..., Any], str]] = {
    "publish": (journey_publish, "Publish"),
    "resume": (journey_publish, "Resume"),
    "pause": (journey_pause, "Pause"),
    "archive": (journey_archive, "Archive"),
}
ACTIONS_BY_STATUS = {
    Journey.Status.DRAFT: ("publish", "archive"),
    Journey.Status.LIVE: ("publish", "pause", "archive"),
    Journey.Status.PAUSED: ("resume", "archive"),
    Journey.Status.ARCHIVED: (),
}


#: Enter in a field submits a form with its first submit button, which would be one of the
#: lifecycle buttons (Enter in the name field would pause the journey). This one, out of
#: sight and out of the tab order, comes first and saves, as Enter did before.
DEFAULT_SAVE = mark_safe(
    '<button type="submit" name="_save" value="Save" tabindex="-1" aria-hidden="true" '
    'style="position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden">'
    "Save</button>"
)


def draft_changes(journey: Journey) -> list[str] | None:
    """What the draft changes in the live version, in words (``[]``: nothing); None
    when nothing was published yet."""
    live = journey.live_version
    if live is None:
        return None
    try:
        draft = definition_normalize(definition_from_journey(journey))
    except InvalidRequest:
        return ["the draft is not a valid definition"]
    published = live.definition
    changes = [
        f"{part} changed"
        for part in dict.fromkeys([*draft, *published])
        if part != "steps" and draft.get(part) != published.get(part)
    ]
    old = {step["key"]: step for step in published.get("steps", [])}
    new = {step["key"]: step for step in draft.get("steps", [])}
    added = [key for key in new if key not in old]
    removed = [key for key in old if key not in new]
    changed = [key for key in new if key in old and new[key] != old[key]]
    if added:
        changes.append(f"steps added: {', '.join(added)}")
    if removed:
        changes.append(f"steps removed: {', '.join(removed)}")
    if changed:
        changes.append(f"steps changed: {', '.join(changed)}")
    if not (added or removed or changed) and list(new) != list(old):
        changes.append("steps reordered")
    return changes


def problems_table(journey: Journey, check: dict[str, Any]) -> SafeString:
    """Each problem in a row beside its step and field, steps in the journey's order."""
    order = {None: -1}
    for index, step in enumerate(journey.steps if isinstance(journey.steps, list) else []):
        if isinstance(step, dict) and isinstance(step.get("key"), str):
            order.setdefault(step["key"], index)
    rows = [("Error", "jp-error", problem) for problem in check["errors"]]
    rows += [("Warning", "jp-warning", problem) for problem in check["warnings"]]
    rows.sort(key=lambda row: (order.get(row[2].get("step"), len(order)), row[0] != "Error"))
    return format_html(
        '<table class="journey-problems"><thead><tr><th>Step</th><th>Field</th><th></th>'
        "<th>Problem</th></tr></thead><tbody>{}</tbody></table>",
        format_html_join(
            "",
            '<tr class="{}"><td>{}</td><td>{}</td><td><strong>{}</strong></td><td>{}</td></tr>',
            (
                (
                    css,
                    problem.get("step") or "(journey)",
                    _field_cell(problem.get("field")),
                    kind,
                    problem["message"],
                )
                for kind, css, problem in rows
            ),
        ),
    )


def _check(journey: Journey) -> dict[str, Any]:
    """The publish check, once per page (the graph and the problem table both use it)."""
    if getattr(journey, "_publish_check", None) is None:
        journey._publish_check = journey_publish_check(journey=journey)
    return journey._publish_check


def _field_cell(field: str | None) -> SafeString | str:
    return format_html("<code>{}</code>", field) if field else "-"


class JourneyLifecycleMixin:
    """For :class:`~journeys.admin.journeys.JourneyAdmin`: the lifecycle URLs and the
    read-only fields ``lifecycle``, ``lifecycle_buttons``, ``publish_check`` and
    ``journey_graph``."""

    def get_urls(self) -> list[URLPattern]:
        info = self.model._meta.app_label, self.model._meta.model_name
        own = [
            path(
                f"<path:object_id>/{action}/",
                self.admin_site.admin_view(require_POST(self._lifecycle_view(action))),
                name="{}_{}_{}".format(*info, action),
            )
            for action in ACTIONS
        ]
        return own + super().get_urls()

    def get_fieldsets(self, request: HttpRequest, obj: Journey | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not self.has_change_permission(request, obj):
            return fieldsets
        first_name, first = fieldsets[0]
        return [
            (first_name, {**first, "fields": (*first["fields"], "lifecycle_buttons")}),
            *fieldsets[1:],
        ]

    def _lifecycle_view(self, action: str) -> Callable[..., HttpResponse]:
        service = ACTIONS[action][0]

        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            journey = self.get_object(request, unquote(object_id))
            if journey is None:
                raise Http404("journey not found")
            if not self.has_change_permission(request, journey):
                raise PermissionDenied
            try:
                result = service(journey=journey)
            except InvalidRequest as error:
                count = len(error.details.get("problems", []))
                self.message_user(
                    request,
                    f"{journey.name} cannot be published: {count} problem"
                    f"{'s' if count != 1 else ''}, listed under the picture beside the "
                    "step and field each concerns.",
                    messages.ERROR,
                )
            except Conflict as error:
                self.message_user(request, f"{journey.name}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, self._done(journey, action, result), messages.SUCCESS)
                warnings = _check(journey)["warnings"] if action in ("publish", "resume") else []
                if warnings:
                    self.message_user(
                        request,
                        f"{journey.name}: {len(warnings)} warning"
                        f"{'s' if len(warnings) != 1 else ''}, listed under the picture.",
                        messages.WARNING,
                    )
            return HttpResponseRedirect(
                reverse(
                    f"{self.admin_site.name}:journeys_journey_change",
                    args=[journey.pk],
                )
            )

        view.__name__ = f"journey_{action}"
        return view

    @staticmethod
    def _done(journey: Journey, action: str, result: Any) -> str:
        if action in ("publish", "resume"):
            resumed = "resumed; " if action == "resume" else ""
            return f"{journey.name}: {resumed}version {result.number} is live"
        return f"{journey.name}: {'paused' if action == 'pause' else 'archived'}"

    def lifecycle(self, journey: Journey) -> SafeString | str:
        if journey.pk is None:
            return "-"
        live = journey.live_version
        if live is None:
            return "Not published yet: no version is live."
        running = "live" if journey.status == Journey.Status.LIVE else journey.status
        headline = format_html(
            "Version {} ({}, published {}).",
            live.number,
            running,
            to_the_second(live.published_at),
        )
        changes = draft_changes(journey)
        if not changes:
            return format_html("{} The draft has no unpublished changes.", headline)
        return format_html(
            "{} <strong>The draft has unpublished changes</strong>: {}.",
            headline,
            "; ".join(changes),
        )

    lifecycle.short_description = "live version"  # type: ignore[attr-defined]

    def lifecycle_buttons(self, journey: Journey) -> SafeString | str:
        actions = ACTIONS_BY_STATUS.get(journey.status, ())
        if journey.pk is None or not actions:
            return "-"
        changes = draft_changes(journey)
        if journey.status == Journey.Status.LIVE and changes == []:
            actions = tuple(action for action in actions if action != "publish")
        labels = {action: label for action, (_, label) in ACTIONS.items()}
        if changes:
            labels["publish"] = "Publish the changes"
            labels["resume"] = "Resume, publishing the changes"
        buttons = []
        for action in actions:
            url = reverse(f"{self.admin_site.name}:journeys_journey_{action}", args=[journey.pk])
            confirm = (
                " onclick=\"return confirm('Archive for good? Its active runs exit.')\""
                if action == "archive"
                else ""
            )
            buttons.append(
                format_html(
                    '<button type="submit" class="button" formaction="{}" formmethod="post" '
                    'formnovalidate name="_lifecycle" value="{}"{}>{}</button> ',
                    url,
                    action,
                    SafeString(confirm),
                    labels[action],
                )
            )
        return format_html(
            '{}{}<div class="help">These act on the saved journey: save your edits first.</div>',
            DEFAULT_SAVE,
            format_html_join("", "{}", ((button,) for button in buttons)),
        )

    lifecycle_buttons.short_description = "actions"  # type: ignore[attr-defined]

    def publish_check(self, journey: Journey) -> SafeString | str:
        if journey.pk is None:
            return "-"
        check = _check(journey)
        if not check["errors"] and not check["warnings"]:
            return "Ready to publish: no problems found."
        verdict = (
            f"Publishing is refused until the {len(check['errors'])} error"
            f"{'s' if len(check['errors']) != 1 else ''} below are fixed."
            if check["errors"]
            else "Ready to publish, with warnings."
        )
        return format_html("<p>{}</p>{}", verdict, problems_table(journey, check))

    publish_check.short_description = "publish check"  # type: ignore[attr-defined]

    def journey_graph(self, journey: Journey) -> SafeString | str:
        if journey.pk is None:
            return "-"
        check = _check(journey)
        flagged = {problem["step"] for problem in check["errors"] if problem.get("step")}
        return journey_graph_html(journey=journey, flagged=flagged)

    journey_graph.short_description = "picture"  # type: ignore[attr-defined]
