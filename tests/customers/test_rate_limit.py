"""Per-key rate limits on Redis, with usage headers on every response."""

import pytest

from customers.models import ApiKey
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(api_base, workspace):
    return f"{api_base}/journeys/{journey_create(workspace).public_id}/trigger"


def test_every_response_carries_usage_headers(client, url, ada):
    response = client.post(url, {"external_id": "user_ada"}, format="json")

    assert response["X-RateLimit-Limit"] == "100"
    assert response["X-RateLimit-Remaining"] == "99"
    assert 0 < int(response["X-RateLimit-Reset"]) <= 60
    assert response["RateLimit-Policy"] == '"trigger";q=100;w=60'
    assert response["RateLimit"] == f'"trigger";r=99;t={response["X-RateLimit-Reset"]}'


def test_error_responses_carry_usage_too(client, url):
    response = client.post(url, {"external_id": "nobody"}, format="json")

    assert response.status_code == 404
    assert response["X-RateLimit-Remaining"] == "99"


def test_the_request_past_the_limit_is_429_with_retry_after(client, url, api_key, ada):
    ApiKey.objects.filter(pk=api_key.pk).update(trigger_rate_limit_per_minute=3)

    codes = [
        client.post(url, {"external_id": "user_ada"}, format="json").status_code for _ in range(3)
    ]
    limited = client.post(url, {"external_id": "user_ada"}, format="json")

    assert codes == [202, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"].startswith("rate limit exceeded")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["X-RateLimit-Remaining"] == "0"
    assert limited["X-RateLimit-Limit"] == "3"


def test_each_key_has_its_own_budget(client, url, workspace, ada):
    other_key, other_raw = ApiKey.objects.create_key(workspace=workspace, name="second")
    ApiKey.objects.filter(pk=other_key.pk).update(trigger_rate_limit_per_minute=1)
    client.post(url, {"external_id": "user_ada"}, format="json")

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other_raw}")
    first = client.post(url, {"external_id": "user_ada"}, format="json")
    second = client.post(url, {"external_id": "user_ada"}, format="json")

    assert first.status_code == 200
    assert first["X-RateLimit-Remaining"] == "0"
    assert second.status_code == 429


def test_counters_live_in_redis(client, url, ada):
    from django.core.cache import cache

    client.post(url, {"external_id": "user_ada"}, format="json")

    raw = cache._cache.get_client()
    assert any(b"rl:" in key for key in raw.keys("*"))


def test_triggers_have_a_budget_apart_from_the_rest_of_the_api(client, url, api_base, api_key, ada):
    ApiKey.objects.filter(pk=api_key.pk).update(
        rate_limit_per_minute=2, trigger_rate_limit_per_minute=1
    )

    trigger = client.post(url, {"external_id": "user_ada"}, format="json")
    limited_trigger = client.post(url, {"external_id": "user_ada"}, format="json")
    reads = [client.get(f"{api_base}/journeys") for _ in range(3)]
    still_limited = client.post(url, {"external_id": "user_ada"}, format="json")

    assert (trigger.status_code, limited_trigger.status_code) == (202, 429)
    assert [read.status_code for read in reads] == [200, 200, 429]
    assert reads[0]["RateLimit-Policy"] == '"default";q=2;w=60'
    assert reads[0]["X-RateLimit-Remaining"] == "1"
    assert still_limited["RateLimit-Policy"] == '"trigger";q=1;w=60'
    assert still_limited.status_code == 429


def test_a_dry_run_spends_the_trigger_budget_too(client, url, api_key, ada):
    ApiKey.objects.filter(pk=api_key.pk).update(trigger_rate_limit_per_minute=1)

    dry = client.post(f"{url}?dry_run=true", {"external_id": "user_ada"}, format="json")
    real = client.post(url, {"external_id": "user_ada"}, format="json")

    assert (dry.status_code, real.status_code) == (200, 429)
