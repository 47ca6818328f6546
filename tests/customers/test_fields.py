"""Strict API fields and the patterns the schema and the server both read."""

import re

import pytest
from rest_framework import serializers

from customers.fields import StrictCharField, StrictEmailField, TimezoneField
from customers.patterns import NOT_BLANK_PATTERN, PYTHON_WHITESPACE_CLASS
from segments.condition_schema import OPERATOR_VALUES
from segments.conditions import OPERATORS


def test_the_whitespace_class_is_pythons_whitespace():
    spelled = re.compile(f"[{PYTHON_WHITESPACE_CLASS}]")

    for code in range(0x110000):
        char = chr(code)
        assert bool(spelled.fullmatch(char)) == char.isspace(), hex(code)


@pytest.mark.parametrize(
    ("text", "blank"), [("", True), (" \u3000\x1c\x85", True), (" a ", False), ("\ufeff", False)]
)
def test_not_blank_means_something_is_left_after_strip(text, blank):
    assert (re.search(NOT_BLANK_PATTERN, text) is None) == blank == (text.strip() == "")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (StrictCharField(), 5, "must be a string (got number)"),
        (StrictCharField(), 1.5, "must be a string (got number)"),
        (StrictCharField(), True, "must be a string (got boolean)"),
        (StrictCharField(), ["a"], "must be a string (got array)"),
        (StrictEmailField(), 5, "must be a string (got number)"),
        (TimezoneField(), 3, "must be a string (got number)"),
    ],
)
def test_strict_fields_refuse_what_is_not_a_string(field, value, message):
    with pytest.raises(serializers.ValidationError) as raised:
        field.run_validation(value)

    assert raised.value.detail == [message]


def test_a_time_zone_is_an_iana_name_or_blank():
    field = TimezoneField()

    assert field.run_validation("Europe/Paris") == "Europe/Paris"
    assert field.run_validation("") == ""
    with pytest.raises(serializers.ValidationError) as raised:
        field.run_validation("Mars/Olympus")
    assert "unknown time zone 'Mars/Olympus'" in str(raised.value.detail[0])


def test_the_condition_schema_covers_every_operator():
    assert sorted(op for ops in OPERATOR_VALUES for op in ops) == sorted(OPERATORS)
