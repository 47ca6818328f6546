"""The native event stream: POST events/track | identify | group | batch store Segment's
messages (customers, tenant profiles, events), all or nothing, and refuse bad input
with a 400 naming the message's place."""

import gzip
import json

import pytest
from django.test import override_settings

from customers.models import Customer, Event, TenantProfile
from customers.strict_json import MAX_DEPTH
from journeys.entry.events import messages as limits

pytestmark = pytest.mark.django_db


def post(client, url, body, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(url, raw, content_type="application/json", **headers)


def test_track_stores_the_event_and_makes_the_unknown_customer(client, api_base, workspace):
    body = {
        "userId": "user_1",
        "event": "Order Completed",
        "properties": {"order_id": "A-1", "total": 42.5},
        "timestamp": "2024-05-01T12:00:00+02:00",
        "messageId": "msg-1",
        "context": {"ip": "203.0.113.9"},
        "integrations": {},
    }

    response = post(client, f"{api_base}/events/track", body)

    assert response.status_code == 200
    assert response.json() == {"success": True, "received": 1, "stored": 1, "duplicates": 0}
    customer = Customer.objects.get(workspace=workspace)
    assert (customer.external_id, customer.email, customer.anonymous_id) == ("user_1", None, None)
    event = Event.objects.get()
    assert event.customer == customer
    assert event.name == "Order Completed"
    assert event.properties == {"order_id": "A-1", "total": 42.5}
    assert event.timestamp.isoformat() == "2024-05-01T10:00:00+00:00"
    assert event.message_id == "msg-1"


def test_track_of_an_anonymous_visitor_makes_an_anonymous_customer(client, api_base):
    response = post(
        client, f"{api_base}/events/track", {"anonymousId": "anon-7", "event": "Opened"}
    )

    assert response.status_code == 200
    customer = Customer.objects.get()
    assert (customer.external_id, customer.anonymous_id) == (None, "anon-7")
    assert Event.objects.get().customer == customer


def test_track_files_the_event_under_the_known_customer(client, api_base, ada):
    post(client, f"{api_base}/events/track", {"userId": "user_ada", "event": "Opened"})

    assert Customer.objects.count() == 1
    assert Event.objects.get().customer == ada


def test_identify_upserts_email_and_attributes(client, api_base, ada):
    body = {
        "userId": "user_ada",
        "traits": {"email": " Ada@Lovelace.example ", "plan": "pro", "age": None, "city": "London"},
    }

    response = post(client, f"{api_base}/events/identify", body)

    assert response.status_code == 200
    assert response.json() == {"success": True, "received": 1, "stored": 0, "duplicates": 0}
    ada.refresh_from_db()
    assert ada.email == "ada@lovelace.example"
    # Merged: plan replaced, age removed by its null, first_name kept, city added.
    assert ada.attributes == {"first_name": "Ada", "plan": "pro", "city": "London"}
    assert not Event.objects.exists()


def test_identify_makes_a_new_customer(client, api_base, workspace):
    body = {"userId": "u9", "traits": {"email": "u9@example.com", "firstName": "Una"}}

    post(client, f"{api_base}/events/identify", body)

    customer = Customer.objects.get()
    assert (customer.external_id, customer.email) == ("u9", "u9@example.com")
    assert customer.attributes == {"firstName": "Una"}


def test_identify_with_an_anonymous_id_claims_the_visitors_profile(client, api_base):
    post(client, f"{api_base}/events/track", {"anonymousId": "anon-1", "event": "Viewed"})

    post(client, f"{api_base}/events/identify", {"userId": "u1", "anonymousId": "anon-1"})

    customer = Customer.objects.get()
    assert (customer.external_id, customer.anonymous_id) == ("u1", "anon-1")
    assert Event.objects.get().customer == customer


def test_identify_keeps_an_email_that_belongs_to_someone_else(client, api_base, ada, grace):
    body = {"userId": "user_grace", "traits": {"email": "ada@example.com", "plan": "pro"}}

    response = post(client, f"{api_base}/events/identify", body)

    assert response.status_code == 200
    grace.refresh_from_db()
    ada.refresh_from_db()
    assert (grace.email, grace.attributes["plan"]) == ("grace@example.com", "pro")
    assert ada.email == "ada@example.com"


def test_group_merges_traits_into_the_tenant_profile(client, api_base, ada):
    post(
        client,
        f"{api_base}/events/group",
        {"userId": "user_ada", "groupId": "acme", "traits": {"a": 1}},
    )
    response = post(
        client,
        f"{api_base}/events/group",
        {"userId": "user_ada", "groupId": "acme", "traits": {"b": 2, "a": None}},
    )

    assert response.status_code == 200
    profile = TenantProfile.objects.get()
    assert (profile.customer, profile.tenant_id, profile.profile) == (ada, "acme", {"b": 2})


def test_a_batch_applies_its_messages_in_order(client, api_base, workspace):
    body = {
        "batch": [
            {"type": "track", "anonymousId": "a1", "event": "Viewed", "messageId": "m1"},
            {"type": "identify", "userId": "u1", "anonymousId": "a1",
             "traits": {"email": "u1@example.com"}},
            {"type": "track", "userId": "u1", "event": "Bought", "messageId": "m2"},
            {"type": "page", "userId": "u1", "name": "Pricing", "properties": {"path": "/p"}},
            {"type": "screen", "anonymousId": "a1", "name": "Home", "category": "Main"},
            {"type": "group", "userId": "u1", "groupId": 7, "traits": {"name": "Acme"}},
            {"type": "alias", "userId": "u1", "previousId": "a2"},
        ]
    }  # fmt: skip

    response = post(client, f"{api_base}/events/batch", body)

    assert response.status_code == 200
    assert response.json() == {"success": True, "received": 7, "stored": 4, "duplicates": 0}
    customer = Customer.objects.get()
    assert (customer.external_id, customer.email) == ("u1", "u1@example.com")
    # The alias came last: its previousId is the anonymous id now.
    assert customer.anonymous_id == "a2"
    events = list(Event.objects.order_by("pk").values_list("customer", "name", "properties"))
    assert events == [
        (customer.pk, "Viewed", {}),
        (customer.pk, "Bought", {}),
        (customer.pk, "Page Viewed", {"path": "/p", "name": "Pricing"}),
        (customer.pk, "Screen Viewed", {"name": "Home", "category": "Main"}),
    ]
    assert TenantProfile.objects.get().tenant_id == "7"


def test_a_message_id_stored_before_is_a_duplicate(client, api_base):
    message = {"type": "track", "userId": "u1", "event": "Bought", "messageId": "same"}

    first = post(client, f"{api_base}/events/batch", {"batch": [message, message]})
    again = post(client, f"{api_base}/events/track", message)

    assert first.json() == {"success": True, "received": 2, "stored": 1, "duplicates": 1}
    assert again.json() == {"success": True, "received": 1, "stored": 0, "duplicates": 1}
    assert Event.objects.count() == 1


def test_message_ids_are_per_workspace(client, api_base, other_workspace):
    other = Customer.objects.create(workspace=other_workspace, external_id="u1")
    Event.objects.create(workspace=other_workspace, customer=other, name="x", message_id="m")

    response = post(
        client, f"{api_base}/events/track", {"userId": "u1", "event": "x", "messageId": "m"}
    )

    assert response.json()["stored"] == 1


def test_a_bad_batch_names_each_message_by_index_and_stores_nothing(client, api_base):
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Fine"},
            {"type": "track", "userId": "u1"},
            "not an object",
            {"type": "shout", "userId": "u1"},
            {"type": "identify", "traits": {"email": "nope"}},
            {"type": "track", "userId": 5, "event": "x", "timestamp": "yesterday"},
            {"type": {}, "userId": "u1"},
        ]
    }

    response = post(client, f"{api_base}/events/batch", body)

    assert response.status_code == 400
    problems = response.json()["problems"]
    assert [(p["field"], p["message"]) for p in problems] == [
        ("batch[1].event", "batch[1].event: required for a track call (the event's name)"),
        ("batch[2]", "batch[2]: must be an object (got string)"),
        (
            "batch[3].type",
            "batch[3].type: unknown message type 'shout'; expected one of "
            "track, identify, group, page, screen, alias",
        ),
        ("batch[4].traits.email", "batch[4].traits.email: must be an e-mail address"),
        ("batch[4]", "batch[4]: userId or anonymousId is required"),
        ("batch[5].userId", "batch[5].userId: must be a string (got number)"),
        (
            "batch[5].timestamp",
            "batch[5].timestamp: must be an ISO 8601 date and time, e.g. 2024-05-01T12:00:00Z",
        ),
        (
            "batch[6].type",
            "batch[6].type: unknown message type object; expected one of "
            "track, identify, group, page, screen, alias",
        ),
    ]
    assert response.json()["error"] == problems[0]["message"]
    assert not Customer.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], "body: must be an object with a batch (got array)"),
        ({}, "batch: required, a list of messages (got nothing)"),
        ({"batch": {"type": "track"}}, "batch: required, a list of messages (got object)"),
    ],
)
def test_a_batch_body_that_is_no_batch_is_a_400(client, api_base, body, error):
    response = post(client, f"{api_base}/events/batch", body)

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_a_batch_over_the_message_limit_is_a_400(client, api_base, monkeypatch):
    monkeypatch.setattr(limits, "MAX_BATCH_MESSAGES", 3)
    message = {"type": "track", "userId": "u1", "event": "x"}

    response = post(client, f"{api_base}/events/batch", {"batch": [message] * 4})

    assert response.status_code == 400
    assert response.json()["error"] == "batch: at most 3 messages in one batch (got 4)"
    assert not Event.objects.exists()


