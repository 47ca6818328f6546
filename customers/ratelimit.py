"""Per-API-key rate limiting on the shared cache, with usage headers on every response.

django-ratelimit keeps a fixed-window counter per key in the cache (Redis in
production: atomic increments shared by every web process). The throttle records the
usage on the request; :func:`rate_limit_headers` renders it both as the
``X-RateLimit-*`` headers vendor clients read today and as the IETF draft's
``RateLimit-Policy`` / ``RateLimit`` fields.
"""

from typing import Any

from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from customers.models import ApiKey

WINDOW_SECONDS = 60
USAGE_ATTRIBUTE = "rate_limit_usage"


class ApiKeyRateThrottle(BaseThrottle):
    """Counts each request against its key's ``rate_limit_per_minute``."""

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        # One budget per key across the whole API, as the seed describes it.
        usage = get_usage(
            request._request,
            group=f"api:{api_key.public_id}",
            key=lambda _group, _request: api_key.public_id,
            rate=f"{api_key.rate_limit_per_minute}/m",
            increment=True,
        )
        setattr(request._request, USAGE_ATTRIBUTE, usage)
        self.time_left = usage["time_left"]
        return not usage["should_limit"]

    def wait(self) -> float:
        return max(1, self.time_left)


def rate_limit_headers(usage: dict[str, Any]) -> dict[str, str]:
    limit = usage["limit"]
    remaining = max(0, limit - usage["count"])
    reset = max(0, int(usage["time_left"]))
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
        "RateLimit-Policy": f'"default";q={limit};w={WINDOW_SECONDS}',
        "RateLimit": f'"default";r={remaining};t={reset}',
    }
