"""``GET runs/{run_id}``: a run's state and its timeline so far."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from customers.http import WorkspaceApiView
from customers.openapi import error_responses
from journeys.engine.runs import run_as_json, run_get
from journeys.models import Enrollment


class RunStepSerializer(serializers.Serializer):
    """One visit of one step, as ``run_as_json`` renders it (documentation only)."""

    step = serializers.CharField(help_text="The step's key")
    type = serializers.CharField(help_text="The step's type (send, delay, branch, ...)")
    visit = serializers.IntegerField(help_text="1 for the first visit, 2 after a repeat, ...")
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(
        allow_null=True, help_text="e.g. sent, yes, no, waited, suppressed, frequency_capped"
    )
    error = serializers.CharField(allow_null=True)
    message_id = serializers.CharField(allow_null=True, help_text="msg_... for a send")


class RunSerializer(serializers.Serializer):
    """A run (documentation only: ``run_as_json`` renders it)."""

    id = serializers.CharField(help_text="run_...")
    journey_id = serializers.CharField(help_text="jrn_...")
    journey_version = serializers.IntegerField(help_text="The version the run entered on")
    customer_id = serializers.CharField(help_text="cus_...")
    state = serializers.ChoiceField(choices=Enrollment.State.choices)
    current_step = serializers.CharField(allow_null=True)
    wake_at = serializers.DateTimeField(
        allow_null=True, help_text="When the run is next due (a lease's expiry while walked)"
    )
    entered_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    exit_reason = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    timeline = RunStepSerializer(many=True)


class RunDetailView(WorkspaceApiView):
    @extend_schema(
        operation_id="run_get",
        summary="One run and its timeline",
        description="Another workspace's run, or any id that is not a run, is a 404.",
        responses={200: RunSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str, run_id: str) -> Response:
        return Response(run_as_json(run_get(workspace=self.workspace, run_id=run_id)))
