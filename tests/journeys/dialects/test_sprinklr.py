"""The Sprinklr dialect (seed 004): ``trigger`` and ``triggerWithNewProfile`` under
``/compat/sprinklr/api/marketing-journey/``, their 204s, both credential headers, the
snType lookups, and the JSON errors the seed leaves unsaid."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import ApiKey, ChannelIdentity, Customer
from journeys.models import Enrollment, IdempotencyRecord
from tests.factories import journey_create

pytestmark = pytest.mark.django_db

TRIGGER = "/compat/sprinklr/api/marketing-journey/trigger"
WITH_NEW_PROFILE = "/compat/sprinklr/api/marketing-journey/triggerWithNewProfile"


@pytest.fixture
def journey(workspace):
    return journey_create(workspace)


@pytest.fixture
def sprinklr(raw_api_key):
    """A client sending both of the seed's headers, each holding the product's key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_api_key}", HTTP_KEY=raw_api_key)
    return client


def seed_trigger(journey, **fields):
    """The seed's trigger body (with the commas its example lacks)."""
    return {
        "snType": "EMAIL",
        "snId": "ada@example.com",
        "journeyId": journey.public_id,
        "contextParams": {"key1": "string", "key2": "string"},
        **fields,
    }


def seed_new_profile(journey, **fields):
    """The seed's triggerWithNewProfile body."""
    return {
        "journeyId": journey.public_id,
        "contextParams": {"key1": "string", "key2": "string"},
        "unifiedProfile": {
            "id": "id8",
            "contact": {"firstName": "Parth"},
            "profiles": [
                {"channelType": "EMAIL", "channelId": "acme@sprinklr.com", "name": "John Snow"}
            ],
            "createdTime": 1599816142000,
        },
        **fields,
    }


def post(client, url, body, **headers):
    return client.post(url, body, format="json", **headers)


# --- trigger -------------------------------------------------------------------------


def test_trigger_answers_204_and_enters_the_profile_with_its_context(sprinklr, journey, ada):
    response = post(sprinklr, TRIGGER, seed_trigger(journey))

    assert response.status_code == 204
    assert response.content == b""
    run = Enrollment.objects.get()
    assert (run.journey, run.customer, run.state) == (journey, ada, "active")
    assert run.context["payload"] == {"key1": "string", "key2": "string"}


def test_trigger_takes_the_seed_tables_spelling_too(sprinklr, journey, ada):
    body = {"snType": "EMAIL", "snID": "ada@example.com", "journeyID": journey.public_id}

    response = post(sprinklr, TRIGGER, body)

    assert response.status_code == 204
    assert Enrollment.objects.get().context["payload"] == {}


def test_email_profiles_match_normalised_and_by_identity(sprinklr, journey, workspace, ada):
    other = Customer.objects.create(workspace=workspace, external_id="second-address")
    ChannelIdentity.objects.create(
        workspace=workspace, customer=other, channel_type="email", channel_id="alt@example.com"
    )

    first = post(sprinklr, TRIGGER, seed_trigger(journey, snId="  ADA@Example.com "))
    second = post(sprinklr, TRIGGER, seed_trigger(journey, snType="email", snId="alt@example.com"))

    assert (first.status_code, second.status_code) == (204, 204)
    assert set(Enrollment.objects.values_list("customer", flat=True)) == {ada.pk, other.pk}


@pytest.mark.parametrize(
    ("sn_type", "sn_id", "identity_type", "stored_id"),
    [
        ("SMS", "+15551234567", "sms", "+15551234567"),
        ("SMS", "15551234567", "sms", "+15551234567"),
        ("WHATSAPP_BUSINESS", "+15551234567", "whatsapp", "15551234567"),
        ("WHATSAPP_BUSINESS", "+15551234567", "sms", "+15551234567"),
        ("TWITTER", "@ada", "twitter", "@ada"),
        ("TWITTER ID", "1000456", "twitter_id", "1000456"),
        ("FB ID", "1000123", "fb_id", "1000123"),
    ],
)
def test_other_sn_types_find_the_profile_by_channel_identity(
    sprinklr, journey, workspace, ada, sn_type, sn_id, identity_type, stored_id
):
    ChannelIdentity.objects.create(
        workspace=workspace, customer=ada, channel_type=identity_type, channel_id=stored_id
    )

    response = post(sprinklr, TRIGGER, seed_trigger(journey, snType=sn_type, snId=sn_id))

    assert response.status_code == 204
    assert Enrollment.objects.get().customer == ada


