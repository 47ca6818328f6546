"""Webhook endpoints API: create (secret shown once), list, delete, tenancy, auth; admin."""

import base64

import pytest
from django.urls import Resolver404, include, path, resolve

from config import urls as project_urls
from delivery.models import WebhookDelivery, WebhookEndpoint
from delivery.state_webhooks.endpoints import (
    EVENT_TYPES,
    webhook_endpoint_create,
    webhook_secret_hint,
)
from delivery.state_webhooks.outbox import webhook_events_record


def _project_mounts_webhooks() -> bool:
    try:
        resolve("/api/v1/workspaces/ws_x/webhooks", urlconf=project_urls)
    except Resolver404:
        return False
    return True


# The project's URLs, plus delivery.urls where config/urls.py does not mount them yet, so
# these tests exercise the real routes either way.
urlpatterns = list(project_urls.urlpatterns)
if not _project_mounts_webhooks():
    urlpatterns.append(path("api/v1/workspaces/<id:workspace_id>/", include("delivery.urls")))
handler404 = project_urls.handler404
handler500 = project_urls.handler500

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def test_create_returns_the_secret_once(client, api_base, workspace):
    response = client.post(
        f"{api_base}/webhooks",
        {"url": "https://hooks.example.com/in", "event_types": ["run.completed", "run.failed"]},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("whe_")
    assert body["url"] == "https://hooks.example.com/in"
    assert body["event_types"] == ["run.completed", "run.failed"]
    assert (body["enabled"], body["disabled_reason"]) == (True, "")
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"), validate=True)) == 24
    endpoint = WebhookEndpoint.objects.get(public_id=body["id"])
    assert (endpoint.workspace, endpoint.secret) == (workspace, body["secret"])


def test_create_without_event_types_subscribes_to_all(client, api_base, workspace):
    response = client.post(
        f"{api_base}/webhooks", {"url": "http://hooks.example.com/in"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["event_types"] == []
    for event_type in EVENT_TYPES:
        assert webhook_events_record(workspace=workspace, event_type=event_type, payload={}) == 1


def test_two_endpoints_get_different_secrets(client, api_base):
    secrets = {
        client.post(f"{api_base}/webhooks", {"url": "https://a.example/"}, format="json").json()[
            "secret"
        ]
        for _ in range(2)
    }
    assert len(secrets) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "ftp://example.com/x"}, "url: must be an absolute http:// or https:// URL"),
        ({"url": "not a url"}, "url: must be an absolute http:// or https:// URL"),
        ({"url": "/relative"}, "url: must be an absolute http:// or https:// URL"),
        ({}, "url: This field is required."),
        (
            {"url": "https://example.com", "event_types": ["run.completed", "run.exploded"]},
            "event_types: unknown event type 'run.exploded'",
        ),
        ({"url": "https://example.com", "event_types": "run.completed"}, "event_types: "),
    ],
)
def test_invalid_requests_are_400(client, api_base, body, message):
    response = client.post(f"{api_base}/webhooks", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert not WebhookEndpoint.objects.exists()


def test_unknown_event_type_lists_the_allowed_ones(client, api_base):
    response = client.post(
        f"{api_base}/webhooks",
        {"url": "https://example.com", "event_types": ["nope"]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["allowed"] == list(EVENT_TYPES)


def test_list_shows_the_workspace_endpoints_without_secrets(
    client, api_base, workspace, other_workspace
):
    first, _ = webhook_endpoint_create(workspace=workspace, url="https://a.example/")
    second, _ = webhook_endpoint_create(
        workspace=workspace, url="https://b.example/", event_types=["journey.published"]
    )
    webhook_endpoint_create(workspace=other_workspace, url="https://theirs.example/")

    response = client.get(f"{api_base}/webhooks")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["id"] for item in results] == [first.public_id, second.public_id]
    assert results[1]["event_types"] == ["journey.published"]
    assert all("secret" not in item for item in results)
    assert first.secret not in response.content.decode()


def test_delete_removes_the_endpoint_and_its_deliveries(client, api_base, workspace):
    endpoint, _ = webhook_endpoint_create(workspace=workspace, url="https://a.example/")
    webhook_events_record(workspace=workspace, event_type="run.entered", payload={})

    response = client.delete(f"{api_base}/webhooks/{endpoint.public_id}")

    assert response.status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert client.get(f"{api_base}/webhooks").json() == {"results": []}


@pytest.mark.parametrize("endpoint_id", ["theirs", "whe_doesnotexist", "42"])
def test_delete_of_another_workspace_or_unknown_id_is_404(
    client, api_base, other_workspace, endpoint_id
):
    theirs, _ = webhook_endpoint_create(workspace=other_workspace, url="https://theirs.example/")
    if endpoint_id == "theirs":
        endpoint_id = theirs.public_id

    response = client.delete(f"{api_base}/webhooks/{endpoint_id}")

    assert response.status_code == 404
    assert response.json() == {"error": "webhook endpoint not found"}
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_another_workspace_path_is_404(client, other_workspace):
    base = f"/api/v1/workspaces/{other_workspace.public_id}/webhooks"

    assert client.get(base).status_code == 404
    assert client.post(base, {"url": "https://a.example/"}, format="json").status_code == 404
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("post", ""), ("delete", "/whe_anything")]
)
def test_missing_key_is_401(anonymous_client, api_base, method, suffix):
    response = getattr(anonymous_client, method)(f"{api_base}/webhooks{suffix}", format="json")

    assert response.status_code == 401
    assert "error" in response.json()


