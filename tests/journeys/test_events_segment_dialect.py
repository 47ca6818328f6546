"""The Segment dialect, /compat/segment/v1/...: Segment's official Python client, with
its host pointed at a live server, feeds the event stream unchanged (it batches and
gzips); the write key is the API key, as Basic auth, in the body, or as a Bearer key."""

import base64
import gzip
import json
from collections.abc import Iterator

import pytest
import requests
from django.db import connection
from django.utils import timezone
from segment.analytics import Client
from segment.analytics.request import _session

from customers.models import ApiKey, Customer, Event, TenantProfile
from journeys.entry.events.matching import events_match
from journeys.models import Enrollment
from tests.factories import journey_create


@pytest.fixture
def segment_url(live_server) -> Iterator[str]:
    """The host a Segment client is given: the server's /compat/segment.

    Afterwards the client's keep-alive connections are closed, and so are the idle
    database sessions the server's request threads leave (a thread whose client keeps
    its connection keeps its session): the test database cannot be dropped while one
    is open."""
    yield f"{live_server.url}/compat/segment"
    _session.close()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state = 'idle'"
            )


@pytest.fixture
def sent(monkeypatch):
    """The requests Segment's client sends, recorded from its HTTP session."""
    requests_sent: list[requests.PreparedRequest] = []
    hooks = {**_session.hooks, "response": [lambda r, *a, **k: requests_sent.append(r.request)]}
    monkeypatch.setattr(_session, "hooks", hooks)
    return requests_sent


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def segment_error(message: str, code: str, **details) -> dict:
    """The product's error with Segment's ``code`` and ``message`` beside it."""
    return {"error": message, **details, "code": code, "message": message}


