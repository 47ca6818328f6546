"""The write key: Segment's clients send it as HTTP Basic's username (with an empty
password), or in the body's ``writeKey``. Here the write key is a workspace API key, so
``Authorization: Bearer <key>`` works too."""

import base64
import binascii

from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header
from rest_framework.request import Request

from customers.authentication import ApiKeyAuthentication


class WriteKeyAuthentication(ApiKeyAuthentication):
    def raw_key(self, request: Request) -> str | None:
        header = get_authorization_header(request)
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() == b"basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise exceptions.AuthenticationFailed(
                    "malformed Basic credentials: expected base64 of '<write key>:'"
                ) from None
            key = decoded.partition(":")[0]
            if not key:
                raise exceptions.AuthenticationFailed("the write key (Basic username) is empty")
            return key
        if header:
            return super().raw_key(request)
        # No header: the body's writeKey (read here, so the body is parsed first).
        data = request.data
        key = data.get("writeKey") if isinstance(data, dict) else None
        return key if isinstance(key, str) and key else None

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="segment"'
