"""Which e-mail service provider (ESP) sends, read from the environment by settings.

``EMAIL_URL`` names the way out: ``smtp://...`` and ``consolemail://`` as before, or an
ESP by its scheme alone (``postmark://``, ``amazonses://``, ...), which selects
django-anymail's backend for it. The ESP's credentials and options are anymail's own
settings, given as ``ANYMAIL_<NAME>`` environment variables (``ANYMAIL_POSTMARK_SERVER_TOKEN``,
``ANYMAIL_WEBHOOK_SECRET``...): each becomes ``ANYMAIL["<NAME>"]``. A value that starts
with ``{`` or ``[`` is read as JSON (``ANYMAIL_AMAZON_SES_CLIENT_PARAMS``, a list of
webhook secrets); any other value is the string as given.

Imported by ``config/settings.py`` before Django is set up: nothing Django here.
"""

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

#: ``EMAIL_URL`` scheme: django-anymail's backend module for that ESP. (A URL scheme has
#: no underscore, hence ``amazonses`` and ``unisendergo``.)
ESP_BACKENDS = {
    "amazonses": "amazon_ses",
    "brevo": "brevo",
    "mailersend": "mailersend",
    "mailgun": "mailgun",
    "mailjet": "mailjet",
    "mailtrap": "mailtrap",
    "mandrill": "mandrill",
    "postal": "postal",
    "postmark": "postmark",
    "resend": "resend",
    "scaleway": "scaleway",
    "sendgrid": "sendgrid",
    "sparkpost": "sparkpost",
    "unisendergo": "unisender_go",
}

_ANYMAIL_PREFIX = "ANYMAIL_"


class EspConfigurationError(ValueError):
    pass


def esp_email_backend(email_url: str) -> str | None:
    """The anymail backend that ``email_url`` names (``postmark://``), or None when it
    names no ESP (``smtp://...``: django-environ's parsing applies)."""
    parts = urlsplit(email_url)
    module = ESP_BACKENDS.get(parts.scheme)
    if module is None:
        return None
    if parts.netloc or parts.path or parts.query:
        raise EspConfigurationError(
            f"EMAIL_URL={parts.scheme}:// takes nothing after the scheme; the ESP's "
            f"credentials are anymail settings: ANYMAIL_{module.upper()}_... variables"
        )
    return f"anymail.backends.{module}.EmailBackend"


def anymail_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``ANYMAIL`` setting made of the ``ANYMAIL_*`` environment variables."""
    settings: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(_ANYMAIL_PREFIX) or name == _ANYMAIL_PREFIX:
            continue
        key = name.removeprefix(_ANYMAIL_PREFIX)
        if value.lstrip().startswith(("{", "[")):
            try:
                settings[key] = json.loads(value)
            except ValueError as error:
                raise EspConfigurationError(f"{name} is not valid JSON: {error}") from None
        else:
            settings[key] = value
    return settings


def esp_error_retryable(error: Exception) -> bool:
    """Whether a send that anymail failed may succeed later: the ESP unreachable or
    answering 5xx or 429. Its 4xx, and everything anymail refuses before calling (every
    recipient rejected, an invalid address, a feature the ESP lacks), will not change."""
    from anymail.exceptions import AnymailAPIError

    if not isinstance(error, AnymailAPIError):
        return False
    status = error.status_code
    return status is None or status >= 500 or status == 429
