"""What every dialect's views share: the key's workspace; and for trigger views the
trigger budget and ``Idempotency-Key``, as the native trigger API has them."""

from collections.abc import Callable

from rest_framework.request import Request
from rest_framework.response import Response

from customers.http import ApiView
from customers.models import Workspace
from customers.ratelimit import TRIGGER_BUDGET
from journeys.entry.idempotency import idempotency_guard


class DialectView(ApiView):
    """A dialect's endpoint. Its paths carry no workspace: the key's is the one."""

    @property
    def workspace(self) -> Workspace:
        return self.api_key.workspace


class DialectTriggerView(DialectView):
    """A dialect's trigger endpoint, counted against the key's trigger budget like the
    native trigger."""

    rate_limit_budget = TRIGGER_BUDGET

    def idempotent(self, request: Request, answer: Callable[[], Response]) -> Response:
        """``answer()`` once per ``Idempotency-Key`` (every request when none is sent), in
        the transaction that claims the key; a repeat replays the stored answer."""
        with idempotency_guard(request=request, workspace=self.workspace) as guard:
            if guard.replay is not None:
                return guard.replay
            return guard.complete(answer())
