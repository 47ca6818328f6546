"""The API's JSON parser: what PostgreSQL or Python cannot hold is a 400 at the door.

DRF's parser accepts three things that fail later, as a 500 and sometimes after part of
a request was written:

- a NUL character (``\\u0000``) in any string or key: PostgreSQL's text and jsonb
  cannot store it;
- a number too large for a float (``1e999``): Python reads it as infinity, which JSON
  and jsonb cannot hold;
- nesting deep enough to exhaust Python's recursion while decoding or copying.

Each answers 400 naming where in the body the problem is (``payload.x``), in the error
shape every API error has: a headline and ``problems`` (``field`` is the place, or null
for the body as a whole). A string with a lone surrogate (``"\\ud800"``), which no
UTF-8 text can hold, is refused the same way.
"""

import json
import math
from collections.abc import Iterator
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from customers.problems import problem_entry

#: Far beyond any real document (a journey definition nests about 10 deep), far below
#: Python's recursion limit.
MAX_DEPTH = 64


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is too large")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


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
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            data = json.loads(text, parse_float=_finite_float, parse_constant=_no_constants)
        except RecursionError:
            raise BodyParseError(f"nested deeper than {MAX_DEPTH} levels") from None
        except UnicodeDecodeError:
            raise BodyParseError("the body is not UTF-8") from None
        except ValueError as error:
            raise BodyParseError(str(error)) from None
        problem = next(_problems(data), None)
        if problem:
            field, message = problem
            raise BodyParseError(message, field=field)
        return data


def _problems(data: Any) -> Iterator[tuple[str | None, str]]:
    """``(place, problem)`` where the parsed body breaks a rule above, without recursion
    (depth-first); the place is None for the body as a whole."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            yield path or None, f"nested deeper than {MAX_DEPTH} levels"
            return
        if isinstance(value, str):
            yield from _text_problems(value, path or None, "")
        elif isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else key
                # Shown escaped: the key itself is what JSON output cannot carry.
                yield from _text_problems(key, repr(where)[1:-1], " in keys")
                stack.append((item, where, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}[{index}]", depth + 1))


def _text_problems(text: str, where: str | None, kind: str) -> Iterator[tuple[str | None, str]]:
    if "\x00" in text:
        yield where, f"NUL characters (\\u0000) are not allowed{kind}"
    elif not _is_unicode(text):
        yield where, f"lone surrogates (\\ud800-\\udfff) are not allowed{kind}"


def _is_unicode(text: str) -> bool:
    """Whether the text can be stored as UTF-8 (JSON may escape half of a surrogate pair)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
