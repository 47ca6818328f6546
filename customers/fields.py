"""Serializer fields for API input that accept exactly what the OpenAPI schema says.

DRF's ``CharField`` turns a number into its text (``5`` becomes ``"5"``), so a client
that sends the wrong type is never told; and a name of only spaces passes ``minLength``
in the schema but is blank to Python. These fields refuse a non-string with a 400
naming the field, and describe "not blank" as a pattern built from Python's own idea
of whitespace (``customers.patterns``), so the schema and the server agree on every
string.
"""

from typing import Any

from rest_framework import serializers

from customers.validators import timezone_names


def json_type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages ("got number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


class StrictStringMixin:
    """Refuse anything but a JSON string before the field's own checks run."""

    default_error_messages = {"not_a_string": "must be a string (got {kind})"}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("not_a_string", kind=json_type_name(data))
        return super().to_internal_value(data)


class StrictCharField(StrictStringMixin, serializers.CharField):
    """A string: never a number or a boolean. Unless ``allow_blank``, not blank either
    (the schema's pattern says so: see ``customers.openapi``)."""


class StrictEmailField(StrictStringMixin, serializers.EmailField):
    """An e-mail address, given as a string."""


class TimezoneField(StrictStringMixin, serializers.ChoiceField):
    """An IANA time zone name, or ``""`` for "unknown": the schema lists every name."""

    default_error_messages = {
        "invalid_choice": "unknown time zone {input!r}; use an IANA name such as 'Europe/Paris'"
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=sorted(timezone_names()), allow_blank=True, **kwargs)


class StrictBooleanField(serializers.BooleanField):
    """true or false: never "yes", 1 or "true" (what a JSON client means is a boolean)."""

    default_error_messages = {"not_a_boolean": "must be true or false (got {kind})"}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("not_a_boolean", kind=json_type_name(data))
        return data


class StrictIntegerField(serializers.IntegerField):
    """An integer given as a JSON number: never "3", 3.0 or true."""

    default_error_messages = {"not_an_integer": "must be an integer (got {kind})"}

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("not_an_integer", kind=json_type_name(data))
        return super().to_internal_value(data)