def test_whatsapp_prefers_its_own_number_over_an_sms_one(sprinklr, journey, workspace, ada, grace):
    ChannelIdentity.objects.create(
        workspace=workspace, customer=grace, channel_type="sms", channel_id="+15551234567"
    )
    ChannelIdentity.objects.create(
        workspace=workspace, customer=ada, channel_type="whatsapp", channel_id="+15551234567"
    )

    post(sprinklr, TRIGGER, seed_trigger(journey, snType="WHATSAPP_BUSINESS", snId="+15551234567"))

    assert Enrollment.objects.get().customer == ada


def test_an_entry_rule_that_keeps_the_profile_out_still_answers_204(sprinklr, journey, ada):
    post(sprinklr, TRIGGER, seed_trigger(journey))

    again = post(sprinklr, TRIGGER, seed_trigger(journey))

    assert again.status_code == 204
    assert Enrollment.objects.count() == 1


# --- authentication ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Bearer {key}", "HTTP_KEY": "{key}"},
        {"HTTP_AUTHORIZATION": "{key}", "HTTP_KEY": "{key}"},
        {"HTTP_AUTHORIZATION": "{key}"},
        {"HTTP_AUTHORIZATION": "bearer {key}"},
        {"HTTP_KEY": "{key}"},
        {"HTTP_AUTHORIZATION": "Bearer an-old-sprinklr-access-token", "HTTP_KEY": "{key}"},
    ],
)
def test_the_key_goes_in_either_header(raw_api_key, journey, ada, headers):
    client = APIClient()
    client.credentials(**{name: value.format(key=raw_api_key) for name, value in headers.items()})

    response = post(client, TRIGGER, seed_trigger(journey))

    assert response.status_code == 204


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Authentication credentials were not provided."),
        ({"HTTP_KEY": "sk_wrong"}, "invalid API key"),
        ({"HTTP_AUTHORIZATION": "Bearer sk_wrong"}, "invalid API key"),
        ({"HTTP_AUTHORIZATION": "sk_wrong"}, "invalid API key"),
        ({"HTTP_KEY": "   "}, "Authentication credentials were not provided."),
        (
            {"HTTP_AUTHORIZATION": "Basic a b"},
            "malformed Authorization header; expected 'Bearer <api key>' or the key alone",
        ),
        # A valid key in Key does not excuse an invalid one beside it.
        (
            {"HTTP_AUTHORIZATION": "Bearer {key}", "HTTP_KEY": "sk_another"},
            "the Key and Authorization headers hold different API keys; send the key in one"
            " of them, or the same key in both",
        ),
        ({"HTTP_AUTHORIZATION": "Bearer sk_another", "HTTP_KEY": "{key}"}, None),
    ],
)
def test_missing_wrong_or_contradicting_keys_are_401(raw_api_key, journey, ada, headers, message):
    client = APIClient()
    client.credentials(**{name: value.format(key=raw_api_key) for name, value in headers.items()})

    response = post(client, TRIGGER, seed_trigger(journey))

    assert response.status_code == 401
    if message:
        assert response.json() == {"error": message}
    assert not Enrollment.objects.exists()


def test_a_revoked_key_is_401_in_the_key_header(raw_api_key, api_key, journey, ada):
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    client = APIClient()
    client.credentials(HTTP_KEY=raw_api_key)

    response = post(client, TRIGGER, seed_trigger(journey))

    assert response.status_code == 401
    assert response.json() == {"error": "API key has been revoked"}


