"""Courier's journeys API: the views, which parse Courier's requests, call one service
each and answer in Courier's shapes (documented in the OpenAPI schema as ``Courier*``).

The workspace is the API key's. Errors are the product's JSON errors with Courier's
``type`` and ``message`` beside ``error``. Invoking counts against the key's trigger
budget, everything else against its default one; the two POSTs take Courier's
``Idempotency-Key`` and ``x-idempotency-expiration`` headers.
"""

import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.errors import InvalidRequest
from customers.fields import StrictCharField
from customers.openapi import SchemaRules
from customers.pagination import StrictCursorPagination
from customers.patterns import PYTHON_WHITESPACE_CLASS
from customers.ratelimit import TRIGGER_BUDGET
from journeys.engine.exits import run_cancel, runs_cancel_by_key
from journeys.engine.runs import run_get
from journeys.entry.api import IDEMPOTENCY_KEY_PARAMETER
from journeys.entry.dialects.courier.errors import error_body
from journeys.entry.dialects.courier.invoke import Recipient, courier_invoke
from journeys.entry.dialects.courier.runs import (
    courier_date,
    courier_run,
    courier_run_item,
    courier_runs,
    courier_step,
    run_status,
)
from journeys.entry.dialects.errors import exception_handler_shaped
from journeys.entry.dialects.views import DialectView
from journeys.entry.idempotency import idempotency_guard
from journeys.models import Journey

#: Courier's 400 for an invocation that names nobody.
MISSING_RECIPIENT = (
    "User identifier or profile required. Provide user_id, user_id/userId/anonymousId in "
    "profile/data, or profile with contact info."
)
#: Courier's header that sets how long an ``Idempotency-Key`` is kept, and its bounds.
EXPIRATION_HEADER = "x-idempotency-expiration"
MIN_KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LIFETIME = timedelta(days=365)
#: The names a user id may have in ``profile`` or ``data``, besides the request's
#: ``user_id``: Courier's (the last is an anonymous id).
PROFILE_ID_NAMES = ("user_id", "userId", "anonymousId")
#: Column lengths of what the profile names: external and anonymous ids, e-mail, tenant.
ID_MAX_LENGTH = 255
EMAIL_MAX_LENGTH = 320
PHONE_MAX_LENGTH = 64
TOKEN_MAX_LENGTH = 500  # Enrollment.cancellation_key
#: An address: something, an @, something, no whitespace (Python's, which the schema
#: spells out); or nothing, which is no address. Delivery tells the rest.
EMAIL_PATTERN = f"^([^@{PYTHON_WHITESPACE_CLASS}]+@[^@{PYTHON_WHITESPACE_CLASS}]+)?$"


class CourierView(DialectView):
    """A view of the dialect: the key's workspace, Courier's error shape."""

    def get_exception_handler(self) -> Any:
        return exception_handler_shaped(error_body)


def _body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data


def _text(container: dict[str, Any], name: str, where: str, max_length: int) -> str | None:
    """An identifier or address of the profile: a string, or absent (null, blank)."""
    value = container.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: must be a string", field=where)
    if len(value) > max_length:
        raise InvalidRequest(f"{where}: at most {max_length} characters", field=where)
    return value


def _data_identifier(data: dict[str, Any], *names: str) -> str | None:
    """An identifier ``data`` carries: only a string counts (data is the journey's)."""
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value and len(value) <= ID_MAX_LENGTH:
            return value
    return None