def test_schema_documents_the_webhook_operations(anonymous_client):
    schema = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    paths = schema["paths"]
    collection = paths["/api/v1/workspaces/{workspace_id}/webhooks"]
    detail = paths["/api/v1/workspaces/{workspace_id}/webhooks/{endpoint_id}"]
    assert {"201", "400", "401"} <= set(collection["post"]["responses"])
    assert {"200", "401"} <= set(collection["get"]["responses"])
    assert {"204", "401", "404"} <= set(detail["delete"]["responses"])
    created = schema["components"]["schemas"]["WebhookEndpointCreated"]
    assert "secret" in created["properties"]
    listed = schema["components"]["schemas"]["WebhookEndpointOutput"]
    assert "secret" not in listed["properties"]


# --- the admin's side of the same endpoints -------------------------------------------


def test_admin_creates_an_endpoint_and_shows_its_secret_once(admin_client, workspace):
    response = admin_client.post(
        "/admin/delivery/webhookendpoint/add/",
        {
            "workspace": workspace.pk,
            "url": "https://hooks.example.com/admin",
            "event_types": ["run.failed", "run.entered"],
            "enabled": "on",
            "disabled_reason": "",
        },
        follow=True,
    )

    assert response.status_code == 200, response.content.decode()[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.event_types == ["run.entered", "run.failed"]  # canonical order
    assert response.content.decode().count(endpoint.secret) == 1
    page = admin_client.get(f"/admin/delivery/webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == 200
    assert endpoint.secret not in page.content.decode()
    assert webhook_secret_hint(endpoint.secret) in page.content.decode()


def test_a_view_only_staff_user_never_sees_a_secret(staff_client, workspace, other_workspace):
    ours, secret = webhook_endpoint_create(workspace=workspace, url="https://a.example/")
    theirs, their_secret = webhook_endpoint_create(
        workspace=other_workspace, url="https://b.example/"
    )
    browser = staff_client("view_webhookendpoint")

    listing = browser.get("/admin/delivery/webhookendpoint/")
    pages = [browser.get(f"/admin/delivery/webhookendpoint/{e.pk}/change/") for e in (ours, theirs)]

    assert listing.status_code == 200
    # Another workspace's endpoint is not found for a member of this one.
    assert [page.status_code for page in pages] == [200, 404]
    for page in [listing, *pages]:
        html = page.content.decode()
        assert secret not in html
        assert their_secret not in html
        assert secret.removeprefix("whsec_")[:12] not in html
    assert webhook_secret_hint(secret) in pages[0].content.decode()


def test_a_view_only_staff_user_cannot_disable_endpoints(staff_client, workspace):
    endpoint, _ = webhook_endpoint_create(workspace=workspace, url="https://a.example/")
    browser = staff_client("view_webhookendpoint")

    listing = browser.get("/admin/delivery/webhookendpoint/").content.decode()
    browser.post(
        "/admin/delivery/webhookendpoint/",
        {"action": "disable", "_selected_action": [endpoint.pk]},
    )

    assert 'value="disable"' not in listing
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_the_secret_hint_shows_only_a_prefix():
    secret = "whsec_" + base64.b64encode(b"x" * 24).decode()

    assert webhook_secret_hint(secret) == secret[:10] + "\u2026"


def test_admin_rejects_a_non_http_url(admin_client, workspace):
    response = admin_client.post(
        "/admin/delivery/webhookendpoint/add/",
        {"workspace": workspace.pk, "url": "file:///etc/passwd", "enabled": "on"},
    )

    assert response.status_code == 200
    assert "must be an absolute http" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_admin_shows_deliveries_read_only(admin_client, workspace):
    webhook_endpoint_create(workspace=workspace, url="https://a.example/")
    webhook_events_record(workspace=workspace, event_type="run.completed", payload={"x": 1})
    delivery = WebhookDelivery.objects.get()

    listing = admin_client.get("/admin/delivery/webhookdelivery/")
    detail = admin_client.get(f"/admin/delivery/webhookdelivery/{delivery.pk}/change/")

    assert listing.status_code == detail.status_code == 200
    assert "run.completed" in listing.content.decode()
    assert admin_client.get("/admin/delivery/webhookdelivery/add/").status_code == 403
    assert 'name="_save"' not in detail.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in?x=1#f",
        "http://127.0.0.1:8000/hook",
        "http://user:secret@hooks.example.com/",
        "HTTPS://HOOKS.EXAMPLE.COM",
        "  https://a.example/  ",
    ],
)
def test_urls_that_match_the_documented_pattern_are_accepted(client, api_base, url):
    response = client.post(f"{api_base}/webhooks", {"url": url}, format="json")

    assert response.status_code == 201
    assert response.json()["url"] == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        "http://a.example:65536/",
        "http://[::1]/",
        "http://exa mple.com/",
        "http://a.example/\u0001",
        "http://-a.example/",
        "https://",
    ],
)
def test_urls_that_do_not_match_the_documented_pattern_are_400(client, api_base, url):
    response = client.post(f"{api_base}/webhooks", {"url": url}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "url: must be an absolute http:// or https:// URL"
    assert not WebhookEndpoint.objects.exists()


def test_a_url_given_as_a_number_is_400(client, api_base):
    response = client.post(f"{api_base}/webhooks", {"url": 80}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "url: must be a string (got number)"


def test_a_full_workspace_is_a_409_not_a_bad_request(client, api_base, workspace):
    from delivery.state_webhooks.endpoints import MAX_ENDPOINTS_PER_WORKSPACE

    for index in range(MAX_ENDPOINTS_PER_WORKSPACE):
        webhook_endpoint_create(workspace=workspace, url=f"https://a.example/{index}")

    response = client.post(f"{api_base}/webhooks", {"url": "https://b.example/"}, format="json")

    assert response.status_code == 409
    assert "at most 50 webhook endpoints" in response.json()["error"]
    assert WebhookEndpoint.objects.count() == MAX_ENDPOINTS_PER_WORKSPACE
