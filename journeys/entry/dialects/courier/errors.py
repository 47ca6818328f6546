"""Courier's error shape: ``type`` and ``message`` beside the product's ``error``."""

from typing import Any


def error_body(body: dict[str, Any], status: int) -> dict[str, Any]:
    return {"type": "invalid_request_error", "message": body["error"], **body}