def idempotency_expiration(request: Request) -> datetime | None:
    """``x-idempotency-expiration``: epoch milliseconds or an ISO 8601 time, kept between
    24 hours and a year from now (Courier's bounds, so any number of milliseconds is a
    time within them); None without the header (or with a blank one)."""
    raw = (request.headers.get(EXPIRATION_HEADER) or "").strip()
    if not raw:
        return None
    now = timezone.now()
    earliest, latest = now + MIN_KEY_LIFETIME, now + MAX_KEY_LIFETIME
    if raw.isascii() and raw.isdigit():
        milliseconds = int(raw)
        if milliseconds >= latest.timestamp() * 1000:
            return latest
        moment = datetime.fromtimestamp(milliseconds / 1000, UTC)
    else:
        try:
            moment = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            moment.astimezone(UTC)  # an offset past year 9999 has no UTC time
        except (ValueError, OverflowError):
            raise InvalidRequest(
                f"{EXPIRATION_HEADER}: expected epoch milliseconds or an ISO 8601 time "
                f"(got {raw[:100]!r})",
                field=EXPIRATION_HEADER,
            ) from None
    return min(max(moment, earliest), latest)


IDEMPOTENCY_HEADERS = [
    IDEMPOTENCY_KEY_PARAMETER,
    OpenApiParameter(
        EXPIRATION_HEADER,
        {"type": "string", "pattern": "^[0-9]*$"},
        location=OpenApiParameter.HEADER,
        required=False,
        description="When the key may be reused: epoch milliseconds (or an ISO 8601 time), "
        "between 24 hours (the default) and a year from now (clamped).",
    ),
]


# --- documentation of Courier's shapes -------------------------------------------------


class CourierErrorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["invalid_request_error"])
    message = serializers.CharField(help_text="What is wrong, naming the field")
    error = serializers.CharField(help_text="The same, as the product's other APIs say it")


def _errors(*codes: int, **described: str) -> dict[int, OpenApiResponse]:
    """Courier-shaped errors; ``e422="..."`` describes a code for this operation."""
    descriptions = {
        400: "Invalid request: missing user, a field of the wrong type, a bad header",
        401: "Missing, invalid or revoked API key",
        404: "Not found in this workspace",
        409: "The user is inactive",
        422: "The Idempotency-Key was used with another request",
        429: "Rate limit exceeded",
        **{int(name.removeprefix("e")): text for name, text in described.items()},
    }
    return {
        code: OpenApiResponse(CourierErrorSerializer, description=descriptions[code])
        for code in codes
    }


class CourierJourneySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="jrn_...")
    name = serializers.CharField()
    version = serializers.ChoiceField(choices=["published", "draft"])
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class CourierJourneysListSerializer(serializers.Serializer):
    templates = CourierJourneySerializer(many=True)
    cursor = serializers.CharField(required=False, help_text="Present when more follow")


class CourierRunItemSerializer(serializers.Serializer):
    run_id = serializers.CharField(help_text="run_...")
    source = serializers.ListField(
        child=serializers.CharField(), help_text="invoke/<journey id>: diagnostic only"
    )
    created_at = serializers.CharField(help_text="ISO 8601")
    status = serializers.CharField(help_text="PROCESSING, WAITING, PROCESSED, CANCELED, ERROR")
    template_id = serializers.CharField(help_text="The journey's id")


class CourierRunSerializer(CourierRunItemSerializer):
    updated_at = serializers.CharField(help_text="ISO 8601")


class CourierRunResponseSerializer(serializers.Serializer):
    run = CourierRunSerializer()


class CourierRunListSerializer(serializers.Serializer):
    runs = CourierRunItemSerializer(many=True)
    next_cursor = serializers.CharField(required=False, help_text="Absent on the last page")
    prev_cursor = serializers.CharField(required=False, help_text="Absent on the first page")


class CourierStepErrorSerializer(serializers.Serializer):
    message = serializers.CharField()


class CourierRunStepSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="The step's type: send, delay, branch...")
    node_id = serializers.CharField(help_text="The step's key")
    status = serializers.CharField(help_text="PROCESSING, WAITING, PROCESSED, CANCELED, ERROR")
    error = CourierStepErrorSerializer(allow_null=True)
    skip_reason = serializers.CharField(allow_null=True)
    message_id = serializers.CharField(allow_null=True, help_text="msg_... for a send")
    created_at = serializers.CharField(help_text="ISO 8601")
    updated_at = serializers.CharField(help_text="ISO 8601")


