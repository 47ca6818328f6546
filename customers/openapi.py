"""OpenAPI pieces every API module shares: the key's security scheme, the error shape,
the answers every operation can give, and what strict fields accept.

The schema is held to the server by schemathesis (``tests/e2e/test_schemathesis.py``): an
answer the schema does not list, or a body it does not describe, fails the suite.
"""

from collections.abc import Callable
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from customers.patterns import NOT_BLANK_PATTERN


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, plus the body of a DELETE that declares one: removing segment
    members takes ``{external_ids, emails}`` like adding them (drf-spectacular documents
    bodies of POST, PUT and PATCH only)."""

    def _get_request_body(self, direction: str = "request") -> Any:
        if self.method != "DELETE" or self.get_request_serializer() is None:
            return super()._get_request_body(direction)
        self.method = "POST"  # the one method check in the way; nothing else reads it here
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Bearer sk_...`` so the schema's clients send the key."""

    target_class = "customers.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A workspace API key, sk_..."}


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """A strict string that may not be blank says so with a pattern (see customers.fields)."""

    target_class = "customers.fields.StrictCharField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        own = [v.regex.pattern for v in self.target.validators if isinstance(v, RegexValidator)]
        if own:
            schema["pattern"] = own[0]  # the field's own rule, stricter than "not blank"
        elif not self.target.allow_blank:
            schema["pattern"] = NOT_BLANK_PATTERN
        return schema


#: Hand-written component schemas by name, and the serializers that state rules; both
#: are applied by :func:`handwritten_schemas`, after drf-spectacular's enum pass (which
#: would otherwise turn every one-value ``enum`` of a ``oneOf`` branch into a component).
_COMPONENTS: dict[str, Callable[[], dict[str, Any]]] = {}
_RULES: dict[str, type["SchemaRules"]] = {}
_RULES_MARK = "x-schema-rules"


def schema_component(name: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Register a hand-written component (a language JSON Schema describes better than a
    serializer can) and return the reference to it."""
    _COMPONENTS[name] = build
    return {"$ref": f"#/components/schemas/{name}"}


class SchemaRules:
    """A serializer mixin for rules that span fields (one identifier required, a kind
    that needs conditions): the service enforces them, :meth:`openapi_rules` states them
    in the schema with JSON Schema keywords (``anyOf``, ``oneOf``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _RULES[f"{cls.__module__}.{cls.__qualname__}"] = cls

    @classmethod
    def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
        """The serializer's generated schema, with its rules added."""
        return schema


class SchemaRulesSchema(OpenApiSerializerExtension):
    """Marks a :class:`SchemaRules` serializer's component for :func:`handwritten_schemas`."""

    target_class = SchemaRules
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        cls = self.target if isinstance(self.target, type) else type(self.target)
        schema[_RULES_MARK] = f"{cls.__module__}.{cls.__qualname__}"
        return schema


def handwritten_schemas(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: add the hand-written components and the serializers' rules."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, build in _COMPONENTS.items():
        schemas[name] = build()
    for name, schema in schemas.items():
        rules = schema.pop(_RULES_MARK, None)
        if rules:
            schemas[name] = _RULES[rules].openapi_rules(schema)
    return result


class ProblemSerializer(serializers.Serializer):
    """One problem of a request: where it is and what is wrong."""

    step = serializers.CharField(
        allow_null=True, help_text="A journey step's key when the problem is in a step, else null"
    )
    field = serializers.CharField(
        allow_null=True,
        help_text="Relative to the step when step is set, else a path in the body "
        "(payload.x, steps[2].key); null for the body as a whole",
    )
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """Every API error: a headline naming the field and problem, plus optional details
    (``problems`` for a body that cannot be parsed or a journey definition, ``fields``
    for per-field validation, and keys such as ``field`` or ``allowed``)."""

    error = serializers.CharField()
    problems = ProblemSerializer(many=True, required=False)
    fields = serializers.DictField(required=False, help_text="Problems by field name")


ERROR_DESCRIPTIONS = {
    400: "Invalid request: a body that is not JSON, or a field the problem names",
    401: "Missing, invalid or revoked API key",
    404: "Not found in this workspace",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body over the upload limit",
    415: "The body is not JSON (Content-Type application/json)",
    422: "Unprocessable",
    429: "Rate limit exceeded",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the JSON errors an endpoint can answer."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS.get(code, ""))
        for code in codes
    }


def _error(code: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def standard_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: the answers an operation gives whatever its view does, listed
    once here rather than by hand on every view.

    - Every operation that needs the key answers 401 without it and 429 over its budget.
    - Every operation under ``/api/v1/workspaces/{workspace_id}/`` answers 404 for
      another workspace's id (``customers.http.WorkspaceApiView``).
    - Every operation that takes a body answers 400 when it is not JSON, 415 when it is
      sent as something else, and 413 over the upload limit (Django refuses it before
      any view runs, see ``config.errors``); and when its schema requires a field, the
      body is required too (without one, the answer is that field's 400).
    """
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = []
            if {} not in operation.get("security", [{}]):  # {}: the key is optional
                codes += [401, 429]
            if "{workspace_id}" in path:
                codes.append(404)
            if "requestBody" in operation:
                codes += [400, 413, 415]
                _require_needed_body(operation["requestBody"], result)
            for code in codes:
                operation["responses"].setdefault(str(code), _error(code))
            operation["responses"] = dict(
                sorted(operation["responses"].items(), key=lambda item: item[0])
            )
    return result


def _require_needed_body(request_body: dict[str, Any], result: dict[str, Any]) -> None:
    components = result.get("components", {}).get("schemas", {})
    for media in request_body.get("content", {}).values():
        schema = media.get("schema", {})
        if "$ref" in schema:
            schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        if schema.get("required") or "anyOf" in schema or "oneOf" in schema:
            request_body["required"] = True
