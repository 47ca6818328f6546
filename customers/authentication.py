"""API-key authentication: ``Authorization: Bearer sk_...`` attaches the key's workspace."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from customers.models import ApiKey

#: ``last_used_at`` is a hint for humans; writing it more often would cost a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_touch(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "bearer"

    def raw_key(self, request: Request) -> str | None:
        header = get_authorization_header(request).decode(errors="replace").split()
        if not header:
            return None
        if header[0].lower() != self.keyword or len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "malformed Authorization header; expected 'Bearer <api key>'"
            )
        return header[1]

    def authenticate(self, request: Request) -> tuple[ApiKey, ApiKey] | None:
        raw_key = self.raw_key(request)
        if raw_key is None:
            return None
        api_key = ApiKey.objects.for_raw_key(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("invalid API key")
        if api_key.is_revoked:
            raise exceptions.AuthenticationFailed("API key has been revoked")
        api_key_touch(api_key)
        return api_key, api_key

    def authenticate_header(self, request: Request) -> str:
        # Having a challenge makes DRF answer 401 (not 403) when the key is missing.
        return 'Bearer realm="api"'
