"""API keys: missing, malformed, unknown and revoked keys answer 401 in JSON."""

import pytest
from django.utils import timezone

from customers.models import ApiKey, hash_api_key
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(api_base, workspace):
    return f"{api_base}/journeys/{journey_create(workspace).public_id}/trigger"


def test_missing_key_is_401_json(anonymous_client, url):
    response = anonymous_client.post(url, {"external_id": "x"}, format="json")

    assert response.status_code == 401
    assert response.json() == {"error": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer sk_wrong", "Basic abc", "Bearer", "Bearer a b"])
def test_bad_keys_are_401(anonymous_client, url, header):
    response = anonymous_client.post(url, {}, format="json", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert "error" in response.json()


def test_revoked_key_is_401(client, url, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())

    response = client.post(url, {"external_id": "x"}, format="json")

    assert response.status_code == 401
    assert response.json() == {"error": "API key has been revoked"}


def test_key_is_stored_only_as_a_hash_with_a_visible_prefix(api_key, raw_api_key):
    assert raw_api_key.startswith("sk_")
    assert api_key.key_hash == hash_api_key(raw_api_key)
    assert raw_api_key not in {api_key.key_hash, api_key.prefix}
    assert raw_api_key.startswith(api_key.prefix)


def test_use_records_last_used(client, url, api_key):
    client.post(url, {"external_id": "x"}, format="json")

    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_another_workspaces_path_is_404(client, other_workspace):
    journey = journey_create(other_workspace)

    response = client.post(
        f"/api/v1/workspaces/{other_workspace.public_id}/journeys/{journey.public_id}/trigger",
        {"external_id": "x"},
        format="json",
    )

    assert response.status_code == 404
    assert response.json() == {"error": "workspace not found"}


def test_unknown_api_urls_answer_json_404(client):
    response = client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
