"""The journey as JSON in the admin: export a journey's document, import one as a new
draft. The forms and the JSON describe the same thing, so a document exported here
imports unchanged (here, through the API, or ``manage.py import_journey``)."""

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from customers.admin_scoping import workspace_ids_for
from customers.errors import DomainError
from customers.models import Workspace
from customers.strict_json import JSONInputError, json_loads_strict
from journeys.admin.display import problem_text
from journeys.authoring.documents import definition_from_journey
from journeys.authoring.services import journey_import
from journeys.models import Journey


class ImportForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=Workspace.objects.none())
    document = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "class": "vLargeTextField"}),
        help_text="A journey document, as Export gives it (or the API's GET journeys/{id}/export).",
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = workspace_ids_for(request)
        workspaces = Workspace.objects.order_by("name")
        self.fields["workspace"].queryset = (
            workspaces if allowed is None else workspaces.filter(pk__in=allowed)
        )

    def clean_document(self) -> Any:
        try:
            return json_loads_strict(self.cleaned_data["document"])
        except JSONInputError as error:
            raise forms.ValidationError(f"Enter valid JSON: {error}.") from error


class JsonAdminMixin:
    """Adds Export JSON (per journey) and Import JSON (a new draft) to the journey admin."""

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path("import-json/", wrap(self.import_json_view), name="journeys_journey_import_json"),
            path(
                "<path:object_id>/export-json/",
                wrap(self.export_json_view),
                name="journeys_journey_export_json",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def as_json(self, journey: Journey) -> str:
        if journey.pk is None:
            return format_html(
                'Or <a href="{}">import a journey from JSON</a>.',
                reverse("admin:journeys_journey_import_json"),
            )
        return format_html(
            '<a href="{}">Export JSON</a> (the document this page edits) · '
            '<a href="{}">Import JSON</a> as a new draft',
            reverse("admin:journeys_journey_export_json", args=[journey.pk]),
            reverse("admin:journeys_journey_import_json"),
        )

    as_json.short_description = "as JSON"  # type: ignore[attr-defined]

    def export_json_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        journey = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if journey is None or not self.has_view_permission(request, journey):  # type: ignore[attr-defined]
            raise PermissionDenied
        body = json.dumps(definition_from_journey(journey), indent=2, ensure_ascii=False)
        response = HttpResponse(body + "\n", content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{journey.public_id}.json"'
        return response

    def import_json_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        form = ImportForm(request.POST or None, request=request)
        if request.method == "POST" and form.is_valid():
            try:
                journey = journey_import(
                    workspace=form.cleaned_data["workspace"],
                    document=form.cleaned_data["document"],
                )
            except DomainError as error:
                problems = error.details.get("problems") or []
                for problem in problems:
                    form.add_error("document", problem_text(problem))
                if not problems:
                    form.add_error("document", error.message)
            else:
                messages.success(request, f"Imported {journey.name} as a draft.")
                return HttpResponseRedirect(
                    reverse("admin:journeys_journey_change", args=[journey.pk])
                )
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": "Import a journey from JSON",
            "opts": Journey._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/journeys/journey/import_json.html", context)
