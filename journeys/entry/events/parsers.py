"""The events endpoints' body: JSON, gzip-compressed or not, within a limit of its own.

Segment's clients gzip their batches (``Content-Encoding: gzip``), and a batch of
10,000 events is several megabytes: more than the rest of the API takes
(``DATA_UPLOAD_MAX_MEMORY_SIZE``). So these views read their body themselves, through
:class:`EventBodyParser`: at most the view's ``body_limit`` bytes are read, and at most
as many are decompressed. A body over it, before or after decompression, is a 413
naming the limit; a gzip bomb stops at the limit, it never fills the memory.
"""

import zlib
from typing import Any

from rest_framework import status
from rest_framework.parsers import BaseParser

from customers.errors import DomainError
from customers.parsers import BodyParseError
from customers.strict_json import JSONInputError, json_loads_strict

#: ``Content-Encoding`` values read as gzip, and those meaning "not encoded".
GZIP_ENCODINGS = ("gzip", "x-gzip")
IDENTITY_ENCODINGS = ("", "identity")


class BodyTooLarge(DomainError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self, limit: int, *, decompressed: bool = False) -> None:
        what = (
            "request body too large once decompressed"
            if decompressed
            else ("request body too large")
        )
        super().__init__(f"{what}: the limit is {limit:,} bytes", limit_bytes=limit)


class UnsupportedEncoding(DomainError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


class EventBodyParser(BaseParser):
    """JSON of at most ``view.body_limit`` bytes, sent as is or gzip-compressed."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        context = parser_context or {}
        limit = context["view"].body_limit
        meta = context["request"].META
        encoding = meta.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if encoding not in GZIP_ENCODINGS + IDENTITY_ENCODINGS:
            raise UnsupportedEncoding(
                f"Content-Encoding {encoding!r} is not supported: send gzip, or no encoding"
            )
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise BodyTooLarge(limit)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(limit)
        if encoding in GZIP_ENCODINGS:
            raw = gunzip(raw, limit)
        try:
            # Depth: the messages' reader checks the properties and traits it keeps.
            return json_loads_strict(raw, check_depth=False)
        except JSONInputError as error:
            raise BodyParseError(error.message, field=error.field) from None


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
