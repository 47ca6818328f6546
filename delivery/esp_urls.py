"""The ESPs' tracking webhooks: django-anymail's views, mounted under ``/esp/``
(``/esp/postmark/tracking/``, ``/esp/amazon_ses/tracking/``...).

Each call runs in one transaction: a webhook that posts several events (SendGrid batches
them, SES reports each recipient) records all of them or, when one fails, none, and the
ESP's retry of the refused call (anymail answers 500) finds nothing half done. A body
that is not JSON, or not text, is no ESP's report: it gets a 400 JSON answer, not
anymail's 500 (an ESP would retry a 500). Anymail's inbound-mail webhooks are not
mounted: nothing here receives mail.
"""

import functools
import json
from typing import Any

from anymail import urls as anymail_urls
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern

app_name = "anymail"


def _atomic(pattern: URLPattern) -> URLPattern:
    view = transaction.atomic(pattern.callback)

    # functools.wraps keeps the view's ``csrf_exempt`` mark.
    @functools.wraps(pattern.callback)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            # Raised parsing the body (our receiver parses nothing): nothing was kept.
            return JsonResponse({"error": f"the body cannot be read: {error}"}, status=400)

    return URLPattern(pattern.pattern, guarded, pattern.default_args, pattern.name)


urlpatterns = [
    _atomic(pattern)
    for pattern in anymail_urls.urlpatterns
    if isinstance(pattern, URLPattern) and (pattern.name or "").endswith("_tracking_webhook")
]
