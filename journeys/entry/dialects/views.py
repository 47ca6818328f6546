"""What every dialect's trigger view shares: the key's workspace, the trigger budget and
``Idempotency-Key``, as the native trigger API has them."""

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from customers.http import ApiView
from customers.models import Workspace
from customers.ratelimit import TRIGGER_BUDGET
from journeys.entry.idempotency import HEADER, MAX_KEY_LENGTH, idempotency_guard

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    # What idempotency_guard accepts: 1 to 255 characters, not all spaces.
    type={"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": r"\S"},
    location=OpenApiParameter.HEADER,
    required=False,
    description="Same key and body within 24 h replays the first answer"
    " (header Idempotent-Replayed: true); the same key with another body is a 422.",
)


class DialectTriggerView(ApiView):
    """A dialect's trigger endpoint. Its paths carry no workspace: the key's is the one.

    Counted against the key's trigger budget, like the native trigger.
    """

    rate_limit_budget = TRIGGER_BUDGET

    @property
    def workspace(self) -> Workspace:
        return self.api_key.workspace

    def idempotent(self, request: Request, answer: Callable[[], Response]) -> Response:
        """``answer()`` once per ``Idempotency-Key`` (every request when none is sent), in
        the transaction that claims the key; a repeat replays the stored answer."""
        with idempotency_guard(request=request, workspace=self.workspace) as guard:
            if guard.replay is not None:
                return guard.replay
            return guard.complete(answer())


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's ``CharField`` would take ``12`` as ``"12"``,
    which the OpenAPI schema (``type: string``) says is not accepted."""

    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