@pytest.mark.django_db(transaction=True)
def test_the_official_client_batches_gzips_and_is_stored(segment_url, raw_api_key, workspace, sent):
    errors = []
    client = Client(
        raw_api_key,
        host=segment_url,
        gzip=True,
        upload_size=100,
        upload_interval=0.2,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    client.identify("u1", {"email": "U1@Example.com", "plan": "pro"}, anonymous_id="a1")
    for number in range(150):
        client.track("u1", "Order Completed", {"n": number}, message_id=f"order-{number}")
    client.page("u1", "Docs", "Pricing", {"path": "/pricing"})
    client.screen(anonymous_id="a1", name="Home")
    client.group("u1", "acme", {"name": "Acme"})
    client.alias("a2", "u1")
    client.flush()
    client.join()

    assert errors == []
    assert len(sent) >= 2  # 155 messages, at most 100 a batch
    assert {r.url for r in sent} == {f"{segment_url}/v1/batch"}
    assert {r.headers["Content-Encoding"] for r in sent} == {"gzip"}
    assert all(r.headers["Authorization"] == basic(raw_api_key) for r in sent)
    customer = Customer.objects.get(workspace=workspace)
    assert (customer.external_id, customer.email, customer.attributes) == (
        "u1",
        "u1@example.com",
        {"plan": "pro"},
    )
    assert customer.anonymous_id == "a2"
    names = list(Event.objects.filter(customer=customer).values_list("name", flat=True))
    assert names.count("Order Completed") == 150
    assert {"Page Viewed", "Screen Viewed"} <= set(names)
    page = Event.objects.get(name="Page Viewed")
    assert page.properties == {"path": "/pricing", "name": "Pricing", "category": "Docs"}
    assert TenantProfile.objects.get(customer=customer).profile == {"name": "Acme"}


@pytest.mark.django_db(transaction=True)
def test_a_retry_of_the_same_batch_is_stored_once(segment_url, raw_api_key):
    client = Client(raw_api_key, host=segment_url, sync_mode=True)

    client.track("u1", "Signed Up", message_id="signup-1")
    client.track("u1", "Signed Up", message_id="signup-1")

    assert Event.objects.filter(message_id="signup-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_tracked_event_enrolls_into_its_journey(segment_url, raw_api_key, workspace):
    journey = journey_create(
        workspace,
        trigger={
            "type": "event",
            "event": "Trial Started",
            "conditions": {"field": "event.properties.plan", "op": "eq", "value": "pro"},
        },
        steps=[
            {"key": "mail", "type": "send", "channel": "email", "subject": "Welcome",
             "body": "{{ event.properties.plan }}", "next": None},
        ],
    )  # fmt: skip
    client = Client(raw_api_key, host=segment_url, sync_mode=True)

    client.track("pro-user", "Trial Started", {"plan": "pro"})
    client.track("free-user", "Trial Started", {"plan": "free"})
    events_match()

    (run,) = Enrollment.objects.filter(journey=journey)
    assert run.customer.external_id == "pro-user"
    assert run.context["event"]["properties"] == {"plan": "pro"}


@pytest.mark.django_db(transaction=True)
def test_a_wrong_write_key_is_a_401_the_client_reports(segment_url):
    errors = []
    client = Client("sk_wrong", host=segment_url, sync_mode=True, on_error=None)

    try:
        client.track("u1", "x")
    except Exception as error:  # sync mode raises the client's APIError
        errors.append(error)

    (error,) = errors
    assert (error.status, error.code, error.message) == (401, "unauthorized", "invalid API key")
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["track", "identify", "group", "page", "screen", "alias"])
def test_each_call_answers_segments_success(segment_url, raw_api_key, path):
    body = {
        "userId": "u1",
        "event": "x",
        "groupId": "g1",
        "previousId": "a1",
        "traits": {"plan": "pro"},
    }

    response = requests.post(
        f"{segment_url}/v1/{path}",
        json=body,
        headers={"Authorization": basic(raw_api_key)},
        timeout=10,
    )

    assert (response.status_code, response.json()) == (200, {"success": True})


@pytest.mark.django_db(transaction=True)
def test_the_write_key_may_be_in_the_body(segment_url, raw_api_key):
    body = {"writeKey": raw_api_key, "batch": [{"type": "track", "userId": "u1", "event": "x"}]}

    response = requests.post(f"{segment_url}/v1/batch", json=body, timeout=10)

    assert (response.status_code, response.json()) == (200, {"success": True})
    assert Event.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_bearer_key_works_and_import_is_batch(segment_url, raw_api_key):
    body = {"batch": [{"type": "track", "userId": "u1", "event": "x"}]}

    response = requests.post(
        f"{segment_url}/v1/import",
        data=gzip.compress(json.dumps(body).encode()),
        headers={
            "Authorization": f"Bearer {raw_api_key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=10,
    )

    assert response.json() == {"success": True}


@pytest.mark.django_db(transaction=True)
def test_without_any_key_it_is_a_401_asking_for_basic_auth(segment_url):
    response = requests.post(f"{segment_url}/v1/track", json={"userId": "u1", "event": "x"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="segment"'
    assert response.json()["code"] == "unauthorized"


@pytest.mark.django_db(transaction=True)
def test_errors_carry_segments_code_and_message(segment_url, raw_api_key):
    body = {"batch": [{"type": "track", "userId": "u1"}]}

    response = requests.post(
        f"{segment_url}/v1/batch", json=body, headers={"Authorization": basic(raw_api_key)}
    )

    assert response.status_code == 400
    answer = response.json()
    message = "batch[0].event: required for a track call (the event's name)"
    assert (answer["error"], answer["code"], answer["message"]) == (
        message,
        "invalid_request",
        message,
    )
    assert answer["problems"][0]["field"] == "batch[0].event"


@pytest.mark.django_db(transaction=True)
def test_an_unknown_path_answers_in_segments_shape(segment_url):
    response = requests.post(f"{segment_url}/v2/track", json={})

    assert response.status_code == 404
    message = "no such endpoint: /compat/segment/v2/track"
    assert response.json() == {"error": message, "code": "not_found", "message": message}


@pytest.mark.django_db(transaction=True)
def test_malformed_basic_credentials_are_a_401(segment_url):
    response = requests.post(
        f"{segment_url}/v1/track",
        json={"userId": "u1", "event": "x"},
        headers={"Authorization": "Basic !!!"},
    )

    assert response.status_code == 401
    assert "malformed Basic credentials" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_a_call_over_32_kb_is_a_413_naming_the_limit(segment_url, raw_api_key):
    body = {"userId": "u1", "event": "x", "properties": {"blob": "x" * 32768}}

    response = requests.post(
        f"{segment_url}/v1/track",
        json=body,
        headers={"Authorization": basic(raw_api_key)},
        timeout=10,
    )

    assert response.status_code == 413
    assert response.json() == segment_error(
        "request body too large: the limit is 32,768 bytes",
        "payload_too_large",
        limit_bytes=32768,
    )
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_body_not_sent_as_json_is_a_415(segment_url, raw_api_key):
    response = requests.post(
        f"{segment_url}/v1/track",
        data=json.dumps({"userId": "u1", "event": "x"}),
        headers={"Authorization": basic(raw_api_key), "Content-Type": "text/plain"},
        timeout=10,
    )

    assert response.status_code == 415
    assert response.json() == segment_error(
        'Unsupported media type "text/plain" in request.', "unsupported_media_type"
    )
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_revoked_write_key_is_a_401(segment_url, raw_api_key, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())

    response = requests.post(
        f"{segment_url}/v1/track",
        json={"userId": "u1", "event": "x"},
        headers={"Authorization": basic(raw_api_key)},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json() == segment_error("API key has been revoked", "unauthorized")
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_calls_spend_the_trigger_budget_then_are_rate_limited(segment_url, raw_api_key, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(trigger_rate_limit_per_minute=1)
    headers = {"Authorization": basic(raw_api_key)}
    body = {"userId": "u1", "event": "x"}

    first = requests.post(f"{segment_url}/v1/track", json=body, headers=headers, timeout=10)
    second = requests.post(
        f"{segment_url}/v1/batch", json={"batch": [body]}, headers=headers, timeout=10
    )

    assert (first.status_code, first.json()) == (200, {"success": True})
    assert first.headers["RateLimit-Policy"] == '"trigger";q=1;w=60'
    assert second.status_code == 429
    answer = second.json()
    assert (answer["code"], answer["message"]) == ("rate_limited", answer["error"])
    assert answer["error"] == f"rate limit exceeded; retry in {answer['retry_after']} seconds"
    assert 1 <= answer["retry_after"] <= 60
    assert int(second.headers["Retry-After"]) == answer["retry_after"]
    assert Event.objects.count() == 1