def test_properties_over_the_message_limit_are_a_400(client, api_base):
    big = {"blob": "x" * limits.MAX_MESSAGE_BYTES}
    body = {"batch": [{"type": "track", "userId": "u1", "event": "x", "properties": big}]}

    response = post(client, f"{api_base}/events/batch", body)

    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "batch[0].properties"
    assert "at most 32,768 bytes of JSON" in response.json()["error"]


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"in": value}
    return value


def test_properties_nested_too_deep_are_a_400_naming_the_place(client, api_base):
    deep = nested(MAX_DEPTH + 1)
    body = {"batch": [{"type": "track", "userId": "u1", "event": "x", "properties": deep}]}

    response = post(client, f"{api_base}/events/batch", body)

    assert response.status_code == 400
    problem = response.json()["problems"][0]
    assert problem["field"].startswith("batch[0].properties.in.in.")
    assert f"nested deeper than {MAX_DEPTH} levels" in problem["message"]
    assert not Event.objects.exists()


@pytest.mark.parametrize("kind", ["track", "identify"])
def test_properties_and_traits_at_the_nesting_limit_are_stored(client, api_base, kind):
    deep = nested(MAX_DEPTH)
    field = "properties" if kind == "track" else "traits"
    body = {"userId": "u1", "event": "x", field: deep}

    response = post(client, f"{api_base}/events/{kind}", body)

    assert response.status_code == 200, response.json()


