"""Domain errors and the one place that turns any API error into JSON.

Services raise :class:`DomainError` subclasses with a message that names the field and
the problem; :func:`api_exception_handler` renders them, and DRF's own exceptions, as
``{"error": "...", ...}`` with the matching status code (the ``Error`` component of the
OpenAPI schema): validation errors add ``fields``, a body that cannot be parsed adds
``problems``.
"""

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from customers.problems import problem_entry


class DomainError(Exception):
    """A request that cannot be served, with a message meant for the API caller."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_json(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


class InvalidRequest(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST

    @classmethod
    def one_of_required(cls, names: Sequence[str]) -> "InvalidRequest":
        """None of ``names`` was given: each is named in ``fields``, as DRF names fields."""
        listed = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
        message = f"at least one of {listed} is required"
        return cls(message, fields={name: [message] for name in names})


class NotFound(DomainError):
    """An id that does not exist in the caller's workspace (never 403: no leaks)."""

    status_code = status.HTTP_404_NOT_FOUND


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT


class Unprocessable(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


def _first_message(detail: Any, path: str = "") -> str:
    """Flatten DRF's nested validation detail into 'field: problem' for the headline."""
    if isinstance(detail, dict):
        for field, inner in detail.items():
            if isinstance(field, int):  # a list's items, by index
                return _first_message(inner, f"{path}[{field}]")
            name = field if field != "non_field_errors" else ""
            return _first_message(inner, f"{path}.{name}".strip(".") if name else path)
    if isinstance(detail, list) and detail:
        if all(not isinstance(item, dict | list) for item in detail):
            return _first_message(detail[0], path)
        for index, inner in enumerate(detail):
            if inner:
                return _first_message(inner, f"{path}[{index}]")
    text = str(detail)
    return f"{path}: {text}" if path else text


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views reads the API settings as it loads, and their
    # parser (customers.parsers) raises this module's errors.
    from rest_framework.views import exception_handler

    if isinstance(exc, DomainError):
        return Response(exc.as_json(), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": _first_message(exc.detail), "fields": exc.detail}
    elif isinstance(exc, exceptions.ParseError):
        # A body that is not JSON: the same shape as every other problem list.
        problems = getattr(exc, "problems", None) or [problem_entry(str(exc.detail))]
        response.data = {"error": str(exc.detail), "problems": problems}
    elif isinstance(exc, exceptions.Throttled):
        response.data = {
            "error": f"rate limit exceeded; retry in {exc.wait:.0f} seconds",
            "retry_after": int(exc.wait or 0),
        }
    elif isinstance(exc, exceptions.APIException):
        response.data = {"error": str(exc.detail)}
    return response