class CourierRunStepsSerializer(serializers.Serializer):
    steps = CourierRunStepSerializer(many=True)


# --- views ---------------------------------------------------------------------------------


class CourierInvokeView(CourierView):
    """``POST /journeys/{journey_id}/invoke``."""

    rate_limit_budget = TRIGGER_BUDGET

    class CourierInvokeRequest(SchemaRules, serializers.Serializer):
        """At least a user: ``user_id``, a user id in ``profile`` or ``data``
        (``user_id``, ``userId``, ``anonymousId``), or a profile with an ``email`` or a
        ``phone_number``. A null or empty identifier counts as not given."""

        user_id = StrictCharField(
            required=False,
            allow_null=True,
            allow_blank=True,
            max_length=ID_MAX_LENGTH,
            trim_whitespace=False,
            help_text="The user's id: the customer's external_id (made if new)",
        )
        profile = serializers.DictField(
            required=False,
            allow_null=True,
            help_text="Merged over the stored customer for this run, its fields winning "
            "(an email here receives the run's e-mails); context.tenant_id names the "
            "tenant whose profile templates read as tenant",
        )
        data = serializers.DictField(
            required=False,
            allow_null=True,
            help_text="The journey's payload (data.x, api.payload.x, or x by name), "
            "checked against the trigger schema's types",
        )

        @classmethod
        def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
            """The profile's typed fields, and "name a user" (see the docstring)."""

            def text(max_length: int, **more: Any) -> dict[str, Any]:
                return {"type": "string", "nullable": True, "maxLength": max_length, **more}

            def given(max_length: int) -> dict[str, Any]:
                return {"type": "string", "minLength": 1, "maxLength": max_length}

            profile = schema["properties"]["profile"]
            profile["properties"] = {
                **{name: text(ID_MAX_LENGTH) for name in PROFILE_ID_NAMES},
                "email": text(EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN),
                "phone_number": text(PHONE_MAX_LENGTH),
                "context": {
                    "type": "object",
                    "nullable": True,
                    "additionalProperties": {},
                    "properties": {"tenant_id": text(ID_MAX_LENGTH)},
                },
            }

            def inside(name: str, field: str, max_length: int) -> dict[str, Any]:
                return {
                    "required": [name],
                    "properties": {
                        name: {
                            "type": "object",
                            "required": [field],
                            "properties": {field: given(max_length)},
                        }
                    },
                }

            schema["anyOf"] = [
                {"required": ["user_id"], "properties": {"user_id": given(ID_MAX_LENGTH)}},
                *(inside("profile", name, ID_MAX_LENGTH) for name in PROFILE_ID_NAMES),
                inside("profile", "email", EMAIL_MAX_LENGTH),
                inside("profile", "phone_number", PHONE_MAX_LENGTH),
                *(inside("data", name, ID_MAX_LENGTH) for name in PROFILE_ID_NAMES),
            ]
            return schema

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            profile = attrs.get("profile") or {}
            data = attrs.get("data") or {}
            user_id = (
                attrs.get("user_id")
                or _text(profile, "user_id", "profile.user_id", ID_MAX_LENGTH)
                or _text(profile, "userId", "profile.userId", ID_MAX_LENGTH)
                or _data_identifier(data, "user_id", "userId")
            )
            anonymous_id = _text(
                profile, "anonymousId", "profile.anonymousId", ID_MAX_LENGTH
            ) or _data_identifier(data, "anonymousId")
            email = _text(profile, "email", "profile.email", EMAIL_MAX_LENGTH)
            if email is not None and not re.fullmatch(EMAIL_PATTERN, email):
                raise InvalidRequest("profile.email: not an e-mail address", field="profile.email")
            phone = _text(profile, "phone_number", "profile.phone_number", PHONE_MAX_LENGTH)
            recipient = Recipient(
                user_id=user_id, anonymous_id=anonymous_id, email=email, phone_number=phone
            )
            if not recipient.named:
                raise InvalidRequest(MISSING_RECIPIENT)
            context = profile.get("context")
            if context is not None and not isinstance(context, dict):
                raise InvalidRequest("profile.context: must be an object", field="profile.context")
            tenant_id = _text(
                context or {}, "tenant_id", "profile.context.tenant_id", ID_MAX_LENGTH
            )
            return {"recipient": recipient, "profile": profile, "data": data, "tenant": tenant_id}

    @extend_schema(
        operation_id="courier_journeys_invoke",
        summary="Courier: invoke a journey for one user",
        description=(
            "Starts a run of the live API-triggered journey and answers its id. The user "
            "is found by user_id (external_id), anonymousId, profile.email or "
            "profile.phone_number, and made when new. 404: no such journey, or never "
            "published. 422: archived or paused, trigger conditions not met, or an entry "
            "rule refuses the user (status says which). 409: the user is inactive. 400: "
            "no user, a profile field of the wrong type, or data breaking the trigger "
            "schema's types (naming "
            "data.<field>; schema fields that are missing are not refused)."
        ),
        parameters=[
            OpenApiParameter("journey_id", OpenApiTypes.STR, OpenApiParameter.PATH),
            *IDEMPOTENCY_HEADERS,
        ],
        request=CourierInvokeRequest,
        responses={
            202: OpenApiResponse(
                inline_serializer(
                    "CourierInvokeResponse", {"runId": serializers.CharField(help_text="run_...")}
                ),
                description="Accepted: the new run's id",
            ),
            **_errors(
                400,
                401,
                404,
                409,
                422,
                429,
                e422="The journey exists but cannot run for this user (archived, paused, "
                "trigger conditions, entry rules), or the Idempotency-Key was used with "
                "another request",
            ),
        },
        examples=[
            OpenApiExample(
                "user_id",
                {"user_id": "user_123", "data": {"order_id": "ORD-9042", "order_total": 49.99}},
                request_only=True,
            ),
            OpenApiExample(
                "profile only",
                {"profile": {"email": "jane@example.com"}, "data": {"signup_source": "lp"}},
                request_only=True,
            ),
            OpenApiExample(
                "tenant",
                {"user_id": "user_123", "profile": {"context": {"tenant_id": "hospital-a"}}},
                request_only=True,
            ),
            OpenApiExample(
                "accepted", {"runId": "run_..."}, response_only=True, status_codes=[202]
            ),
        ],
    )
    def post(self, request: Request, journey_id: str) -> Response:
        parsed = self.CourierInvokeRequest(data=_body(request.data))
        with idempotency_guard(
            request=request, workspace=self.workspace, expires_at=idempotency_expiration(request)
        ) as guard:
            if guard.replay is not None:
                return guard.replay
            parsed.is_valid(raise_exception=True)
            fields = parsed.validated_data
            run_id = courier_invoke(
                workspace=self.workspace,
                journey_id=journey_id,
                recipient=fields["recipient"],
                profile=fields["profile"],
                data=fields["data"],
                tenant_id=fields["tenant"],
            )
            return guard.complete(Response({"runId": run_id}, status=status.HTTP_202_ACCEPTED))


