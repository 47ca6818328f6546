"""Customers API: identify (upsert), read, partial update and erase.

Views only parse and render; the rules live in :mod:`customers.services`.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.fields import StrictCharField, StrictEmailField, TimezoneField
from customers.http import WorkspaceApiView
from customers.models import Customer
from customers.openapi import SchemaRules, error_responses
from customers.selectors import customer_get
from customers.services import (
    IDENTIFIER_FIELDS,
    customer_erase,
    customer_identify,
    customer_update,
)

#: Channel identities one identify call may attach.
MAX_CHANNELS = 20


class CustomerChannelSerializer(serializers.Serializer):
    type = StrictCharField(max_length=40, help_text="sms, whatsapp, push, ...")
    id = StrictCharField(max_length=320, help_text="e.g. +15551234567")


class CustomerOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    external_id = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    anonymous_id = serializers.CharField(allow_null=True)
    attributes = serializers.DictField()
    status = serializers.ChoiceField(choices=Customer.Status.choices)
    timezone = serializers.CharField()
    channels = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(CustomerChannelSerializer(many=True))
    def get_channels(self, customer: Customer) -> list[dict[str, str]]:
        identities = sorted(
            customer.identities.all(), key=lambda identity: (identity.created_at, identity.pk)
        )
        return [{"type": i.channel_type, "id": i.channel_id} for i in identities]


def _render(customer: Customer) -> dict[str, Any]:
    return CustomerOutputSerializer(customer).data


class CustomerIdentifyApi(WorkspaceApiView):
    """``POST customers``: create or update a customer by external_id / email."""

    class CustomerIdentifyInputSerializer(SchemaRules, serializers.Serializer):
        """At least one identifier names the customer."""

        external_id = StrictCharField(max_length=255, required=False, allow_null=True)
        email = StrictEmailField(max_length=320, required=False, allow_null=True)
        anonymous_id = StrictCharField(max_length=255, required=False, allow_null=True)
        attributes = serializers.DictField(
            required=False,
            help_text="Shallow-merged into the stored attributes; a null value removes one.",
        )
        timezone = TimezoneField(required=False, help_text='An IANA name; "" for unknown')
        status = serializers.ChoiceField(choices=Customer.Status.choices, required=False)
        channels = CustomerChannelSerializer(many=True, required=False, max_length=MAX_CHANNELS)

        @classmethod
        def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
            properties = schema["properties"]
            # drf-spectacular leaves out a nested list's max_length.
            properties["channels"]["maxItems"] = MAX_CHANNELS
            schema["anyOf"] = [
                {"required": [name], "properties": {name: {**properties[name], "nullable": False}}}
                for name in IDENTIFIER_FIELDS
            ]
            return schema

    @extend_schema(
        operation_id="customers_identify",
        summary="Identify (upsert) a customer",
        request=CustomerIdentifyInputSerializer,
        responses={
            201: OpenApiResponse(CustomerOutputSerializer, description="Created"),
            200: OpenApiResponse(CustomerOutputSerializer, description="Updated"),
            **error_responses(400, 401, 404, 409, 429),
        },
        description=(
            "Upsert a customer. Matches by external_id, else email, else anonymous_id. "
            "A new external_id with the email of a customer who has none attaches to "
            "that customer; an email held by a different external_id is a 409."
        ),
    )
    def post(self, request: Request, workspace_id: str) -> Response:
        serializer = self.CustomerIdentifyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer, created = customer_identify(workspace=self.workspace, **serializer.validated_data)
        return Response(
            _render(customer), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class CustomerDetailApi(WorkspaceApiView):
    """``GET|PATCH|DELETE customers/{customer_id}``."""

    class CustomerUpdateInputSerializer(serializers.Serializer):
        external_id = StrictCharField(max_length=255, required=False, allow_null=True)
        email = StrictEmailField(max_length=320, required=False, allow_null=True)
        attributes = serializers.DictField(required=False)
        status = serializers.ChoiceField(choices=Customer.Status.choices, required=False)
        timezone = TimezoneField(required=False, help_text='An IANA name; "" for unknown')

    @extend_schema(
        operation_id="customers_retrieve",
        summary="Get a customer",
        description="A customer by public id (cus_...); another workspace's id is a 404.",
        responses={200: CustomerOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str, customer_id: str) -> Response:
        customer = customer_get(workspace=self.workspace, customer_id=customer_id)
        return Response(_render(customer))

    @extend_schema(
        operation_id="customers_update",
        summary="Update a customer",
        request=CustomerUpdateInputSerializer,
        responses={200: CustomerOutputSerializer, **error_responses(400, 401, 404, 409, 429)},
        description=(
            "Partial update. Attributes merge (null removes one); a null email or "
            "external_id clears it; taking another customer's email or external_id is a 409."
        ),
    )
    def patch(self, request: Request, workspace_id: str, customer_id: str) -> Response:
        customer = customer_get(workspace=self.workspace, customer_id=customer_id)
        serializer = self.CustomerUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = customer_update(customer=customer, **serializer.validated_data)
        return Response(_render(customer))

    @extend_schema(
        operation_id="customers_erase",
        summary="Erase a customer and their data",
        request=None,
        responses={204: OpenApiResponse(description="Erased"), **error_responses(401, 404, 429)},
        description="Erase the customer and all their data: identities, profiles, events, "
        "segment memberships and journey runs.",
    )
    def delete(self, request: Request, workspace_id: str, customer_id: str) -> Response:
        customer = customer_get(workspace=self.workspace, customer_id=customer_id)
        customer_erase(customer=customer)
        return Response(status=status.HTTP_204_NO_CONTENT)