# --- errors --------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["snType", "snId", "journeyId"])
def test_a_missing_field_is_400_naming_it(sprinklr, journey, ada, missing):
    body = seed_trigger(journey)
    del body[missing]

    response = post(sprinklr, TRIGGER, body)

    assert response.status_code == 400
    assert response.json()["error"] == f"{missing}: This field is required."
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"snId": 42}, "snId: must be a string (got number)"),
        ({"snType": "   "}, "snType: This field may not be blank."),
        ({"contextParams": {"total": 12}}, "contextParams.total: must be a string (got number)"),
        (
            {"contextParams": ["a"]},
            'contextParams: Expected a dictionary of items but got type "list".',
        ),
        ({"snType": "X" * 41}, "snType: Ensure this field has no more than 40 characters."),
    ],
)
def test_wrong_types_are_400_naming_the_field(sprinklr, journey, ada, fields, error):
    response = post(sprinklr, TRIGGER, seed_trigger(journey, **fields))

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_the_seeds_own_example_body_is_not_json_and_is_a_400(sprinklr, journey):
    # The seed's curl example lacks two commas.
    raw = '{"snType": "string", "snId": "string" "journeyId" : "string"}'

    response = sprinklr.post(TRIGGER, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"].startswith("JSON parse error")


@pytest.mark.parametrize("url", [TRIGGER, WITH_NEW_PROFILE])
@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", '{"snType": "EMAIL", "snId": "ada@example.com", "journeyId": "{id}"}'),
        ("application/x-www-form-urlencoded", "snType=EMAIL&snId=ada%40example.com&journeyId={id}"),
    ],
    ids=["text", "form"],
)
def test_a_body_not_sent_as_json_is_415(sprinklr, journey, ada, url, content_type, raw):
    response = sprinklr.post(url, raw.replace("{id}", journey.public_id), content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {"error": f'Unsupported media type "{content_type}" in request.'}
    assert not Enrollment.objects.exists()


def test_a_body_that_is_not_an_object_is_400(sprinklr):
    response = post(sprinklr, TRIGGER, ["snType"])

    assert response.status_code == 400
    assert response.json() == {"error": "request body must be a JSON object"}


@pytest.mark.parametrize("status", ["draft", "paused", "archived"])
def test_an_unknown_or_not_live_journey_is_404(sprinklr, workspace, other_workspace, ada, status):
    not_live = journey_create(workspace, status=status)
    elsewhere = journey_create(other_workspace)

    for journey_id in ("jrn_nope", not_live.public_id, elsewhere.public_id):
        response = post(sprinklr, TRIGGER, {**seed_trigger(not_live), "journeyId": journey_id})

        assert response.status_code == 404
        assert response.json() == {"error": "Journey not found", "journey_id": journey_id}


def test_an_unknown_journey_is_reported_before_an_unknown_profile(sprinklr):
    body = {"snType": "SMS", "snId": "+1555", "journeyId": "jrn_nope"}

    response = post(sprinklr, TRIGGER, body)

    assert response.status_code == 404
    assert response.json()["error"] == "Journey not found"


@pytest.mark.parametrize(
    ("sn_type", "sn_id", "message"),
    [
        ("EMAIL", "nobody@example.com", "Profile not found: no EMAIL profile 'nobody@example.com'"),
        ("SMS", "+15550000000", "Profile not found: no SMS profile '+15550000000'"),
        ("sms", "+15550000000", "Profile not found: no SMS profile '+15550000000'"),
        ("TWITTER", "@nobody", "Profile not found: no TWITTER profile '@nobody'"),
        ("TWITTER ID", "1000456", "Profile not found: no TWITTER_ID profile '1000456'"),
    ],
)
def test_an_unknown_profile_is_404(sprinklr, journey, sn_type, sn_id, message):
    response = post(sprinklr, TRIGGER, seed_trigger(journey, snType=sn_type, snId=sn_id))

    assert response.status_code == 404
    assert response.json() == {"error": message}


def test_an_inactive_profile_is_not_found(sprinklr, journey, ada):
    Customer.objects.filter(pk=ada.pk).update(status=Customer.Status.INACTIVE)

    response = post(sprinklr, TRIGGER, seed_trigger(journey))

    assert response.status_code == 404
    assert not Enrollment.objects.exists()


def test_an_event_triggered_journey_is_400(sprinklr, workspace, ada):
    journey = journey_create(workspace, trigger={"type": "event", "event": "Signed Up"})

    response = post(sprinklr, TRIGGER, seed_trigger(journey))

    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid journey type")


def test_context_params_must_fit_the_journeys_schema(sprinklr, workspace, ada):
    journey = journey_create(
        workspace, trigger={"schema": [{"name": "plan", "type": "string", "required": True}]}
    )

    response = post(sprinklr, TRIGGER, seed_trigger(journey))

    assert response.status_code == 400
    assert response.json()["error"] == "payload.plan is required (string)"


# --- idempotency and rate limits -------------------------------------------------------


def test_the_same_idempotency_key_replays_the_204(sprinklr, journey, ada):
    first = post(sprinklr, TRIGGER, seed_trigger(journey), HTTP_IDEMPOTENCY_KEY="sp-1")
    Enrollment.objects.update(state="completed", finished_at=timezone.now())

    second = post(sprinklr, TRIGGER, seed_trigger(journey), HTTP_IDEMPOTENCY_KEY="sp-1")

    assert first.status_code == second.status_code == 204
    assert second.content == b""
    assert second["Idempotent-Replayed"] == "true"
    assert Enrollment.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_422(sprinklr, journey, ada):
    post(sprinklr, TRIGGER, seed_trigger(journey), HTTP_IDEMPOTENCY_KEY="sp-1")

    response = post(
        sprinklr, TRIGGER, seed_trigger(journey, contextParams={}), HTTP_IDEMPOTENCY_KEY="sp-1"
    )

    assert response.status_code == 422
    assert "different request" in response.json()["error"]


def test_triggers_spend_the_trigger_budget(sprinklr, journey, ada, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(trigger_rate_limit_per_minute=1)

    first = post(sprinklr, TRIGGER, seed_trigger(journey))
    second = post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey))

    assert first.status_code == 204
    assert first["RateLimit-Policy"] == '"trigger";q=1;w=60'
    assert second.status_code == 429
    assert int(second["Retry-After"]) >= 1
    assert not Customer.objects.filter(external_id="id8").exists()


