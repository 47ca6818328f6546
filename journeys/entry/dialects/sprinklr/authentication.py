"""Sprinklr's two credential headers, both carrying the product's one API key.

A Sprinklr client sends an access token in ``Authorization`` (``Bearer <token>``, or
the token alone) and an API key in ``Key``. The product has one secret, its API key:

- ``Key: sk_...`` alone, or with any ``Authorization``: ``Key`` is the key. A leftover
  Sprinklr token in ``Authorization`` is ignored, so a client changes only its API-key
  setting; but a *different product key* there is a contradiction and a 401.
- no ``Key``: ``Authorization: Bearer sk_...`` or ``Authorization: sk_...``.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header
from rest_framework.request import Request

from customers.authentication import ApiKeyAuthentication

KEY_HEADER = "Key"
#: The product's keys start so (``ApiKeyManager.create_key``); Sprinklr's tokens do not.
PRODUCT_KEY_PREFIX = "sk_"


class SprinklrKeyAuthentication(ApiKeyAuthentication):
    def raw_key(self, request: Request) -> str | None:
        header = get_authorization_header(request).decode(errors="replace").split()
        if len(header) == 2 and header[0].lower() == self.keyword:
            from_authorization = header[1]
        elif len(header) == 1:
            from_authorization = header[0]
        elif header:
            raise exceptions.AuthenticationFailed(
                "malformed Authorization header; expected 'Bearer <api key>' or the key alone"
            )
        else:
            from_authorization = None
        key = request.headers.get(KEY_HEADER, "").strip()
        if not key:
            return from_authorization
        if (
            from_authorization is not None
            and from_authorization.startswith(PRODUCT_KEY_PREFIX)
            and from_authorization != key
        ):
            raise exceptions.AuthenticationFailed(
                "the Key and Authorization headers hold different API keys; send the key"
                " in one of them, or the same key in both"
            )
        return key


class SprinklrKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Either header, as alternatives: the bearer key (the ``ApiKey`` scheme every other
    operation uses, defined by ``customers.openapi``) or Sprinklr's ``Key``."""

    target_class = "journeys.entry.dialects.sprinklr.authentication.SprinklrKeyAuthentication"
    name = "SprinklrKey"

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list]]:
        return [{"ApiKey": []}, {self.name: []}]

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": KEY_HEADER,
            "description": "Sprinklr's Key header, holding the workspace API key (sk_...);"
            " when sent, it is the key (Authorization may then hold anything but another"
            " sk_ key)",
        }
