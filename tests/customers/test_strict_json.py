"""The strict decoder's short way for bytes agrees with its full check on every input."""

import json
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from customers import strict_json
from customers.strict_json import MAX_DEPTH, JSONInputError, json_loads_strict

#: Strings full of what the checks look for: NULs, lone and paired surrogates, escapes.
_TEXT = st.text(
    alphabet=st.sampled_from(["a", "\x00", "\ud800", "\udc00", "\U0001f600", "\\", '"', "u"]),
    max_size=6,
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)


def _outcome(raw: bytes) -> tuple[str, object]:
    try:
        return "ok", json_loads_strict(raw)
    except JSONInputError as error:
        return "error", (error.field, error.message)


def _full_check_outcome(raw: bytes) -> tuple[str, object]:
    """The outcome when every body is doubtful: the full check, always."""
    shortcut = strict_json._MAYBE_NUL_OR_SURROGATE
    strict_json._MAYBE_NUL_OR_SURROGATE = re.compile(b"")
    try:
        return _outcome(raw)
    finally:
        strict_json._MAYBE_NUL_OR_SURROGATE = shortcut


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_the_short_way_agrees_with_the_full_check(value, ensure_ascii):
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        assume(False)  # a lone surrogate, unescaped: no UTF-8 body holds it

    assert _outcome(raw) == _full_check_outcome(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": "\\u0000"}',
        b'{"\\u0000": 1}',
        b'["\\ud800"]',
        b'["\\udc00x"]',
        b'["\\\\ud800\\udc00"]',  # an escaped backslash, then a lone low surrogate
    ],
)
def test_escapes_that_decode_to_what_the_database_refuses_are_caught(raw):
    with pytest.raises(JSONInputError):
        json_loads_strict(raw)


def test_a_pair_of_surrogate_escapes_is_one_character():
    assert json_loads_strict(b'["\\ud83d\\ude00"]') == ["\U0001f600"]


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 5])
@pytest.mark.parametrize("leaf", ["1", ""])
def test_depth_is_judged_as_the_full_check_does(depth, leaf):
    raw = ("[" * depth + leaf + "]" * depth).encode()

    assert _outcome(raw) == _full_check_outcome(raw)
    assert (_outcome(raw)[0] == "ok") == (
        depth <= MAX_DEPTH or (depth == MAX_DEPTH + 1 and not leaf)
    )