# --- triggerWithNewProfile ---------------------------------------------------------------


def test_new_profile_is_created_then_triggered(sprinklr, journey, workspace):
    response = post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey))

    assert response.status_code == 204
    assert response.content == b""
    customer = Customer.objects.get(workspace=workspace)
    assert (customer.external_id, customer.email) == ("id8", "acme@sprinklr.com")
    assert customer.attributes == {"first_name": "Parth"}
    run = Enrollment.objects.get()
    assert (run.customer, run.journey) == (customer, journey)
    assert run.context["payload"] == {"key1": "string", "key2": "string"}


def test_a_known_profile_is_updated_not_duplicated(sprinklr, journey, workspace):
    post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey))
    body = seed_new_profile(journey)
    body["unifiedProfile"]["contact"] = {"firstName": "Parth", "lastName": "Shah"}

    response = post(sprinklr, WITH_NEW_PROFILE, body)

    assert response.status_code == 204
    customer = Customer.objects.get(workspace=workspace)
    assert customer.attributes == {"first_name": "Parth", "last_name": "Shah"}
    assert Enrollment.objects.count() == 1  # the journey lets a customer in once


def test_new_profile_channels_become_identities_that_trigger_finds(sprinklr, journey, workspace):
    body = seed_new_profile(journey)
    body["unifiedProfile"]["profiles"] += [
        {"channelType": "SMS", "channelId": "+15551234567"},
        {"channelType": "WHATSAPP_BUSINESS", "channelId": "15557654321"},
        {"channelType": "EMAIL", "channelId": "Second@Sprinklr.com"},
    ]
    post(sprinklr, WITH_NEW_PROFILE, body)
    customer = Customer.objects.get(external_id="id8")
    Enrollment.objects.update(state="failed", finished_at=timezone.now())

    response = post(
        sprinklr, TRIGGER, seed_trigger(journey, snType="WHATSAPP_BUSINESS", snId="+15557654321")
    )

    assert response.status_code == 204
    assert set(customer.identities.values_list("channel_type", "channel_id")) == {
        ("sms", "+15551234567"),
        ("whatsapp", "15557654321"),
        ("email", "second@sprinklr.com"),
    }
    assert Enrollment.objects.filter(state="active").get().customer == customer


def test_a_twitter_id_profile_is_found_by_the_seeds_spelling(sprinklr, journey, workspace):
    body = seed_new_profile(journey)
    body["unifiedProfile"]["profiles"].append({"channelType": "TWITTER ID", "channelId": "1000456"})
    post(sprinklr, WITH_NEW_PROFILE, body)
    customer = Customer.objects.get(external_id="id8")
    Enrollment.objects.update(state="failed", finished_at=timezone.now())

    response = post(sprinklr, TRIGGER, seed_trigger(journey, snType="TWITTER ID", snId="1000456"))

    assert response.status_code == 204
    assert ("twitter_id", "1000456") in set(
        customer.identities.values_list("channel_type", "channel_id")
    )
    assert Enrollment.objects.filter(state="active").get().customer == customer


