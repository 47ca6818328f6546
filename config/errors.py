"""JSON error pages for API paths; everything else keeps Django's HTML pages.

A body over the upload limit is the client's mistake, answered 413: it is logged here as
one warning line. Django's own ``django.security.RequestDataTooBig`` logger, which logs
it as an error with a traceback through the product's code, is silenced in settings.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from journeys.entry.dialects.errors import dialect_error_body

API_PREFIXES = ("/api/", "/compat/", "/hooks/")

logger = logging.getLogger(__name__)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def _json_error(request: HttpRequest, body: dict[str, Any], status: int) -> JsonResponse:
    """The product's JSON error, in the shape of the dialect the path belongs to."""
    return JsonResponse(dialect_error_body(request.path, body, status), status=status)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json_error(request, {"error": f"no such endpoint: {request.path}"}, 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _json_error(request, {"error": "internal server error"}, 500)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's own 400s (a body over the upload limit, a bad Host...) as JSON; an
    oversized body is a 413 naming the limit."""
    too_big = isinstance(exception, RequestDataTooBig)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if too_big:
        logger.warning(
            "%s %s: request body over the %s-byte limit (413)", request.method, request.path, limit
        )
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if too_big:
        body = {"error": f"request body too large: the limit is {limit:,} bytes"}
        return _json_error(request, {**body, "limit_bytes": limit}, 413)
    return _json_error(request, {"error": "bad request"}, 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json_error(request, {"error": "permission denied"}, 403)
    return defaults.permission_denied(request, exception)
