"""The segments API: create, list, read with member counts, and bulk member changes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from segments.models import Segment, SegmentMembership
from segments.services import MAX_MEMBERS_PER_REQUEST
from tests.factories import customers_create

VIP = {"field": "customer.plan", "op": "eq", "value": "vip"}


@pytest.fixture
def static_segment(workspace) -> Segment:
    return Segment.objects.create(workspace=workspace, name="Newsletter")


@pytest.fixture
def dynamic_segment(workspace) -> Segment:
    return Segment.objects.create(
        workspace=workspace, name="VIPs", kind=Segment.Kind.DYNAMIC, conditions=VIP
    )


def _members(segment: Segment) -> set[str]:
    return set(segment.memberships.values_list("customer__external_id", flat=True))


# --- POST / GET segments --------------------------------------------------------------------


def test_create_static_segment_with_a_normalised_list_email(client, api_base, workspace):
    response = client.post(
        f"{api_base}/segments",
        {"name": "Team", "kind": "static", "list_email": " Team@Company.com "},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    segment = Segment.objects.get(workspace=workspace)
    assert body == {
        "id": segment.public_id,
        "name": "Team",
        "kind": "static",
        "list_email": "team@company.com",
        "conditions": None,
        "member_count": 0,
        "created_at": body["created_at"],
    }
    assert body["id"].startswith("seg_")


def test_create_dynamic_segment_counts_matching_customers(client, api_base, ada, grace):
    response = client.post(
        f"{api_base}/segments",
        {"name": "VIPs", "kind": "dynamic", "conditions": VIP},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["conditions"] == VIP
    assert response.json()["member_count"] == 1


def test_duplicate_list_email_is_409(client, api_base, workspace):
    Segment.objects.create(workspace=workspace, name="Team", list_email="team@company.com")

    response = client.post(
        f"{api_base}/segments",
        {"name": "Team 2", "kind": "static", "list_email": "TEAM@company.com"},
        format="json",
    )

    assert response.status_code == 409
    assert "list_email" in response.json()["error"]
    assert Segment.objects.count() == 1


def test_same_list_email_in_another_workspace_is_allowed(client, api_base, other_workspace):
    Segment.objects.create(workspace=other_workspace, name="Team", list_email="team@company.com")

    response = client.post(
        f"{api_base}/segments",
        {"name": "Team", "kind": "static", "list_email": "team@company.com"},
        format="json",
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "kind": "static", "conditions": VIP}, "conditions"),
        ({"name": "X", "kind": "dynamic"}, "conditions"),
        (
            {"name": "X", "kind": "dynamic", "conditions": VIP, "list_email": "l@x.com"},
            "list_email",
        ),
        ({"name": "X", "kind": "sometimes"}, "kind"),
        ({"kind": "static"}, "name"),
        ({"name": "X", "kind": "static", "list_email": "not an email"}, "list_email"),
    ],
)
def test_invalid_segment_is_400_naming_the_field(client, api_base, workspace, body, field):
    response = client.post(f"{api_base}/segments", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"].startswith(field)
    assert not Segment.objects.exists()


def test_dynamic_segment_with_invalid_conditions_is_400_listing_problems(
    client, api_base, workspace
):
    conditions = {"all": [VIP, {"field": "customer.age", "op": "bigger", "value": 3}]}

    response = client.post(
        f"{api_base}/segments",
        {"name": "Broken", "kind": "dynamic", "conditions": conditions},
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["problems"] == [
        {
            "step": None,
            "field": "conditions.all[1].op",
            "message": "conditions.all[1].op: unknown operator 'bigger'; expected one of "
            "eq, ne, gt, gte, lt, lte, contains, not_contains, starts_with, in, not_in, "
            "exists, not_exists",
        }
    ]
    assert not Segment.objects.exists()


def test_list_segments_shows_only_this_workspaces(client, api_base, workspace, other_workspace):
    mine = Segment.objects.create(workspace=workspace, name="Mine")
    Segment.objects.create(workspace=other_workspace, name="Theirs")

    response = client.get(f"{api_base}/segments")

    assert response.status_code == 200
    assert [s["id"] for s in response.json()["data"]] == [mine.public_id]


def test_get_static_segment_counts_its_members(client, api_base, static_segment, ada, grace):
    SegmentMembership.objects.create(segment=static_segment, customer=ada)

    response = client.get(f"{api_base}/segments/{static_segment.public_id}")

    assert response.status_code == 200
    assert response.json()["member_count"] == 1
    assert response.json()["kind"] == "static"


def test_get_dynamic_segment_counts_matching_customers(client, api_base, dynamic_segment, ada):
    Customer.objects.create(workspace=ada.workspace, external_id="vip2", attributes={"plan": "vip"})
    Customer.objects.create(workspace=ada.workspace, external_id="free", attributes={"plan": "x"})

    response = client.get(f"{api_base}/segments/{dynamic_segment.public_id}")

    assert response.json()["member_count"] == 2


@pytest.mark.parametrize("suffix", ["", "/members"])
def test_unknown_or_foreign_segment_is_404(client, api_base, other_workspace, ada, suffix):
    foreign = Segment.objects.create(workspace=other_workspace, name="Theirs")

    for segment_id in ("seg_nope", foreign.public_id, str(foreign.pk)):
        method = client.post if suffix else client.get
        response = method(
            f"{api_base}/segments/{segment_id}{suffix}",
            {"external_ids": ["user_ada"]},
            format="json",
        )

        assert response.status_code == 404
        assert response.json() == {"error": "segment not found"}
    assert not SegmentMembership.objects.exists()


# --- members --------------------------------------------------------------------------------


def test_add_members_reports_added_already_members_and_not_found(
    client, api_base, static_segment, ada, grace
):
    SegmentMembership.objects.create(segment=static_segment, customer=ada)

    response = client.post(
        f"{api_base}/segments/{static_segment.public_id}/members",
        {
            "external_ids": ["user_ada", "user_missing", "user_ada"],
            "emails": [" GRACE@example.com", "nobody@example.com"],
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"added": 1, "already_members": 1, "not_found": 2}
    assert _members(static_segment) == {"user_ada", "user_grace"}


def test_add_members_counts_a_customer_named_twice_once(client, api_base, static_segment, ada):
    response = client.post(
        f"{api_base}/segments/{static_segment.public_id}/members",
        {"external_ids": ["user_ada"], "emails": ["ada@example.com"]},
        format="json",
    )

    assert response.json() == {"added": 1, "already_members": 0, "not_found": 0}


def test_add_members_ignores_other_workspaces_customers(
    client, api_base, static_segment, other_workspace
):
    Customer.objects.create(workspace=other_workspace, external_id="user_x", email="x@example.com")

    response = client.post(
        f"{api_base}/segments/{static_segment.public_id}/members",
        {"external_ids": ["user_x"], "emails": ["x@example.com"]},
        format="json",
    )

    assert response.json() == {"added": 0, "already_members": 0, "not_found": 2}
    assert not SegmentMembership.objects.exists()


def test_add_members_is_set_based(client, api_base, static_segment, workspace):
    customers_create(workspace, 300)
    url = f"{api_base}/segments/{static_segment.public_id}/members"
    body = {
        "external_ids": [f"user_{i}" for i in range(150)],
        "emails": [f"user{i}@example.com" for i in range(100, 300)],
    }
    client.get(url.removesuffix("/members"))  # the key's last-used write happens here

    with CaptureQueriesContext(connection) as few_queries:
        response = client.post(url, body, format="json")

    assert response.json() == {"added": 300, "already_members": 0, "not_found": 0}
    membership_inserts = [
        q for q in few_queries.captured_queries if "INSERT" in q["sql"] and "membership" in q["sql"]
    ]
    assert len(membership_inserts) == 1
    # The same request naming 10x fewer customers costs the same number of queries.
    other = Segment.objects.create(workspace=workspace, name="Small")
    with CaptureQueriesContext(connection) as small_queries:
        client.post(
            f"{api_base}/segments/{other.public_id}/members",
            {"external_ids": [f"user_{i}" for i in range(15)], "emails": ["user200@example.com"]},
            format="json",
        )
    assert len(few_queries) == len(small_queries)


def test_remove_members_reports_removed_not_members_and_not_found(
    client, api_base, static_segment, ada, grace
):
    SegmentMembership.objects.create(segment=static_segment, customer=ada)

    response = client.delete(
        f"{api_base}/segments/{static_segment.public_id}/members",
        {"external_ids": ["user_ada", "user_grace", "user_missing"], "emails": ["no@x.com"]},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"removed": 1, "not_members": 1, "not_found": 2}
    assert _members(static_segment) == set()
    assert Customer.objects.filter(pk__in=[ada.pk, grace.pk]).count() == 2


@pytest.mark.parametrize("field", ["external_ids", "emails"])
@pytest.mark.parametrize("method", ["post", "delete"])
def test_more_than_the_limit_is_400_naming_the_field_and_limit(
    client, api_base, static_segment, ada, field, method
):
    SegmentMembership.objects.create(segment=static_segment, customer=ada)
    values = [f"user_{i}@example.com" for i in range(MAX_MEMBERS_PER_REQUEST + 1)]

    response = getattr(client, method)(
        f"{api_base}/segments/{static_segment.public_id}/members",
        {field: ["user_ada", "ada@example.com", *values]},
        format="json",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(field)
    assert str(MAX_MEMBERS_PER_REQUEST) in error
    assert _members(static_segment) == {"user_ada"}


def test_exactly_the_limit_is_accepted(client, api_base, static_segment, ada):
    values = ["user_ada", *[f"user_{i}" for i in range(MAX_MEMBERS_PER_REQUEST - 1)]]

    response = client.post(
        f"{api_base}/segments/{static_segment.public_id}/members",
        {"external_ids": values},
        format="json",
    )

    assert response.json() == {
        "added": 1,
        "already_members": 0,
        "not_found": MAX_MEMBERS_PER_REQUEST - 1,
    }


def test_members_without_identifiers_is_400(client, api_base, static_segment):
    response = client.post(
        f"{api_base}/segments/{static_segment.public_id}/members",
        {"external_ids": [], "emails": []},
        format="json",
    )

    assert response.status_code == 400
    assert "external_ids" in response.json()["error"]
    assert not SegmentMembership.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_changing_members_of_a_dynamic_segment_is_409(
    client, api_base, dynamic_segment, ada, method
):
    response = getattr(client, method)(
        f"{api_base}/segments/{dynamic_segment.public_id}/members",
        {"external_ids": ["user_ada"]},
        format="json",
    )

    assert response.status_code == 409
    assert response.json() == {"error": "dynamic segments get their members from their conditions"}
    assert not SegmentMembership.objects.exists()


def test_missing_api_key_is_401(anonymous_client, api_base, static_segment, ada):
    response = anonymous_client.post(
        f"{api_base}/segments/{static_segment.public_id}/members",
        {"external_ids": ["user_ada"]},
        format="json",
    )

    assert response.status_code == 401
    assert not SegmentMembership.objects.exists()


def test_schema_documents_the_segment_endpoints(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]

    members = paths["/api/v1/workspaces/{workspace_id}/segments/{segment_id}/members"]
    assert set(members) >= {"post", "delete"}
    assert "409" in members["post"]["responses"]


@pytest.mark.parametrize("field", ["plan", "api.payload.plan", "data.plan"])
def test_dynamic_segment_reading_anything_but_customer_fields_is_400(client, api_base, field):
    response = client.post(
        f"{api_base}/segments",
        {"name": "Bad", "kind": "dynamic", "conditions": {"field": field, "op": "eq", "value": 1}},
        format="json",
    )

    assert response.status_code == 400
    message = (
        f"conditions.field: {field!r} is not a customer field; a segment's conditions can "
        "only read customer.*"
    )
    assert response.json()["problems"] == [
        {"step": None, "field": "conditions.field", "message": message}
    ]
    assert not Segment.objects.exists()