def test_a_deep_context_is_dropped_unread(client, api_base):
    """Only properties and traits are kept, so only they are held to the nesting limit."""
    body = {"userId": "u1", "event": "x", "context": nested(MAX_DEPTH + 10)}

    response = post(client, f"{api_base}/events/track", body)

    assert response.status_code == 200, response.json()
    assert Event.objects.get().properties == {}


def test_a_call_over_its_limit_is_a_413_naming_it(client, api_base):
    body = {"userId": "u1", "event": "x", "properties": {"blob": "x" * limits.MAX_MESSAGE_BYTES}}

    response = post(client, f"{api_base}/events/track", body)

    assert response.status_code == 413
    assert response.json() == {
        "error": "request body too large: the limit is 32,768 bytes",
        "limit_bytes": 32768,
    }


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_batch_may_be_larger_than_the_rest_of_the_apis_bodies(client, api_base):
    batch = [{"type": "track", "userId": f"u{i}", "event": "Viewed"} for i in range(100)]

    response = post(client, f"{api_base}/events/batch", {"batch": batch})

    assert response.status_code == 200
    assert Event.objects.count() == 100


def test_a_gzip_body_is_read(client, api_base):
    body = {"batch": [{"type": "track", "userId": "u1", "event": "Zipped"}]}

    response = post(
        client,
        f"{api_base}/events/batch",
        gzip.compress(json.dumps(body).encode()),
        HTTP_CONTENT_ENCODING="gzip",
    )

    assert response.status_code == 200
    assert Event.objects.get().name == "Zipped"


def test_a_gzip_bomb_stops_at_the_limit(client, api_base):
    bomb = gzip.compress(b" " * (limits.MAX_BATCH_BYTES * 4))  # 64 MiB of spaces, ~64 KB

    response = post(client, f"{api_base}/events/batch", bomb, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 413
    assert response.json() == {
        "error": "request body too large once decompressed: the limit is 16,777,216 bytes",
        "limit_bytes": limits.MAX_BATCH_BYTES,
    }


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"not gzip at all", "JSON parse error - the body is not valid gzip"),
        (gzip.compress(b'{"batch": []}')[:-12], "JSON parse error - the gzip body is cut short"),
    ],
)
def test_a_broken_gzip_body_is_a_400(client, api_base, raw, error):
    response = post(client, f"{api_base}/events/batch", raw, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_an_unknown_content_encoding_is_a_415(client, api_base):
    response = post(client, f"{api_base}/events/batch", {"batch": []}, HTTP_CONTENT_ENCODING="br")

    assert response.status_code == 415
    assert response.json()["error"] == (
        "Content-Encoding 'br' is not supported: send gzip, or no encoding"
    )


def test_an_empty_batch_is_accepted(client, api_base):
    response = post(client, f"{api_base}/events/batch", {"batch": []})

    assert response.json() == {"success": True, "received": 0, "stored": 0, "duplicates": 0}


def test_another_workspaces_id_is_a_404(client, other_workspace):
    url = f"/api/v1/workspaces/{other_workspace.public_id}/events/track"

    response = post(client, url, {"userId": "u1", "event": "x"})

    assert response.status_code == 404
    assert not Event.objects.exists()


def test_without_a_key_it_is_a_401(anonymous_client, api_base):
    response = post(anonymous_client, f"{api_base}/events/track", {"userId": "u1", "event": "x"})

    assert response.status_code == 401


def test_events_count_against_the_trigger_budget(client, api_base, api_key):
    api_key.trigger_rate_limit_per_minute = 1
    api_key.save()

    first = post(client, f"{api_base}/events/track", {"userId": "u1", "event": "x"})
    second = post(client, f"{api_base}/events/track", {"userId": "u1", "event": "x"})

    assert first.status_code == 200
    assert first["RateLimit-Policy"] == '"trigger";q=1;w=60'
    assert second.status_code == 429
    assert Event.objects.count() == 1
