"""The journey's "Try it" page: the calls that trigger it, and a live preview.

:class:`TryItAdminMixin` adds the page (``<journey>/try/``) and a "Try it" link on the
change page to a journey admin. The page only parses the form and calls
:mod:`journeys.authoring.previews`: the commands, previews, dry run and test send are
the services' work.
"""

from typing import Any

from django import forms
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from customers.admin_fields import StrictJSONFormField
from customers.errors import DomainError
from journeys.authoring.previews import (
    customer_for_preview,
    entry_dry_run,
    preview_messages,
    sample_payload,
    send_test,
    trigger_examples,
)
from journeys.models import Journey

ACTIONS = {"preview": "Preview messages", "dry_run": "Dry run", "send_test": "Send test"}


class TryItForm(forms.Form):
    customer = forms.CharField(
        max_length=320,
        help_text="The customer to try it for: their external id or e-mail address.",
    )
    payload = StrictJSONFormField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60, "spellcheck": "false"}),
        help_text="The trigger's payload, a JSON object (prefilled from the trigger schema).",
    )
    step = forms.ChoiceField(
        required=False, help_text="Send test: the e-mail step whose message is sent."
    )
    address = forms.CharField(
        required=False,
        max_length=320,
        help_text="Send test: where the message goes (its subject starts with [Test]).",
    )

    def __init__(self, *args: Any, journey: Journey, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["step"].choices = [
            (step["key"], step["key"])
            for step in journey.steps or ()
            if step.get("type") == "send" and step.get("channel") == "email"
        ]

    def clean_payload(self) -> dict[str, Any]:
        payload = self.cleaned_data["payload"]
        if payload is None:
            return {}
        if not isinstance(payload, dict):
            raise forms.ValidationError("The payload must be a JSON object ({...}).")
        return payload


class TryItAdminMixin:
    """For a ModelAdmin of :class:`Journey`: the "Try it" page and its link."""

    try_it_template = "admin/journeys/journey/try_it.html"

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/try/",
                self.admin_site.admin_view(self.try_it_view),
                name=f"{opts.app_label}_{opts.model_name}_try_it",
            ),
            *super().get_urls(),
        ]

    def try_it(self, journey: Journey) -> str:
        if journey.pk is None:
            return "Save the journey first."
        url = reverse("admin:journeys_journey_try_it", args=[journey.pk])
        return format_html(
            '<a href="{}">Try it</a>: the cURL commands that trigger this journey, its '
            "messages rendered for a customer, a dry run of the entry rules, a test send.",
            url,
        )

    try_it.short_description = "try it"  # type: ignore[attr-defined]

    def try_it_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        journey = self.get_object(request, unquote(object_id))
        if journey is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, journey):
            raise PermissionDenied
        context: dict[str, Any] = {}
        if request.method == "POST":
            form = TryItForm(request.POST, journey=journey)
            action = request.POST.get("action")
            if action not in ACTIONS:
                form.add_error(None, "Choose Preview messages, Dry run or Send test.")
            elif form.is_valid():
                context.update(self._try(request, journey, form, action))
        else:
            form = TryItForm(
                journey=journey,
                initial={"payload": sample_payload(journey), "address": request.user.email},
            )
        base_url = request.build_absolute_uri("/")
        context.update(
            {
                **self.admin_site.each_context(request),
                "title": f"Try {journey.name}",
                "opts": self.opts,
                "original": journey,
                "journey": journey,
                "form": form,
                "actions": ACTIONS,
                "examples": trigger_examples(
                    journey=journey, base_url=base_url, workspace=journey.workspace
                ),
                "can_send": self.has_change_permission(request, journey),
            }
        )
        return TemplateResponse(request, self.try_it_template, context)

    def _try(
        self, request: HttpRequest, journey: Journey, form: TryItForm, action: str
    ) -> dict[str, Any]:
        data = form.cleaned_data
        try:
            customer = customer_for_preview(
                workspace=journey.workspace, identifier=data["customer"]
            )
        except DomainError as error:
            form.add_error("customer", error.message)
            return {}
        payload = data["payload"]
        if action == "preview":
            return {
                "previews": preview_messages(journey=journey, customer=customer, payload=payload)
            }
        if action == "dry_run":
            return {"dry_run": entry_dry_run(journey=journey, customer=customer, payload=payload)}
        if not self.has_change_permission(request, journey):
            raise PermissionDenied
        try:
            sent = send_test(
                journey=journey,
                step_key=data["step"],
                address=data["address"],
                customer=customer,
                payload=payload,
            )
        except DomainError as error:
            form.add_error(error.details.get("field"), error.message)
            return {}
        return {"sent": sent}
