"""Webhook endpoints: what a workspace registers to receive run and journey events."""

import base64
import re
import secrets
from collections.abc import Iterable

from django.db.models import QuerySet

from customers.errors import Conflict, InvalidRequest, NotFound
from customers.models import Workspace
from customers.patterns import PYTHON_WHITESPACE_CLASS as WHITESPACE
from delivery.models import WebhookEndpoint

#: Every event type an endpoint can subscribe to; an endpoint with none gets them all.
EVENT_TYPES: tuple[str, ...] = (
    "run.entered",
    "run.step_completed",
    "run.completed",
    "run.exited",
    "run.failed",
    "journey.published",
    "journey.paused",
    "journey.archived",
)

#: Bounds the fan-out of every event and the work of an unpaginated list.
MAX_ENDPOINTS_PER_WORKSPACE = 50

SECRET_PREFIX = "whsec_"

_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = "([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
#: Characters a URL carries nowhere unescaped: whitespace and other control characters.
_NOT_TEXT = f"{WHITESPACE}\\u0000-\\u001f\\u007f"
_NOT_USER = f"{_NOT_TEXT}@/?#\\[\\]"
#: An absolute http(s) URL: optional user info, a host name or IPv4 address (labels of
#: letters, digits and inner hyphens, up to 63 each), an optional port up to 65535, then
#: a path, query or fragment without spaces or control characters; spaces around it are
#: stripped. The OpenAPI schema states this very pattern and nothing else is checked, so
#: the two agree. (An IPv6 literal is not accepted: give the host's name.)
URL_PATTERN = (
    f"^[{WHITESPACE}]*[Hh][Tt][Tt][Pp][Ss]?://"
    f"([^{_NOT_USER}:]+(:[^{_NOT_USER}]*)?@)?"
    f"{_LABEL}(\\.{_LABEL})*\\.?(:{_PORT})?"
    f"([/?#][^{_NOT_TEXT}]*)?[{WHITESPACE}]*$"
)
URL_MAX_LENGTH = WebhookEndpoint._meta.get_field("url").max_length


def webhook_secret_new() -> str:
    """``whsec_`` + base64 of 24 random bytes: the format Standard Webhooks libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def webhook_secret_hint(secret: str) -> str:
    """The secret's first characters, enough to tell two secrets apart on a screen and
    far too few to sign with: after creation, this is all anyone is shown."""
    return secret[: len(SECRET_PREFIX) + 4] + "\u2026"


def webhook_url_validate(url: str) -> str:
    """An absolute http(s) URL (:data:`URL_PATTERN`), or :class:`InvalidRequest`.

    Where the URL points (loopback, private networks) is checked at send time by
    :mod:`delivery.outbound`, after DNS resolution, where it cannot be dodged.
    """
    url = url or ""
    if len(url) > URL_MAX_LENGTH:
        raise InvalidRequest(f"url: must be at most {URL_MAX_LENGTH} characters")
    if not re.fullmatch(URL_PATTERN, url):
        raise InvalidRequest("url: must be an absolute http:// or https:// URL")
    return url.strip()


def webhook_event_types_validate(event_types: Iterable[str] | None) -> list[str]:
    """Known event types, de-duplicated in the caller's order; empty means all."""
    if event_types is None:
        return []
    if isinstance(event_types, str):
        raise InvalidRequest("event_types: must be a list of event types")
    cleaned: list[str] = []
    for event_type in event_types:
        if event_type not in EVENT_TYPES:
            raise InvalidRequest(
                f"event_types: unknown event type {event_type!r}",
                allowed=list(EVENT_TYPES),
            )
        if event_type not in cleaned:
            cleaned.append(event_type)
    return cleaned


def webhook_endpoint_create(
    *, workspace: Workspace, url: str, event_types: Iterable[str] | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret, which callers show once."""
    url = webhook_url_validate(url)
    cleaned_types = webhook_event_types_validate(event_types)
    if WebhookEndpoint.objects.filter(workspace=workspace).count() >= MAX_ENDPOINTS_PER_WORKSPACE:
        # The request is fine; the workspace is full: a conflict with its state.
        raise Conflict(
            f"a workspace can have at most {MAX_ENDPOINTS_PER_WORKSPACE} webhook endpoints"
        )
    secret = webhook_secret_new()
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url=url, secret=secret, event_types=cleaned_types
    )
    return endpoint, secret


def webhook_endpoint_list(*, workspace: Workspace) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(workspace=workspace).order_by("created_at", "pk")


def webhook_endpoint_get(*, workspace: Workspace, endpoint_id: str) -> WebhookEndpoint:
    """The workspace's endpoint by public id; any other id is the same 404."""
    endpoint = WebhookEndpoint.objects.filter(workspace=workspace, public_id=endpoint_id).first()
    if endpoint is None:
        raise NotFound("webhook endpoint not found")
    return endpoint


def webhook_endpoint_delete(*, workspace: Workspace, endpoint_id: str) -> None:
    """Delete the endpoint and its delivery history (pending deliveries are dropped).

    A send already in flight finishes, but its outcome has no row left to update.
    """
    webhook_endpoint_get(workspace=workspace, endpoint_id=endpoint_id).delete()
