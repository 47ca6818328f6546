"""The ESPs' tracking webhooks: django-anymail's views, mounted under ``/esp/``
(``/esp/postmark/tracking/``, ``/esp/amazon_ses/tracking/``...).

Each call runs in one transaction: a webhook that posts several events (SendGrid batches
them, SES reports each recipient) records all of them or, when one fails, none, and the
ESP's retry of the refused call (anymail answers 500) finds nothing half done. Anymail's
inbound-mail webhooks are not mounted: nothing here receives mail.
"""

from anymail import urls as anymail_urls
from django.db import transaction
from django.urls import URLPattern

app_name = "anymail"


def _atomic(pattern: URLPattern) -> URLPattern:
    # ``transaction.atomic`` wraps with functools.wraps, which keeps the view's
    # ``csrf_exempt`` mark.
    return URLPattern(
        pattern.pattern, transaction.atomic(pattern.callback), pattern.default_args, pattern.name
    )


urlpatterns = [
    _atomic(pattern)
    for pattern in anymail_urls.urlpatterns
    if isinstance(pattern, URLPattern) and (pattern.name or "").endswith("_tracking_webhook")
]
