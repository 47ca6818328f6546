"""The admin's JSON fields refuse what the API refuses, as form errors beside the field,
never a 500 (issue 10: deep nesting, NUL, overflowing numbers)."""

import html
import json

import pytest

from customers.models import Customer
from segments.models import Segment
from tests.factories import journey_create

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def customer_form(attributes: str) -> dict[str, str]:
    return {
        "external_id": "ada", "email": "", "anonymous_id": "", "status": "active",
        "timezone": "", "attributes": attributes,
        "identities-TOTAL_FORMS": "0", "identities-INITIAL_FORMS": "0",
        "tenant_profiles-TOTAL_FORMS": "0", "tenant_profiles-INITIAL_FORMS": "0",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        (DEEP, "nested deeper than 64 levels"),
        ('{"note": "a\\u0000b"}', "note: NUL characters (\\u0000) are not allowed"),
        ('{"big": 1e999}', "number 1e999 is too large"),
        ('{"a": 1,\n "b": }', "Expecting value: line 2 column 7"),
    ],
)
def test_customer_attributes_refuse_what_the_api_refuses(
    admin_client, workspace, attributes, problem
):
    customer = Customer.objects.create(workspace=workspace, external_id="ada")
    url = f"/admin/customers/customer/{customer.pk}/change/"

    response = admin_client.post(url, customer_form(attributes))

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert f"Enter valid JSON: {problem}" in page
    customer.refresh_from_db()
    assert customer.attributes == {}


def test_customer_form_inlines_are_named_as_the_test_posts_them(admin_client, workspace):
    """The management-form prefixes above are the page's own (or every post is a 400)."""
    customer = Customer.objects.create(workspace=workspace, external_id="ada")
    url = f"/admin/customers/customer/{customer.pk}/change/"

    response = admin_client.post(url, customer_form('{"plan": "pro"}'))

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.attributes == {"plan": "pro"}


def test_journey_steps_nested_too_deep_are_a_form_error(admin_client, workspace):
    journey = journey_create(workspace, status="draft")
    form = {
        "name": "Edited", "trigger_type": "api", "trigger_event": "", "trigger_schema": "[]",
        "trigger_conditions": "null", "allow_reentry": "", "max_entries_per_customer": "",
        "reentry_cooldown_seconds": "0", "restart_active": "on", "entry_conditions": "null",
        "cancellation_key": "", "start_step": "", "steps": DEEP,
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    }  # fmt: skip

    response = admin_client.post(f"/admin/journeys/journey/{journey.pk}/change/", form)

    assert response.status_code == 200
    assert "nested deeper than 64 levels" in response.content.decode()
    journey.refresh_from_db()
    assert journey.name != "Edited"


def test_segment_conditions_nested_too_deep_are_a_form_error(admin_client, workspace):
    response = admin_client.post(
        "/admin/segments/segment/add/",
        {"workspace": workspace.pk, "name": "Deep", "kind": "dynamic", "list_email": "",
         "conditions": json.dumps({"not": None})[:-5] + DEEP + "}"},
    )  # fmt: skip

    assert response.status_code == 200
    assert "nested deeper than 64 levels" in response.content.decode()
    assert not Segment.objects.exists()