class CourierCursorPagination(StrictCursorPagination):
    """Newest first; Courier's clients carry the cursor alone (not a URL); a cursor that
    is not one this list gave is a 400."""

    ordering = ("-id",)
    page_size_query_param = None

    def cursors(self) -> tuple[str | None, str | None]:
        """The next and previous pages' cursors (None where there is no such page)."""
        return _cursor_of(self.get_next_link()), _cursor_of(self.get_previous_link())


def _cursor_of(link: str | None) -> str | None:
    if link is None:
        return None
    return urllib.parse.parse_qs(urllib.parse.urlsplit(link).query).get("cursor", [None])[0]


class CourierJourneyListView(CourierView):
    """``GET /journeys?version=published|draft&cursor=``."""

    class Pagination(CourierCursorPagination):
        page_size = 100

    @extend_schema(
        operation_id="courier_journeys_list",
        summary="Courier: list journeys",
        description=(
            "published (the default): live and paused journeys, as published; draft: "
            "every journey that is not archived, as its draft. Newest first, 100 a page."
        ),
        parameters=[
            OpenApiParameter("version", OpenApiTypes.STR, enum=["published", "draft"]),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="A page's cursor"),
        ],
        responses={200: CourierJourneysListSerializer, **_errors(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        version = request.query_params.get("version", "published")
        journeys: QuerySet[Journey] = Journey.objects.filter(workspace=self.workspace)
        if version == "published":
            journeys = journeys.filter(
                status__in=[Journey.Status.LIVE, Journey.Status.PAUSED]
            ).select_related("live_version")
        elif version == "draft":
            journeys = journeys.exclude(status=Journey.Status.ARCHIVED)
        else:
            raise InvalidRequest(
                f'Invalid version parameter "{version[:100]}". Accepted values are: published '
                "(for published templates) or draft (for draft templates)",
                field="version",
            )
        paginator = self.Pagination()
        page = paginator.paginate_queryset(journeys, request, view=self)
        body: dict[str, Any] = {
            "templates": [
                {
                    "id": journey.public_id,
                    "name": journey.name,
                    "version": version,
                    "createdAt": journey.created_at,
                    "updatedAt": journey.live_version.published_at
                    if version == "published"
                    else journey.updated_at,
                }
                for journey in page
            ]
        }
        next_cursor, _ = paginator.cursors()
        if next_cursor:
            body["cursor"] = next_cursor
        return Response(body)


class CourierRunListView(CourierView):
    """``GET /journeys/runs?status=&template_id=&start_date=&end_date=&limit=&cursor=``."""

    class Pagination(CourierCursorPagination):
        page_size = 20
        page_size_query_param = "limit"
        max_page_size = 50

        def get_page_size(self, request: Request) -> int:
            """1 to 50, clamped; anything that is not a number is the default (Courier)."""
            raw = request.query_params.get("limit", "")
            try:
                return min(max(int(raw), 1), self.max_page_size)
            except ValueError:
                return self.page_size

    @extend_schema(
        operation_id="courier_runs_list",
        summary="Courier: list journey runs",
        description=(
            "Newest first. status and template_id take comma-separated lists; a status "
            "or journey id that names nothing matches nothing. start_date and end_date "
            "bound created_at (inclusive)."
        ),
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="next_cursor or prev_cursor"),
            OpenApiParameter("limit", OpenApiTypes.STR, description="1 to 50 (default 20)"),
            OpenApiParameter(
                "start_date",
                {"type": "string", "format": "date-time"},
                description="An ISO 8601 time, or a date (2026-08-18: from its start, UTC)",
            ),
            OpenApiParameter(
                "end_date",
                {"type": "string", "format": "date-time"},
                description="Like start_date (a date: to its end)",
            ),
            OpenApiParameter("status", OpenApiTypes.STR, description="e.g. PROCESSED,ERROR"),
            OpenApiParameter("template_id", OpenApiTypes.STR, description="Journey ids"),
        ],
        responses={200: CourierRunListSerializer, **_errors(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        start, end = params.get("start_date"), params.get("end_date")
        runs = courier_runs(
            workspace=self.workspace,
            statuses=_listed(params.get("status")),
            journey_ids=_listed(params.get("template_id")),
            start=courier_date(start, "start_date") if start is not None else None,
            end=courier_date(end, "end_date", end_of_day=True) if end is not None else None,
        )
        paginator = self.Pagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        now = timezone.now()
        body: dict[str, Any] = {"runs": [courier_run_item(run, now) for run in page]}
        next_cursor, prev_cursor = paginator.cursors()
        if next_cursor:
            body["next_cursor"] = next_cursor
        if prev_cursor:
            body["prev_cursor"] = prev_cursor
        return Response(body)


def _listed(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


RUN_ID = OpenApiParameter("run_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="run_...")


class CourierRunView(CourierView):
    """``GET /journeys/runs/{run_id}``."""

    @extend_schema(
        operation_id="courier_runs_retrieve",
        summary="Courier: one journey run",
        parameters=[RUN_ID],
        responses={200: CourierRunResponseSerializer, **_errors(401, 404, 429)},
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response({"run": courier_run(run_get(workspace=self.workspace, run_id=run_id))})


class CourierRunStepsView(CourierView):
    """``GET /journeys/runs/{run_id}/steps``."""

    @extend_schema(
        operation_id="courier_runs_steps",
        summary="Courier: every step of a journey run",
        parameters=[RUN_ID],
        responses={200: CourierRunStepsSerializer, **_errors(401, 404, 429)},
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_get(workspace=self.workspace, run_id=run_id)
        return Response({"steps": [courier_step(step) for step in run.step_runs.all()]})


class CourierCancelView(CourierView):
    """``POST /journeys/cancel`` with a ``cancelation_token`` or a ``run_id``."""

    class CourierCancelRequest(SchemaRules, serializers.Serializer):
        """Exactly one of the two."""

        cancelation_token = StrictCharField(
            required=False,
            max_length=TOKEN_MAX_LENGTH,
            help_text="Cancels every active run whose journey's cancellation key "
            "rendered to this at entry",
        )
        run_id = StrictCharField(required=False, help_text="Cancels this run")

        @classmethod
        def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
            schema["oneOf"] = [{"required": ["cancelation_token"]}, {"required": ["run_id"]}]
            return schema

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("cancelation_token" in attrs) == ("run_id" in attrs):
                raise InvalidRequest("Provide either cancelation_token or run_id")
            return attrs

    @extend_schema(
        operation_id="courier_journeys_cancel",
        summary="Courier: cancel journey runs",
        description=(
            "By token: every active run with that cancellation key, answered with the "
            "token. By run id: that run, answered with its status (CANCELED; PROCESSED or "
            "ERROR for a run that had ended, left unchanged)."
        ),
        parameters=IDEMPOTENCY_HEADERS,
        request=CourierCancelRequest,
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    "CourierCancelResponse",
                    serializers=[
                        inline_serializer(
                            "CourierCancelByToken",
                            {"cancelation_token": serializers.CharField()},
                        ),
                        inline_serializer(
                            "CourierCancelByRun",
                            {
                                "run_id": serializers.CharField(),
                                "status": serializers.CharField(
                                    help_text="CANCELED, or PROCESSED / ERROR if it had ended"
                                ),
                            },
                        ),
                    ],
                    resource_type_field_name=None,
                ),
                description="{cancelation_token} or {run_id, status}",
            ),
            **_errors(400, 401, 404, 422, 429),
        },
    )
    def post(self, request: Request) -> Response:
        parsed = self.CourierCancelRequest(data=_body(request.data))
        with idempotency_guard(
            request=request, workspace=self.workspace, expires_at=idempotency_expiration(request)
        ) as guard:
            if guard.replay is not None:
                return guard.replay
            parsed.is_valid(raise_exception=True)
            fields = parsed.validated_data
            if "cancelation_token" in fields:
                token = fields["cancelation_token"]
                runs_cancel_by_key(workspace=self.workspace, cancellation_key=token)
                return guard.complete(Response({"cancelation_token": token}))
            run = run_cancel(workspace=self.workspace, run_id=fields["run_id"])
            return guard.complete(Response({"run_id": run.public_id, "status": run_status(run)}))
