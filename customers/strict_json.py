"""JSON as the product accepts it from outside: only what PostgreSQL and Python can hold.

Python's decoder accepts three things that fail later, as a 500, sometimes after part
of a request was written:

- a NUL character (``\\u0000``) in any string or key: PostgreSQL's text and jsonb
  cannot store it;
- a number too large for a float (``1e999``), read as infinity, and the literals
  ``NaN`` and ``Infinity``: neither JSON nor jsonb can hold them;
- nesting deep enough to exhaust Python's recursion while decoding or copying.

:func:`json_loads_strict` refuses each with a message naming where the problem is
(``payload.x``). The API's parser, the admin's JSON fields and the webhook step's
reading of an answer all decode through it.
"""

import json
import math
from collections.abc import Iterator
from typing import Any

#: Far beyond any real document (a journey definition nests about 10 deep), far below
#: Python's recursion limit.
MAX_DEPTH = 64


class JSONInputError(ValueError):
    """Text that is not JSON, or JSON the product cannot store; the message says why."""


def json_loads_strict(raw: str | bytes) -> Any:
    """Decode ``raw`` (UTF-8 if bytes), refusing what :mod:`this module <customers.strict_json>`
    describes."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_float=_finite_float, parse_constant=_no_constants)
    except RecursionError:
        raise JSONInputError(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise JSONInputError("the body is not UTF-8") from None
    except ValueError as error:
        raise JSONInputError(str(error)) from None
    problem = next(json_problems(data), None)
    if problem:
        raise JSONInputError(problem)
    return data


def json_problems(data: Any) -> Iterator[str]:
    """Where decoded ``data`` breaks a rule above, without recursion (depth-first)."""
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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is too large")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
