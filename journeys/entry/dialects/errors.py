"""Each dialect's error shape, for every error under its paths.

A dialect whose vendor shapes errors its own way (Courier's ``type`` and ``message``,
Segment's ``code`` and ``message``) has an ``errors`` module with
``error_body(body, status) -> body``, which adds them to the product's ``{"error": ...}``.
Its views answer through :func:`exception_handler_shaped`, and the errors Django answers
before any view runs (an unknown path, a body over the upload limit) go through
:func:`dialect_error_body`, so a client sees one shape whatever failed.
"""

import functools
from collections.abc import Callable
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from rest_framework.response import Response

from customers.errors import api_exception_handler

ErrorShape = Callable[[dict[str, Any], int], dict[str, Any]]

PREFIX = "/compat/"


def exception_handler_shaped(shape: ErrorShape) -> Callable[..., Response | None]:
    """DRF's exception handler for a dialect's views: the product's answer, shaped."""

    def handler(exc: Exception, context: dict[str, Any]) -> Response | None:
        response = api_exception_handler(exc, context)
        if response is not None and isinstance(response.data, dict) and "error" in response.data:
            response.data = shape(response.data, response.status_code)
        return response

    return handler


def dialect_error_body(path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
    """``body`` in the shape of the dialect ``path`` is under (as it is, elsewhere)."""
    if not path.startswith(PREFIX):
        return body
    shape = _shape_of(path[len(PREFIX) :].split("/", 1)[0])
    return shape(body, status) if shape is not None else body


@functools.cache
def _shape_of(name: str) -> ErrorShape | None:
    from journeys.entry.dialects.urls import DIALECTS

    module = f"journeys.entry.dialects.{name}.errors"
    if name not in DIALECTS or find_spec(module) is None:
        return None
    return import_module(module).error_body
