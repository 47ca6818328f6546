"""The API's JSON parser: what PostgreSQL or Python cannot hold is a 400 at the door.

DRF's parser accepts three things that fail later, as a 500 and sometimes after part of
a request was written:

- a NUL character (``\\u0000``) in any string or key: PostgreSQL's text and jsonb
  cannot store it;
- a number too large for a float (``1e999``): Python reads it as infinity, which JSON
  and jsonb cannot hold;
- nesting deep enough to exhaust Python's recursion while decoding or copying.

Each answers 400 naming where in the body the problem is (``payload.x``).
"""

import json
import math
from collections.abc import Iterator
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

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


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            data = json.loads(text, parse_float=_finite_float, parse_constant=_no_constants)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from None
        except UnicodeDecodeError:
            raise ParseError("JSON parse error - the body is not UTF-8") from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        problem = next(_problems(data), None)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data


def _problems(data: Any) -> Iterator[str]:
    """Where the parsed body breaks a rule above, without recursion (depth-first)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            yield f"nested deeper than {MAX_DEPTH} levels at {path or 'the top'}"
            return
        if isinstance(value, str):
            if "\x00" in value:
                yield f"{path or 'the body'}: NUL characters (\\u0000) are not allowed"
        elif isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else key
                if "\x00" in key:
                    yield f"{where!r}: NUL characters (\\u0000) are not allowed in keys"
                stack.append((item, where, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}[{index}]", depth + 1))
