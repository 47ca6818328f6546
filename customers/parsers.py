"""The API's JSON parser: what PostgreSQL or Python cannot hold is a 400 at the door.

DRF's parser accepts what fails later, as a 500 and sometimes after part of a request
was written: a NUL, a number too large for a float, nesting deeper than Python
decodes, a lone surrogate (:mod:`customers.strict_json` decodes and says why). Each
answers 400 naming where in the body the problem is (``payload.x``), in the error
shape every API error has: a headline and ``problems`` (``field`` is the place, or null
for the body as a whole).
"""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from customers.problems import problem_entry
from customers.strict_json import JSONInputError, json_loads_strict


class BodyParseError(ParseError):
    """A body that is not JSON the API can hold, with the place of the problem."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        if field:
            message = f"{field}: {message}"
        super().__init__(f"JSON parse error - {message}")
        self.problems = [problem_entry(message, field=field)]


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            return json_loads_strict(raw)
        except JSONInputError as error:
            raise BodyParseError(error.message, field=error.field) from None
