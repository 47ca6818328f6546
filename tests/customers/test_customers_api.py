"""The customers API over HTTP: identify, read, patch, erase; auth and tenant isolation."""

import pytest
from django.utils import timezone

from customers.models import ApiKey, ChannelIdentity, Customer, Event, TenantProfile


def _customers(workspace) -> list[tuple]:
    return list(
        Customer.objects.filter(workspace=workspace)
        .order_by("pk")
        .values_list("external_id", "email", "attributes", "status", "timezone")
    )


# --- POST customers (identify) --------------------------------------------------------------


def test_identify_creates_a_customer_and_answers_201(client, api_base, workspace):
    response = client.post(
        f"{api_base}/customers",
        {
            "external_id": "user_1",
            "email": " Lin@Example.com ",
            "attributes": {"plan": "pro"},
            "timezone": "America/New_York",
            "channels": [{"type": "sms", "id": "+15551234"}],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    customer = Customer.objects.get(workspace=workspace)
    assert body == {
        "id": customer.public_id,
        "external_id": "user_1",
        "email": "lin@example.com",
        "anonymous_id": None,
        "attributes": {"plan": "pro"},
        "status": "active",
        "timezone": "America/New_York",
        "channels": [{"type": "sms", "id": "+15551234"}],
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert body["id"].startswith("cus_")
    assert "pk" not in body


def test_identify_updates_an_existing_customer_and_answers_200(client, api_base, ada):
    response = client.post(
        f"{api_base}/customers",
        {"external_id": "user_ada", "attributes": {"plan": "free", "age": None}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["id"] == ada.public_id
    assert response.json()["attributes"] == {"first_name": "Ada", "plan": "free"}
    assert Customer.objects.count() == 1


def test_identify_attaches_an_external_id_to_a_customer_known_by_email(client, api_base, workspace):
    known = Customer.objects.create(workspace=workspace, email="lin@example.com")

    response = client.post(
        f"{api_base}/customers",
        {"external_id": "user_lin", "email": "LIN@example.com"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["id"] == known.public_id
    assert response.json()["external_id"] == "user_lin"


def test_identify_with_an_email_of_another_external_id_is_409(client, api_base, ada):
    before = _customers(ada.workspace)

    response = client.post(
        f"{api_base}/customers",
        {"external_id": "user_other", "email": "ada@example.com", "attributes": {"x": 1}},
        format="json",
    )

    assert response.status_code == 409
    assert "different external_id" in response.json()["error"]
    assert response.json()["field"] == "email"
    assert _customers(ada.workspace) == before


def test_identify_without_an_identifier_is_400_naming_the_fields(client, api_base, workspace):
    response = client.post(f"{api_base}/customers", {"attributes": {"a": 1}}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert "external_id" in error
    assert "email" in error
    assert "anonymous_id" in error
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "u", "timezone": "Mars/Olympus"}, "timezone"),
        ({"external_id": "u", "status": "deleted"}, "status"),
        ({"email": "not-an-email"}, "email"),
        ({"external_id": "u", "attributes": ["not", "an", "object"]}, "attributes"),
        ({"external_id": "u", "channels": [{"type": "sms"}]}, "channels"),
    ],
)
def test_identify_with_an_invalid_field_is_400_naming_it(client, api_base, workspace, body, field):
    response = client.post(f"{api_base}/customers", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"].startswith(field)
    assert not Customer.objects.exists()


# --- GET / PATCH / DELETE customers/{id} -----------------------------------------------------


def test_get_customer_by_public_id(client, api_base, ada):
    response = client.get(f"{api_base}/customers/{ada.public_id}")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["external_id"], body["email"]) == (
        ada.public_id,
        "user_ada",
        "ada@example.com",
    )


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_customer_id_is_404_json(client, api_base, ada, method):
    for customer_id in ("cus_doesnotexist", str(ada.pk), "anything at all"):
        response = getattr(client, method)(
            f"{api_base}/customers/{customer_id}", {"status": "inactive"}, format="json"
        )

        assert response.status_code == 404
        assert response.json() == {"error": "customer not found"}
    assert Customer.objects.filter(pk=ada.pk, status="active").exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_workspaces_customer_is_404(client, api_base, other_workspace, method):
    stranger = Customer.objects.create(workspace=other_workspace, external_id="user_x")

    response = getattr(client, method)(
        f"{api_base}/customers/{stranger.public_id}", {"status": "inactive"}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == {"error": "customer not found"}
    stranger.refresh_from_db()
    assert stranger.status == "active"


def test_another_workspaces_url_is_404(client, other_workspace):
    response = client.post(
        f"/api/v1/workspaces/{other_workspace.public_id}/customers",
        {"external_id": "u"},
        format="json",
    )

    assert response.status_code == 404
    assert response.json() == {"error": "workspace not found"}
    assert not Customer.objects.exists()


def test_patch_updates_given_fields_only(client, api_base, ada):
    response = client.patch(
        f"{api_base}/customers/{ada.public_id}",
        {"email": "ADA@new.example", "attributes": {"age": None, "city": "London"}},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "ada@new.example"
    assert body["external_id"] == "user_ada"
    assert body["attributes"] == {"first_name": "Ada", "plan": "vip", "city": "London"}


def test_patch_taking_another_customers_email_is_409(client, api_base, ada, grace):
    before = _customers(ada.workspace)

    response = client.patch(
        f"{api_base}/customers/{ada.public_id}",
        {"email": "Grace@example.com", "status": "inactive"},
        format="json",
    )

    assert response.status_code == 409
    assert "email" in response.json()["error"]
    assert _customers(ada.workspace) == before


def test_patch_with_an_invalid_timezone_is_400(client, api_base, ada):
    before = _customers(ada.workspace)

    response = client.patch(
        f"{api_base}/customers/{ada.public_id}", {"timezone": "Not/AZone"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("timezone")
    assert _customers(ada.workspace) == before


def test_delete_erases_the_customer_and_their_data(client, api_base, ada, grace):
    ChannelIdentity.objects.create(
        workspace=ada.workspace, customer=ada, channel_type="sms", channel_id="+1555"
    )
    TenantProfile.objects.create(workspace=ada.workspace, customer=ada, tenant_id="t")
    Event.objects.create(workspace=ada.workspace, customer=ada, name="Viewed")

    response = client.delete(f"{api_base}/customers/{ada.public_id}")

    assert response.status_code == 204
    assert not Customer.objects.filter(pk=ada.pk).exists()
    assert not ChannelIdentity.objects.exists()
    assert not TenantProfile.objects.exists()
    assert not Event.objects.exists()
    assert Customer.objects.filter(pk=grace.pk).exists()
    assert client.get(f"{api_base}/customers/{ada.public_id}").status_code == 404


# --- authentication --------------------------------------------------------------------------


def test_missing_api_key_is_401(anonymous_client, api_base, workspace):
    response = anonymous_client.post(f"{api_base}/customers", {"external_id": "u"}, format="json")

    assert response.status_code == 401
    assert "error" in response.json()
    assert not Customer.objects.exists()


def test_revoked_api_key_is_401(client, api_base, api_key, ada):
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())

    response = client.patch(
        f"{api_base}/customers/{ada.public_id}", {"status": "inactive"}, format="json"
    )

    assert response.status_code == 401
    assert response.json() == {"error": "API key has been revoked"}
    ada.refresh_from_db()
    assert ada.status == "active"


def test_schema_documents_the_customer_endpoints(client):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    identify = paths["/api/v1/workspaces/{workspace_id}/customers"]["post"]
    assert set(identify["responses"]) >= {"200", "201", "400", "409"}
    detail = paths["/api/v1/workspaces/{workspace_id}/customers/{customer_id}"]
    assert set(detail) >= {"get", "patch", "delete"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"external_id": 12}, "external_id: must be a string (got number)"),
        (
            {"external_id": "x", "anonymous_id": True},
            "anonymous_id: must be a string (got boolean)",
        ),
        ({"email": 5}, "email: must be a string (got number)"),
        ({"external_id": "x", "timezone": 1}, "timezone: must be a string (got number)"),
        (
            {"external_id": "x", "channels": [{"type": "sms", "id": 15551234567}]},
            "channels[0].id: must be a string (got number)",
        ),
    ],
)
def test_a_number_where_a_string_belongs_is_400_naming_the_field(client, api_base, body, message):
    response = client.post(f"{api_base}/customers", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert not Customer.objects.exists()


def test_a_number_where_a_string_belongs_is_400_on_update_too(client, api_base, ada):
    response = client.patch(
        f"{api_base}/customers/{ada.public_id}", {"external_id": 7}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "external_id: must be a string (got number)"
    ada.refresh_from_db()
    assert ada.external_id == "user_ada"


def test_more_channels_than_the_schema_allows_is_400(client, api_base):
    channels = [{"type": "sms", "id": f"+1555000{i:04d}"} for i in range(21)]

    response = client.post(
        f"{api_base}/customers", {"external_id": "x", "channels": channels}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("channels: ")