def test_new_profile_with_a_known_address_completes_that_customer(sprinklr, journey, workspace):
    known = Customer.objects.create(workspace=workspace, email="acme@sprinklr.com")

    response = post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey))

    assert response.status_code == 204
    known.refresh_from_db()
    assert (known.external_id, known.attributes) == ("id8", {"first_name": "Parth"})
    assert Customer.objects.count() == 1
    assert Enrollment.objects.get().customer == known


def test_new_profile_for_an_unknown_journey_is_404_and_writes_nothing(sprinklr, journey):
    response = post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey, journeyId="jrn_nope"))

    assert response.status_code == 404
    assert response.json() == {"error": "Journey not found", "journey_id": "jrn_nope"}
    assert not Customer.objects.exists()


def test_new_profile_whose_trigger_fails_leaves_no_profile(sprinklr, workspace):
    journey = journey_create(
        workspace, trigger={"schema": [{"name": "plan", "type": "string", "required": True}]}
    )

    response = post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey))

    assert response.status_code == 400
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("profile", "error"),
    [
        (None, "unifiedProfile: This field may not be null."),
        ({"id": 8}, "unifiedProfile.id: must be a string (got number)"),
        ({"contact": {}}, "unifiedProfile.id: This field is required."),
        ({"id": "  "}, "unifiedProfile.id: This field may not be blank."),
        (
            {"id": "id8", "createdTime": "1599816142000"},
            "unifiedProfile.createdTime: A valid integer is required.",
        ),
        (
            {"id": "id8", "profiles": [{"channelType": "EMAIL", "channelId": "not-an-address"}]},
            "unifiedProfile.profiles[0].channelId: Enter a valid email address.",
        ),
        (
            {"id": "id8", "profiles": [{"channelType": "SMS"}]},
            "unifiedProfile.profiles[0].channelId: This field is required.",
        ),
        (
            {"id": "id8", "profiles": [{"channelType": "SMS", "channelId": "1"}] * 21},
            "unifiedProfile.profiles: Ensure this field has no more than 20 elements.",
        ),
    ],
)
def test_new_profile_shapes_are_checked(sprinklr, journey, profile, error):
    response = post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey, unifiedProfile=profile))

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert not Customer.objects.exists()


def test_new_profile_whose_email_is_someone_elses_is_409(sprinklr, journey, ada):
    body = seed_new_profile(journey)
    body["unifiedProfile"]["profiles"][0]["channelId"] = "ada@example.com"

    response = post(sprinklr, WITH_NEW_PROFILE, body)

    assert response.status_code == 409
    assert response.json()["error"].startswith("email 'ada@example.com' belongs to a customer")
    assert not Enrollment.objects.exists()


def test_new_profile_replays_with_the_same_idempotency_key(sprinklr, journey):
    first = post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey), HTTP_IDEMPOTENCY_KEY="n1")
    second = post(sprinklr, WITH_NEW_PROFILE, seed_new_profile(journey), HTTP_IDEMPOTENCY_KEY="n1")

    assert first.status_code == second.status_code == 204
    assert second["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.count() == 1
    assert Enrollment.objects.count() == 1


# --- The OpenAPI schema ----------------------------------------------------------------


def test_the_schema_documents_both_headers_and_the_204(anonymous_client):
    schema = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    for url in (TRIGGER, WITH_NEW_PROFILE):
        operation = schema["paths"][url]["post"]
        assert operation["security"] == [{"ApiKey": []}, {"SprinklrKey": []}]
        assert "content" not in operation["responses"]["204"]
        assert {"400", "401", "404", "422", "429"} <= set(operation["responses"])
    assert schema["components"]["securitySchemes"]["SprinklrKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Key",
        "description": schema["components"]["securitySchemes"]["SprinklrKey"]["description"],
    }
    assert "409" in schema["paths"][WITH_NEW_PROFILE]["post"]["responses"]
