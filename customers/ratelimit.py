"""Per-API-key rate limiting on the shared cache, with usage headers on every response.

django-ratelimit keeps a fixed-window counter per key in the cache (Redis in
production: atomic increments shared by every web process). The throttle records the
usage on the request; :func:`rate_limit_headers` renders it both as the
``X-RateLimit-*`` headers vendor clients read today and as the IETF draft's
``RateLimit-Policy`` / ``RateLimit`` fields.

Each key has two budgets: trigger calls (views with ``rate_limit_budget = "trigger"``)
count against ``trigger_rate_limit_per_minute``, everything else against
``rate_limit_per_minute``, so a burst of triggers never locks an integration out of
reading its runs, nor the other way round.
"""

from typing import Any

from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from customers.models import ApiKey, default_trigger_rate_limit

WINDOW_SECONDS = 60
USAGE_ATTRIBUTE = "rate_limit_usage"


#: The budget of views that name none.
DEFAULT_BUDGET = "default"
TRIGGER_BUDGET = "trigger"


def _budget_rate(api_key: ApiKey, budget: str) -> int:
    if budget == TRIGGER_BUDGET:
        return api_key.trigger_rate_limit_per_minute
    return api_key.rate_limit_per_minute


class _BudgetThrottle(BaseThrottle):
    """Counts a request against one budget, keeping the usage for the headers."""

    def count(self, request: Request, *, budget: str, holder: str, per_minute: int) -> bool:
        usage = get_usage(
            request._request,
            group=f"{budget}:{holder}",
            key=lambda _group, _request: holder,
            rate=f"{per_minute}/m",
            increment=True,
        )
        usage["budget"] = budget
        setattr(request._request, USAGE_ATTRIBUTE, usage)
        self.time_left = usage["time_left"]
        return not usage["should_limit"]

    def wait(self) -> float:
        return max(1, self.time_left)


class ApiKeyRateThrottle(_BudgetThrottle):
    """Counts each request against its key's budget for the view's kind of call."""

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        budget = getattr(view, "rate_limit_budget", DEFAULT_BUDGET)
        return self.count(
            request,
            budget=budget,
            holder=api_key.public_id,
            per_minute=_budget_rate(api_key, budget),
        )


def rate_limit_headers(usage: dict[str, Any]) -> dict[str, str]:
    limit = usage["limit"]
    remaining = max(0, limit - usage["count"])
    # django-ratelimit counts whole seconds: in the window's last second its time left
    # is 0, though the count resets only at the next one.
    reset = max(1, int(usage["time_left"]))
    budget = usage.get("budget", DEFAULT_BUDGET)
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
        "RateLimit-Policy": f'"{budget}";q={limit};w={WINDOW_SECONDS}',
        "RateLimit": f'"{budget}";r={remaining};t={reset}',
    }


class WebhookRateThrottle(_BudgetThrottle):
    """A webhook trigger's URL has no API key: its requests count against a trigger
    budget of their own, per URL (``RATELIMIT_TRIGGER_PER_MINUTE``), with the same
    headers."""

    def allow_request(self, request: Request, view: Any) -> bool:
        token = view.kwargs.get("token", "")
        return self.count(
            request,
            budget=TRIGGER_BUDGET,
            holder=f"webhook:{token}",
            per_minute=default_trigger_rate_limit(),
        )
