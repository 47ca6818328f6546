"""The admin's JSON fields decode as strictly as the API (:mod:`customers.strict_json`).

Django's ``forms.JSONField`` decodes with ``json.loads``: a value nested 100,000 deep
raised ``RecursionError`` (a 500 page, twice: again when the form is redisplayed), and
a NUL reached PostgreSQL. Here each is a form error next to the field, and a syntax
error says where it is (line and column).
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput, JSONString

from customers.strict_json import JSONInputError, json_loads_strict


class StrictJSONFormField(forms.JSONField):
    def to_python(self, value: Any) -> Any:
        if self.disabled:
            return value
        if value in self.empty_values:
            return None
        if isinstance(value, (list, dict, int, float, JSONString)):
            return value
        try:
            converted = json_loads_strict(value)
        except JSONInputError as error:
            raise ValidationError(
                "Enter valid JSON: %(problem)s.", code="invalid", params={"problem": error}
            ) from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        """What the form shows again after an error: the text as typed when it does not
        decode (Django's own decodes it with no depth limit)."""
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return json_loads_strict(data)
        except JSONInputError:
            return InvalidJSONInput(data)


#: ``formfield_overrides`` for every ModelAdmin whose model has a JSONField.
STRICT_JSON_FIELDS: dict[type[models.Field], dict[str, Any]] = {
    models.JSONField: {"form_class": StrictJSONFormField}
}
