"""Segments API: create and list segments, and change a static segment's members in bulk."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.fields import StrictCharField, StrictEmailField
from customers.http import WorkspaceApiView
from customers.openapi import SchemaRules, error_responses, schema_component
from segments.condition_schema import CUSTOMER_FIELD_PATTERN, condition_json_schema
from segments.models import Segment
from segments.services import (
    MAX_MEMBERS_PER_REQUEST,
    segment_create,
    segment_get,
    segment_member_count,
    segment_members_add,
    segment_members_remove,
)


@extend_schema_field(
    schema_component(
        "SegmentCondition",
        lambda: condition_json_schema(
            ref="#/components/schemas/SegmentCondition", field_pattern=CUSTOMER_FIELD_PATTERN
        ),
    )
)
class SegmentConditionField(serializers.JSONField):
    """A dynamic segment's conditions: checked by ``segment_create``, described here."""


class SegmentOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Segment.Kind.choices)
    list_email = serializers.CharField(allow_null=True)
    conditions = SegmentConditionField(allow_null=True)
    created_at = serializers.DateTimeField()


class SegmentDetailOutputSerializer(SegmentOutputSerializer):
    member_count = serializers.IntegerField(
        help_text="Static: explicit members. Dynamic: customers the conditions match now."
    )


class SegmentListOutputSerializer(serializers.Serializer):
    data = SegmentOutputSerializer(many=True)


class SegmentMembersInputSerializer(SchemaRules, serializers.Serializer):
    """At least one of the lists names someone (the service refuses two empty lists)."""

    external_ids = serializers.ListField(
        child=StrictCharField(max_length=255),
        required=False,
        default=list,
        max_length=MAX_MEMBERS_PER_REQUEST,
        error_messages={
            "max_length": f"at most {MAX_MEMBERS_PER_REQUEST} entries per request",
        },
    )
    emails = serializers.ListField(
        child=StrictCharField(max_length=320),
        required=False,
        default=list,
        max_length=MAX_MEMBERS_PER_REQUEST,
        error_messages={
            "max_length": f"at most {MAX_MEMBERS_PER_REQUEST} entries per request",
        },
    )

    @classmethod
    def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
        schema["anyOf"] = [
            {"required": [name], "properties": {name: {"minItems": 1}}}
            for name in ("external_ids", "emails")
        ]
        return schema


class SegmentMembersAddedSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    already_members = serializers.IntegerField()
    not_found = serializers.IntegerField()


class SegmentMembersRemovedSerializer(serializers.Serializer):
    removed = serializers.IntegerField()
    not_members = serializers.IntegerField()
    not_found = serializers.IntegerField()


def _render_detail(segment: Segment) -> dict[str, Any]:
    segment.member_count = segment_member_count(segment=segment)
    return SegmentDetailOutputSerializer(segment).data


class SegmentListCreateApi(WorkspaceApiView):
    """``GET|POST segments``."""

    class SegmentCreateInputSerializer(SchemaRules, serializers.Serializer):
        """Static lists may have a list_email, dynamic segments must have conditions."""

        name = StrictCharField(max_length=200)
        kind = serializers.ChoiceField(choices=Segment.Kind.choices)
        list_email = StrictEmailField(
            max_length=320,
            required=False,
            allow_null=True,
            help_text="Static lists only: an address naming the list (unique per workspace).",
        )
        conditions = SegmentConditionField(
            required=False,
            allow_null=True,
            help_text='Dynamic only: {"all"|"any": [...]}, {"not": ...} or '
            '{"field", "op", "value"} over customer.* fields.',
        )

        @classmethod
        def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
            null_only = {"nullable": True, "enum": [None]}
            schema["oneOf"] = [
                {"properties": {"kind": {"enum": ["static"]}, "conditions": null_only}},
                {
                    "properties": {
                        "kind": {"enum": ["dynamic"]},
                        "list_email": null_only,
                        "conditions": {"type": "object"},
                    },
                    "required": ["conditions"],
                },
            ]
            return schema

    @extend_schema(
        operation_id="segments_list",
        summary="List segments",
        description="The workspace's segments, newest first (without member counts).",
        responses={200: SegmentListOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str) -> Response:
        segments = Segment.objects.filter(workspace=self.workspace).order_by("-created_at", "-pk")
        return Response({"data": SegmentOutputSerializer(segments, many=True).data})

    @extend_schema(
        operation_id="segments_create",
        summary="Create a segment",
        description="A static list (explicit members, optional unique list_email) or a "
        "dynamic segment (conditions over customer fields and attributes, evaluated in SQL).",
        request=SegmentCreateInputSerializer,
        responses={201: SegmentDetailOutputSerializer, **error_responses(400, 401, 404, 409, 429)},
    )
    def post(self, request: Request, workspace_id: str) -> Response:
        serializer = self.SegmentCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        segment = segment_create(workspace=self.workspace, **serializer.validated_data)
        return Response(_render_detail(segment), status=status.HTTP_201_CREATED)


class SegmentDetailApi(WorkspaceApiView):
    """``GET segments/{segment_id}``, with its current member count."""

    @extend_schema(
        operation_id="segments_retrieve",
        summary="Get a segment with its member count",
        description="member_count is computed now: explicit members of a static segment, "
        "or the customers a dynamic segment's conditions match.",
        responses={200: SegmentDetailOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str, segment_id: str) -> Response:
        segment = segment_get(workspace=self.workspace, segment_id=segment_id)
        return Response(_render_detail(segment))


class SegmentMembersApi(WorkspaceApiView):
    """``POST|DELETE segments/{segment_id}/members`` with ``{external_ids, emails}``."""

    @extend_schema(
        operation_id="segments_members_add",
        summary="Add members to a static segment",
        request=SegmentMembersInputSerializer,
        responses={200: SegmentMembersAddedSerializer, **error_responses(400, 401, 404, 409, 429)},
        description=f"Add up to {MAX_MEMBERS_PER_REQUEST} external ids and "
        f"{MAX_MEMBERS_PER_REQUEST} emails to a static segment. Unknown ones are counted "
        "as not_found. Dynamic segments answer 409.",
    )
    def post(self, request: Request, workspace_id: str, segment_id: str) -> Response:
        segment = segment_get(workspace=self.workspace, segment_id=segment_id)
        serializer = SegmentMembersInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = segment_members_add(segment=segment, **serializer.validated_data)
        return Response(SegmentMembersAddedSerializer(result).data)

    @extend_schema(
        operation_id="segments_members_remove",
        summary="Remove members from a static segment",
        request=SegmentMembersInputSerializer,
        responses={
            200: SegmentMembersRemovedSerializer,
            **error_responses(400, 401, 404, 409, 429),
        },
        description="Remove customers from a static segment. Dynamic segments answer 409.",
    )
    def delete(self, request: Request, workspace_id: str, segment_id: str) -> Response:
        segment = segment_get(workspace=self.workspace, segment_id=segment_id)
        serializer = SegmentMembersInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = segment_members_remove(segment=segment, **serializer.validated_data)
        return Response(SegmentMembersRemovedSerializer(result).data)
