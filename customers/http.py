"""The base every API view builds on: workspace scoping and rate-limit headers."""

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.errors import NotFound
from customers.models import ApiKey, Workspace
from customers.ratelimit import USAGE_ATTRIBUTE, rate_limit_headers


class ApiView(APIView):
    """An authenticated API view; responses carry the caller's rate-limit usage."""

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        usage = getattr(request._request, USAGE_ATTRIBUTE, None)
        if usage is not None:
            for header, value in rate_limit_headers(usage).items():
                response[header] = value
        return response

    @property
    def api_key(self) -> ApiKey:
        return self.request.auth


class WorkspaceApiView(ApiView):
    """A view under ``/api/v1/workspaces/{workspace_id}/``: the key must belong to it.

    Another workspace's id answers 404, the same as an id that does not exist, so a key
    learns nothing about other tenants.
    """

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if self.api_key.workspace.public_id != kwargs.get("workspace_id"):
            raise NotFound("workspace not found")

    @property
    def workspace(self) -> Workspace:
        return self.api_key.workspace
