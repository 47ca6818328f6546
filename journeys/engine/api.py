"""``GET runs/{run_id}``: a run's state and its timeline so far."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from customers.http import WorkspaceApiView
from journeys.engine.runs import run_as_json, run_get


class RunDetailView(WorkspaceApiView):
    @extend_schema(
        operation_id="run_get", summary="One run and its timeline", responses=OpenApiTypes.OBJECT
    )
    def get(self, request: Request, workspace_id: str, run_id: str) -> Response:
        return Response(run_as_json(run_get(workspace=self.workspace, run_id=run_id)))
