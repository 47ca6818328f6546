"""JSON as the product accepts it from outside: only what PostgreSQL and Python can hold.

Python's decoder accepts three things that fail later, as a 500, sometimes after part
of a request was written:

- a NUL character (``\\u0000``) in any string or key: PostgreSQL's text and jsonb
  cannot store it;
- a number too large for a float (``1e999``), read as infinity, and the literals
  ``NaN`` and ``Infinity``: neither JSON nor jsonb can hold them;
- nesting deep enough to exhaust Python's recursion while decoding or copying;
- a lone surrogate (``"\\ud800"``), which no UTF-8 text can hold.

:func:`json_loads_strict` refuses each with a message naming where the problem is
(``payload.x``). The API's parser, the admin's JSON fields and the webhook step's
reading of an answer all decode through it.

Checking every string of a large body costs several times its decoding (a batch of
10,000 tracked events: 0.3 s against 0.1 s), so bytes take a shorter way when they can:
a NUL or a surrogate can only come out of a ``\\u`` escape (the UTF-8 decoder refuses
encoded surrogates, and the JSON decoder raw control characters), so text with no
escape that could mean one needs only its depth checked, which is read from its
containers alone. Anything doubtful takes the full check, which alone says where.
"""

import json
import math
import re
from collections.abc import Iterator
from typing import Any

#: Far beyond any real document (a journey definition nests about 10 deep), far below
#: Python's recursion limit.
MAX_DEPTH = 64


class JSONInputError(ValueError):
    """Text that is not JSON, or JSON the product cannot store: ``message`` says why and
    ``field`` where (None for the text as a whole)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


def json_loads_strict(raw: str | bytes, *, check_depth: bool = True) -> Any:
    """Decode ``raw`` (UTF-8 if bytes), refusing what this module's docstring lists.

    ``check_depth=False`` leaves the depth of a body that is otherwise clean to the
    caller, which checks (:func:`depth_problem`) only the parts it keeps: the event
    stream stores a batch's properties and traits and drops the rest, and walking
    the containers of all 10,000 messages was a tenth of the batch's time.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_float=_finite_float, parse_constant=_no_constants)
    except RecursionError:
        raise JSONInputError(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise JSONInputError("the body is not UTF-8") from None
    except ValueError as error:
        raise JSONInputError(str(error)) from None
    shortcut = isinstance(raw, bytes) and not _MAYBE_NUL_OR_SURROGATE.search(raw)
    if shortcut and (not check_depth or not _maybe_too_deep(data)):
        return data
    problem = next(json_problems(data), None)
    if problem:
        field, message = problem
        raise JSONInputError(message, field=field)
    return data


#: An escape that may decode to a NUL or to half of a surrogate pair. Also matches what
#: is harmless (an escaped backslash before "u0000", a well-formed pair): those bodies
#: take the full check.
_MAYBE_NUL_OR_SURROGATE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _maybe_too_deep(data: Any) -> bool:
    """False when no value of ``data`` is nested deeper than :data:`MAX_DEPTH` (as
    :func:`json_problems` counts); True when one may be. Visits containers only, a
    level at a time."""
    level = [data] if isinstance(data, dict | list) else []
    for _depth in range(MAX_DEPTH):
        deeper = []
        for container in level:
            for value in container.values() if type(container) is dict else container:
                if type(value) is dict or type(value) is list:
                    deeper.append(value)
        if not deeper:
            return False
        level = deeper
    return True  # containers at depth MAX_DEPTH: json_problems decides


def depth_problem(data: Any) -> tuple[str | None, str] | None:
    """``(place, problem)`` when decoded ``data`` nests deeper than :data:`MAX_DEPTH`
    (or breaks another rule here), else None."""
    if not _maybe_too_deep(data):
        return None
    return next(json_problems(data), None)


def json_problems(data: Any) -> Iterator[tuple[str | None, str]]:
    """``(place, problem)`` where decoded ``data`` breaks a rule above, without recursion
    (depth-first); the place is None for the value as a whole."""
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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is too large")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
