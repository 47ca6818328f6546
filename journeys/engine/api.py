"""Runs: ``GET runs``, ``GET runs/{run_id}`` (a run's state and its timeline so far),
``POST runs/{run_id}/cancel`` and ``POST runs/cancel`` (by cancellation key)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from customers.errors import Conflict
from customers.fields import StrictCharField
from customers.http import WorkspaceApiView
from customers.openapi import error_responses
from customers.pagination import StrictCursorPagination, cursor_parameters
from journeys.engine.exits import CANCELLED_REASON, run_cancel, runs_cancel_by_key
from journeys.engine.runs import run_as_json, run_get, run_summary_as_json, runs_list
from journeys.models import Enrollment

# --- documentation serializers --------------------------------------------------------


class RunSummarySerializer(serializers.Serializer):
    """A run without its timeline (documentation only: ``run_summary_as_json`` renders it)."""

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
    exit_reason = serializers.CharField(
        allow_null=True,
        help_text="cancelled, journey archived, restarted, exit step, exit_criteria (an "
        "exit event or the exit segment of the journey)",
    )
    converted_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the journey's goal event happened within its window (null: not converted)",
    )
    error = serializers.CharField(allow_null=True)
    cancellation_key = serializers.CharField(
        allow_null=True, help_text="The journey's cancellation key as rendered at entry"
    )


class RunStepSerializer(serializers.Serializer):
    """One visit of one step (documentation only)."""

    step = serializers.CharField(help_text="The step's key")
    type = serializers.CharField(help_text="The step's type (send, delay, branch, ...)")
    visit = serializers.IntegerField(help_text="1 for the first visit, 2 after a repeat, ...")
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(
        allow_null=True,
        help_text=(
            "e.g. sent, yes, no, waited, cancelled; a send outside its send window:"
            " waiting_for_window (still open) or skipped_send_window"
        ),
    )
    error = serializers.CharField(allow_null=True)
    message_id = serializers.CharField(allow_null=True, help_text="msg_... for a send")


class RunSerializer(RunSummarySerializer):
    timeline = RunStepSerializer(many=True)


class RunPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RunSummarySerializer(many=True)


RUN_ID = OpenApiParameter("run_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="run_...")

# --- views ----------------------------------------------------------------------------


class RunPagination(StrictCursorPagination):
    # Newest first by key, which runs take in the order they enter: unique, so a page
    # boundary inside a bulk entry (a million runs entered at one instant) costs no
    # offset. enrollment_listing_idx serves it.
    ordering = ("-id",)


class RunListView(WorkspaceApiView):
    """``GET runs?journey=&customer=&state=``."""

    @extend_schema(
        operation_id="runs_list",
        summary="List runs, newest first",
        description=(
            "Cursor-paginated: follow ``next`` until it is null. A journey or customer "
            "id the workspace does not have is a 404."
        ),
        parameters=[
            OpenApiParameter("journey", OpenApiTypes.STR, description="Only this journey's runs"),
            OpenApiParameter("customer", OpenApiTypes.STR, description="Only this customer's runs"),
            OpenApiParameter(
                "state", OpenApiTypes.STR, enum=Enrollment.State.values, description="Only these"
            ),
            *cursor_parameters(RunPagination),
        ],
        responses={200: RunPageSerializer, **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str) -> Response:
        runs = runs_list(
            workspace=self.workspace,
            journey_id=request.query_params.get("journey"),
            customer_id=request.query_params.get("customer"),
            state=request.query_params.get("state"),
        )
        paginator = RunPagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response([run_summary_as_json(run) for run in page])


class RunDetailView(WorkspaceApiView):
    @extend_schema(
        operation_id="run_get",
        summary="One run and its timeline",
        description="Another workspace's run, or any id that is not a run, is a 404.",
        parameters=[RUN_ID],
        responses={200: RunSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str, run_id: str) -> Response:
        return Response(run_as_json(run_get(workspace=self.workspace, run_id=run_id)))


class RunCancelView(WorkspaceApiView):
    """``POST runs/{run_id}/cancel``."""

    @extend_schema(
        operation_id="run_cancel",
        summary="Cancel a run: it sends nothing more",
        description=(
            "An active run exits with exit_reason 'cancelled' (and a run.exited event); the "
            "step it was on shows 'cancelled'. Cancelling it again answers it the same. A "
            "run that completed, failed or exited otherwise is a 409."
        ),
        parameters=[RUN_ID],
        request=None,
        responses={200: RunSerializer, **error_responses(401, 404, 409, 429)},
    )
    def post(self, request: Request, workspace_id: str, run_id: str) -> Response:
        run = run_cancel(workspace=self.workspace, run_id=run_id)
        if run.exit_reason != CANCELLED_REASON:
            raise Conflict(
                f"run is {run.state} and cannot be cancelled", run_id=run_id, state=run.state
            )
        return Response(run_as_json(run_get(workspace=self.workspace, run_id=run_id)))


class RunsCancelByKeyView(WorkspaceApiView):
    """``POST runs/cancel {"cancellation_key": ...}``."""

    class CancelByKeyInput(serializers.Serializer):
        cancellation_key = StrictCharField(
            max_length=500, help_text="As the journey's template rendered it at entry"
        )

    @extend_schema(
        operation_id="runs_cancel_by_key",
        summary="Cancel every active run that entered with a cancellation key",
        description=(
            "A journey's cancellation_key (Liquid, e.g. order-{{ data.order_id }}) is "
            "rendered when a run enters; this cancels the workspace's active runs with that "
            "key, in any journey, as POST runs/{run_id}/cancel does. No such run: 0."
        ),
        request=CancelByKeyInput,
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "RunsCancelledByKey",
                    {
                        "cancellation_key": serializers.CharField(),
                        "cancelled": serializers.IntegerField(help_text="Runs cancelled now"),
                    },
                ),
                description="How many active runs were cancelled",
            ),
            **error_responses(400, 401, 429),
        },
    )
    def post(self, request: Request, workspace_id: str) -> Response:
        parsed = self.CancelByKeyInput(data=request.data)
        parsed.is_valid(raise_exception=True)
        key = parsed.validated_data["cancellation_key"]
        cancelled = runs_cancel_by_key(workspace=self.workspace, cancellation_key=key)
        return Response({"cancellation_key": key, "cancelled": cancelled})
