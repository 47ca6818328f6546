"""The events endpoints' body: JSON, gzip-compressed or not, within a limit of its own.

Segment's clients gzip their batches (``Content-Encoding: gzip``), and a batch of
10,000 events is several megabytes: more than the rest of the API takes
(``DATA_UPLOAD_MAX_MEMORY_SIZE``). So these views read their body themselves, through
:class:`EventBodyParser`: at most the view's ``body_limit`` bytes are read, and at most
as many are decompressed. A body over it, before or after decompression, is a 413
naming the limit; a gzip bomb stops at the limit, it never fills the memory.
"""

from typing import Any

from rest_framework.parsers import BaseParser

from customers.parsers import BodyParseError, BodyTooLarge, content_encoding, gunzip
from customers.strict_json import JSONInputError, json_loads_strict


class EventBodyParser(BaseParser):
    """JSON of at most ``view.body_limit`` bytes, sent as is or gzip-compressed."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        context = parser_context or {}
        limit = context["view"].body_limit
        meta = context["request"].META
        encoding = content_encoding(meta)
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise BodyTooLarge(limit)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(limit)
        if encoding == "gzip":
            raw = gunzip(raw, limit)
        try:
            # Depth: the messages' reader checks the properties and traits it keeps.
            return json_loads_strict(raw, check_depth=False)
        except JSONInputError as error:
            raise BodyParseError(error.message, field=error.field) from None
