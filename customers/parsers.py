"""Reading the API's request bodies: their encoding, then their JSON.

``Content-Encoding``: gzip is undone within a limit, anything else that is not identity
is a 415. Every JSON endpoint reads bodies through these rules, so a client that
compresses (as Segment's SDKs do) works everywhere, and a body labelled with an encoding
the product cannot undo is refused instead of being read as if it were plain JSON.
Decompression never produces more than one byte past the limit: a gzip bomb stops
there, a 413 naming the limit.

JSON: DRF's parser accepts what fails later, as a 500 and sometimes after part of a
request was written: a NUL, a number too large for a float, nesting deeper than Python
decodes, a lone surrogate (:mod:`customers.strict_json` decodes and says why). Each
answers 400 naming where in the body the problem is (``payload.x``), in the error shape
every API error has: a headline and ``problems`` (``field`` is the place, or null for
the body as a whole).
"""

import zlib
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from customers.errors import DomainError
from customers.problems import problem_entry
from customers.strict_json import JSONInputError, json_loads_strict

#: ``Content-Encoding`` values read as gzip, and those meaning "not encoded".
GZIP_ENCODINGS = ("gzip", "x-gzip")
IDENTITY_ENCODINGS = ("", "identity")


class BodyParseError(ParseError):
    """A body that is not JSON the API can hold, with the place of the problem."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        if field:
            message = f"{field}: {message}"
        super().__init__(f"JSON parse error - {message}")
        self.problems = [problem_entry(message, field=field)]


class BodyTooLarge(DomainError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self, limit: int, *, decompressed: bool = False) -> None:
        what = (
            "request body too large once decompressed" if decompressed else "request body too large"
        )
        super().__init__(f"{what}: the limit is {limit:,} bytes", limit_bytes=limit)


class UnsupportedEncoding(DomainError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


def content_encoding(meta: Mapping[str, Any]) -> str:
    """The request's ``Content-Encoding``: "gzip", or "" for none; any other is an
    :class:`UnsupportedEncoding`."""
    encoding = str(meta.get("HTTP_CONTENT_ENCODING", "")).strip().lower()
    if encoding not in GZIP_ENCODINGS + IDENTITY_ENCODINGS:
        raise UnsupportedEncoding(
            f"Content-Encoding {encoding!r} is not supported: send gzip, or no encoding"
        )
    return "gzip" if encoding in GZIP_ENCODINGS else ""


def gunzip(data: bytes, limit: int) -> bytes:
    """``data`` decompressed (every gzip member of it), refusing more than ``limit``
    bytes of output without ever producing more than one byte past it."""
    out: list[bytes] = []
    size = 0
    while data:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = decompressor.decompress(data, limit + 1 - size)
        except zlib.error:
            raise BodyParseError("the body is not valid gzip") from None
        size += len(chunk)
        if size > limit or decompressor.unconsumed_tail:
            raise BodyTooLarge(limit, decompressed=True)
        if not decompressor.eof:
            raise BodyParseError("the gzip body is cut short")
        out.append(chunk)
        data = decompressor.unused_data
    return b"".join(out)


class StrictJSONParser(JSONParser):
    """JSON within ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django has refused a longer body
    already), gzip-compressed or not."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        encoding = content_encoding(request.META) if request is not None else ""
        raw = stream.read() if stream is not None else b""
        if encoding == "gzip":
            raw = gunzip(raw, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        try:
            return json_loads_strict(raw)
        except JSONInputError as error:
            raise BodyParseError(error.message, field=error.field) from None
