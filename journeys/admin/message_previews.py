"""Each send step's message rendered on the journey page, under the steps: what the
saved draft sends, for one of the workspace's customers and the trigger's sample
payload. (The Try it page renders them for any customer and payload.)"""

import json

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from customers.models import Customer
from journeys.authoring.previews import preview_messages, sample_payload
from journeys.models import Journey


class MessagePreviewsMixin:
    """Adds the "message previews" field of the journey page (``journeys.admin.journeys``)."""

    @admin.display(description="message previews")
    def message_previews(self, journey: Journey) -> SafeString | str:
        if journey.pk is None:
            return "Save the journey to see its messages rendered."
        customer = (
            Customer.objects.filter(workspace_id=journey.workspace_id, email__isnull=False)
            .order_by("-pk")  # the newest, by the primary key's index
            .first()
        )
        if customer is None:
            return "The workspace has no customer with an e-mail address to render them for."
        payload = sample_payload(journey)
        previews = preview_messages(journey=journey, customer=customer, payload=payload)
        return render_to_string(
            "admin/journeys/journey/message_previews.html",
            {"previews": previews, "customer": customer, "payload": json.dumps(payload)},
        )
