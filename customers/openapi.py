"""OpenAPI pieces every API module shares: the key's security scheme and error shapes."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Bearer sk_...`` so the schema's clients send the key."""

    target_class = "customers.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A workspace API key, sk_..."}


class ErrorSerializer(serializers.Serializer):
    """Every API error: a headline naming the field and problem, plus optional details."""

    error = serializers.CharField()


def body_limit_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: every operation that takes a body can answer 413 (Django
    refuses a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` before any view runs, see
    ``config.errors``), so the schema says so once, for all of them."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["responses"].setdefault(
                    "413", {"description": "Request body over the upload limit", "content": error}
                )
    return result


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the JSON errors an endpoint can answer."""
    descriptions = {
        400: "Invalid request",
        401: "Missing, invalid or revoked API key",
        404: "Not found in this workspace",
        409: "Conflict",
        413: "Request body over the upload limit",
        422: "Unprocessable",
        429: "Rate limit exceeded",
    }
    return {
        code: OpenApiResponse(ErrorSerializer, description=descriptions.get(code, ""))
        for code in codes
    }
