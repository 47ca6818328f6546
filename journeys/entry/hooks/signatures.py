"""Checking who sent a webhook: Standard Webhooks' signature, or Stripe's.

- ``standard``: the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
  headers, verified by Standard Webhooks' reference library with the journey's
  ``whsec_...`` secret (Svix, Clerk, Resend, and this product's own state webhooks).
- ``stripe``: ``Stripe-Signature: t=<unix time>,v1=<hex>[,v1=...]``, an HMAC-SHA256 of
  ``<t>.<raw body>`` with the endpoint's signing secret used as it is written
  (``whsec_...``), as Stripe documents it.

Both refuse a timestamp more than five minutes from now (a replayed request). Any
problem is the same 401: the sender learns nothing about which check failed.
"""

import hashlib
import hmac
import time
from collections.abc import Mapping

from rest_framework import status
from standardwebhooks.webhooks import Webhook

from customers.errors import DomainError

#: How far a signed timestamp may be from now, either way (both schemes' default).
TOLERANCE_SECONDS = 300


class SignatureInvalid(DomainError):
    status_code = status.HTTP_401_UNAUTHORIZED


def signature_check(*, scheme: str, secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise :class:`SignatureInvalid` unless ``body`` was signed with ``secret`` under
    ``scheme`` (``standard`` or ``stripe``)."""
    if not secret:
        raise SignatureInvalid(
            "this webhook checks signatures and has no signing secret yet: set one with "
            "PUT .../journeys/{id}/webhook/secret"
        )
    checked = _standard_signed if scheme == "standard" else _stripe_signed
    if not checked(secret, body, {name.lower(): value for name, value in headers.items()}):
        raise SignatureInvalid(f"invalid {scheme} webhook signature")


def _standard_signed(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except Exception:  # the library's own error, or a header it cannot even split
        return False
    return True


def _stripe_signed(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    timestamp, signatures = None, []
    for part in headers.get("stripe-signature", "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value)
    if not timestamp or not timestamp.isdigit() or not signatures:
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, offered) for offered in signatures)
