"""Cursor pagination for every list: a bad ``cursor`` or ``limit`` is a 400 naming it.

DRF answers a cursor it cannot decode with a 404 ("Invalid cursor"), as if the list
were missing, quietly ignores a ``limit`` that is not a number, and lets a forged
cursor's position reach the database (a 500). Here each is a 400 that says which
parameter is wrong, as the OpenAPI schema documents (:func:`cursor_parameters`).
"""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from customers.errors import InvalidRequest

#: What DRF's cursors are made of: standard base64, padded.
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class StrictCursorPagination(CursorPagination):
    """Newest first by ``ordering``; ``?limit=`` (1 to ``max_page_size``) and ``?cursor=``."""

    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any] | None:
        self._position_field = queryset.model._meta.get_field(self.ordering[0].lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise InvalidRequest(
                f"limit: must be an integer from 1 to {self.max_page_size} (got {raw!r})",
                field="limit",
            )
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded == "":
            return None  # ``?cursor=``: the first page, as clients that send it mean
        try:
            # DRF's decoder skips what is not base64, so " " or "%00" read as no cursor.
            if encoded is not None and not _BASE64.fullmatch(encoded):
                raise NotFound
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                self._position_field.to_python(cursor.position)
        except (NotFound, ValidationError):
            raise InvalidRequest(
                "cursor: not a cursor this list gave; follow a page's next or previous link",
                field="cursor",
            ) from None
        return cursor


def cursor_parameters(pagination: type[StrictCursorPagination]) -> list[OpenApiParameter]:
    """The query parameters of a list paginated by ``pagination``, with their rules."""
    return [
        OpenApiParameter(
            pagination.page_size_query_param,
            {"type": "integer", "minimum": 1, "maximum": pagination.max_page_size},
            description=f"Page size, 1 to {pagination.max_page_size} "
            f"(default {pagination.page_size})",
        ),
        OpenApiParameter(
            pagination.cursor_query_param,
            OpenApiTypes.STR,
            description="A page's next or previous link carries it; anything else is a 400",
        ),
    ]
