"""Segment's error shape: ``code`` and ``message`` beside the product's ``error``, which
Segment's SDKs put in the exceptions they log."""

from typing import Any

#: Segment's error codes by status.
ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_body(body: dict[str, Any], status: int) -> dict[str, Any]:
    return {**body, "code": ERROR_CODES.get(status, "error"), "message": body["error"]}
