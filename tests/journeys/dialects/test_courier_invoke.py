"""``POST /compat/courier/journeys/{id}/invoke``: every example, answer and error of the
Courier seed (002), with the runs each leaves behind (or does not)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from customers.models import ApiKey, ChannelIdentity, Customer, TenantProfile
from delivery.models import Message
from journeys.authoring.services import journey_archive, journey_pause
from journeys.engine.claims import runs_claim
from journeys.engine.runner import runs_walk
from journeys.models import Enrollment, IdempotencyRecord, Journey
from tests.factories import journey_create

pytestmark = pytest.mark.django_db

MISSING_RECIPIENT = (
    "User identifier or profile required. Provide user_id, user_id/userId/anonymousId in "
    "profile/data, or profile with contact info."
)
SEED_DATA = {
    "order_id": "ORD-9042",
    "order_total": 49.99,
    "is_first_order": True,
    "order_date": "2026-02-10T14:30:00Z",
}


def invoke(client, journey_id, body, **headers):
    return client.post(
        f"/compat/courier/journeys/{journey_id}/invoke", body, format="json", **headers
    )


def error(message, **details):
    return {"type": "invalid_request_error", "message": message, "error": message, **details}


def walk(run_id):
    """Walk the run as a worker would, now."""
    runs_walk(runs_claim(run_ids=[Enrollment.objects.get(public_id=run_id).pk]))


# --- Invoke via API ---------------------------------------------------------------------


def test_the_seeds_invoke_with_user_id_answers_a_run_id(client, order_journey):
    response = invoke(client, order_journey.public_id, {"user_id": "user_123", "data": SEED_DATA})

    assert response.status_code == 202
    assert response.json() == {"runId": response.json()["runId"]}
    run = Enrollment.objects.select_related("customer").get()
    assert run.public_id == response.json()["runId"]
    assert (run.journey, run.state, run.current_step) == (order_journey, "active", "mail")
    assert run.customer.external_id == "user_123"  # a user new to the workspace is made
    assert run.context["payload"] == SEED_DATA
    assert run.cancellation_key == "order-ORD-9042"


def test_a_known_user_is_found_not_made_again(client, order_journey, ada):
    response = invoke(client, order_journey.public_id, {"user_id": "user_ada"})

    assert response.status_code == 202
    assert Enrollment.objects.get().customer == ada
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"profile": {"user_id": "user_ada"}},
        {"profile": {"userId": "user_ada"}},
        {"data": {"user_id": "user_ada"}},
        {"data": {"userId": "user_ada"}},
    ],
    ids=["profile.user_id", "profile.userId", "data.user_id", "data.userId"],
)
def test_a_user_id_may_come_in_the_profile_or_the_data(client, order_journey, ada, body):
    response = invoke(client, order_journey.public_id, body)

    assert response.status_code == 202
    assert Enrollment.objects.get().customer == ada


def test_an_anonymous_id_names_the_user_too(client, order_journey, ada):
    Customer.objects.filter(pk=ada.pk).update(anonymous_id="anon-7")

    response = invoke(client, order_journey.public_id, {"profile": {"anonymousId": "anon-7"}})

    assert response.status_code == 202
    assert Enrollment.objects.get().customer == ada


def test_the_run_id_is_what_run_inspection_shows(client, order_journey):
    run_id = invoke(client, order_journey.public_id, {"user_id": "u1"}).json()["runId"]

    response = client.get(f"/compat/courier/journeys/runs/{run_id}")

    assert response.status_code == 200
    assert response.json()["run"]["run_id"] == run_id
    assert response.json()["run"]["template_id"] == order_journey.public_id


# --- Invoke with profile only ----------------------------------------------------------


def test_the_seeds_profile_only_invoke_makes_a_customer_from_the_email(client, order_journey):
    response = invoke(
        client,
        order_journey.public_id,
        {"profile": {"email": "jane@example.com"}, "data": {"signup_source": "landing_page"}},
    )

    assert response.status_code == 202
    run = Enrollment.objects.select_related("customer").get()
    assert run.public_id == response.json()["runId"]
    assert (run.customer.email, run.customer.external_id) == ("jane@example.com", None)
    assert run.context["payload"] == {"signup_source": "landing_page"}


def test_a_profile_email_finds_the_customer_who_has_it(client, order_journey, ada):
    response = invoke(client, order_journey.public_id, {"profile": {"email": "ADA@Example.com"}})

    assert response.status_code == 202
    assert Enrollment.objects.get().customer == ada
    assert Customer.objects.count() == 1


def test_a_profile_phone_number_finds_or_makes_the_customer(client, order_journey, workspace, ada):
    ChannelIdentity.objects.create(
        workspace=workspace, customer=ada, channel_type="sms", channel_id="+15550001"
    )

    known = invoke(client, order_journey.public_id, {"profile": {"phone_number": "+15550001"}})
    new = invoke(client, order_journey.public_id, {"profile": {"phone_number": "+15550002"}})

    assert (known.status_code, new.status_code) == (202, 202)
    made = ChannelIdentity.objects.get(channel_id="+15550002").customer
    customers = set(Enrollment.objects.values_list("customer_id", flat=True))
    assert customers == {ada.pk, made.pk}


def test_the_profile_only_invocation_delivers_to_the_profiles_email(
    client, order_journey, smtp_server
):
    run_id = invoke(client, order_journey.public_id, {"profile": {"email": "jane@example.com"}})
    walk(run_id.json()["runId"])

    (mail,) = smtp_server.messages
    assert mail["To"] == "jane@example.com"


# --- Profile enrichment -------------------------------------------------------------------


def test_the_request_profile_wins_over_the_stored_one_for_this_run(
    client, order_journey, workspace, smtp_server
):
    stored = Customer.objects.create(
        workspace=workspace,
        external_id="user_jane",
        email="stored@example.com",
        attributes={"first_name": "Jane"},
    )

    response = invoke(
        client,
        order_journey.public_id,
        {"user_id": "user_jane", "profile": {"email": "new@example.com"}},
    )
    walk(response.json()["runId"])

    (mail,) = smtp_server.messages
    assert mail["To"] == "new@example.com"  # the request's email receives the message
    # result: {"email": "new@example.com", "first_name": "Jane"}
    assert mail.get_payload().startswith("Hi Jane <new@example.com>")
    stored.refresh_from_db()
    assert (stored.email, stored.attributes) == ("stored@example.com", {"first_name": "Jane"})


# --- Tenant-scoped profiles ------------------------------------------------------------


def test_the_seeds_tenant_context_gives_templates_the_tenant_profile(
    client, order_journey, workspace, smtp_server
):
    doctor = Customer.objects.create(
        workspace=workspace, external_id="user_123", email="doc@example.com"
    )
    TenantProfile.objects.create(
        workspace=workspace, customer=doctor, tenant_id="hospital-a", profile={"name": "St. A"}
    )

    response = invoke(
        client,
        order_journey.public_id,
        {
            "user_id": "user_123",
            "profile": {"context": {"tenant_id": "hospital-a"}},
            "data": {"appointment_time": "2026-02-15T09:00:00Z"},
        },
    )
    walk(response.json()["runId"])

    assert response.status_code == 202
    assert Enrollment.objects.get().context["tenant_id"] == "hospital-a"
    (mail,) = smtp_server.messages
    assert " of St. A: " in mail.get_payload()


# --- Define a schema: types checked, missing fields not refused -----------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected", "got"),
    [
        ("order_id", 9042, "string", "int"),
        ("order_total", "49.99", "number", "str"),
        ("order_total", True, "number", "bool"),
        ("is_first_order", "yes", "boolean", "str"),
        ("order_date", "10/02/2026", "datetime", "str"),
        ("order_date", 1760000000, "datetime", "int"),
    ],
)
def test_a_schema_field_of_the_wrong_type_is_400_naming_it(
    client, order_journey, field, value, expected, got
):
    response = invoke(
        client, order_journey.public_id, {"user_id": "u1", "data": {**SEED_DATA, field: value}}
    )

    assert response.status_code == 400
    message = f"data.{field}: expected {expected}, got {got}"
    assert response.json()["message"] == message
    assert response.json()["type"] == "invalid_request_error"
    assert not Enrollment.objects.exists()
    assert not Customer.objects.exists()  # the user it would have made is not kept


def test_missing_schema_fields_are_not_refused(client, order_journey):
    response = invoke(client, order_journey.public_id, {"user_id": "u1", "data": {}})

    assert response.status_code == 202
    assert Enrollment.objects.get().context["payload"] == {}


def test_a_missing_field_fails_the_run_at_the_node_that_references_it(
    client, workspace, ada, smtp_server
):
    journey = journey_create(
        workspace,
        trigger={"schema": [{"name": "order_id", "type": "string"},
                            {"name": "coupon", "type": "string"}]},
        steps=[
            {"key": "thanks", "type": "send", "channel": "email", "subject": "Thanks",
             "body": "Order {{ data.order_id }}", "next": "offer"},
            {"key": "offer", "type": "send", "channel": "email", "subject": "A coupon",
             "body": "Use {{ data.coupon }}", "next": None},
        ],
    )  # fmt: skip

    response = invoke(client, journey.public_id, {"user_id": "user_ada", "data": SEED_DATA})
    walk(response.json()["runId"])

    assert response.status_code == 202
    (mail,) = smtp_server.messages  # the first node ran; the second sent nothing
    assert (mail["To"], mail["Subject"]) == ("ada@example.com", "Thanks")
    assert list(Message.objects.values_list("subject", "body")) == [("Thanks", "Order ORD-9042")]
    run = Enrollment.objects.get()
    assert (run.state, run.current_step, run.error) == (
        "failed", "offer", "offer: data.coupon is undefined"
    )  # fmt: skip
    steps = client.get(f"/compat/courier/journeys/runs/{run.public_id}/steps").json()["steps"]
    assert [(step["node_id"], step["status"], step["error"]) for step in steps] == [
        ("thanks", "PROCESSED", None),
        ("offer", "ERROR", {"message": "data.coupon is undefined"}),
    ]
    run_view = client.get(f"/compat/courier/journeys/runs/{run.public_id}").json()
    assert run_view["run"]["status"] == "ERROR"


def test_schema_fields_are_variables_by_name_in_downstream_nodes(
    client, workspace, ada, smtp_server
):
    journey = journey_create(
        workspace,
        trigger={"schema": [{"name": "order_id", "type": "string"},
                            {"name": "order_total", "type": "number"},
                            {"name": "is_first_order", "type": "boolean"}]},
        steps=[
            {"key": "first", "type": "branch",
             "condition": {"field": "data.is_first_order", "op": "eq", "value": True},
             "yes": "mail", "no": None},
            {"key": "mail", "type": "send", "channel": "email",
             "subject": "Order {{ order_id }}",
             "body": "Total {{ order_total }}, first order: {{ is_first_order }}", "next": None},
        ],
    )  # fmt: skip

    response = invoke(client, journey.public_id, {"user_id": "user_ada", "data": SEED_DATA})
    walk(response.json()["runId"])

    assert response.status_code == 202
    assert Enrollment.objects.get().state == "completed"
    assert list(Message.objects.values_list("subject", "body")) == [
        ("Order ORD-9042", "Total 49.99, first order: true")
    ]
    (mail,) = smtp_server.messages
    assert mail["Subject"] == "Order ORD-9042"


# --- Error handling -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"data": {"order_id": "A"}},
        {"profile": {"first_name": "Jane"}},
        {"user_id": "", "profile": {"email": ""}},
        {"user_id": None, "profile": None, "data": None},
        {"data": {"user_id": 123}},
    ],
)
def test_no_user_identifier_or_contact_is_400(client, order_journey, body):
    response = invoke(client, order_journey.public_id, body)

    assert (response.status_code, response.json()) == (400, error(MISSING_RECIPIENT))
    assert not Enrollment.objects.exists()


def test_a_missing_required_schema_field_is_400_naming_it(client, workspace):
    journey = journey_create(
        workspace,
        trigger={"schema": [{"name": "order_id", "type": "string"},
                            {"name": "coupon", "type": "string", "required": True}]},
    )  # fmt: skip

    for data in ({"order_id": "ORD-9042"}, {"order_id": "ORD-9042", "coupon": None}):
        response = invoke(client, journey.public_id, {"user_id": "u1", "data": data})

        assert response.status_code == 400
        message = "data.coupon is required (string)"
        assert response.json() == error(
            message, problems=[{"step": None, "field": "data.coupon", "message": message}]
        )
    assert not Enrollment.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user_id": "u1", "profile": "jane"}, "profile: Expected a dictionary of items"),
        ({"user_id": "u1", "data": [1]}, "data: Expected a dictionary of items"),
        ({"user_id": ["u1"]}, "user_id: must be a string (got array)"),
        ({"user_id": "u" * 256}, "user_id: Ensure this field has no more than 255 characters."),
        ({"profile": {"email": "not-an-address"}}, "profile.email: not an e-mail address"),
        ({"profile": {"email": 5}}, "profile.email: must be a string"),
        ({"profile": {"user_id": {"id": 1}}}, "profile.user_id: must be a string"),
        ({"user_id": "u1", "profile": {"context": "a"}}, "profile.context: must be an object"),
        (
            {"user_id": "u1", "profile": {"context": {"tenant_id": 7}}},
            "profile.context.tenant_id: must be a string",
        ),
    ],
)  # fmt: skip
def test_a_field_of_the_wrong_shape_is_400_naming_it(client, order_journey, body, message):
    response = invoke(client, order_journey.public_id, body)

    assert response.status_code == 400
    assert response.json()["message"].startswith(message), response.json()
    assert not Enrollment.objects.exists()


def test_a_body_that_is_not_an_object_is_400(client, order_journey):
    response = invoke(client, order_journey.public_id, ["user_id"])

    assert response.status_code == 400
    assert response.json()["message"] == "request body must be a JSON object"


def test_errors_answered_before_any_view_have_couriers_shape_too(client, order_journey):
    unknown = client.get("/compat/courier/no/such/path")
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        big = invoke(client, order_journey.public_id, {"user_id": "u", "data": {"x": "a" * 2000}})

    assert (unknown.status_code, unknown.json()) == (
        404, error("no such endpoint: /compat/courier/no/such/path")
    )  # fmt: skip
    assert (big.status_code, big.json()) == (
        413, error("request body too large: the limit is 1,000 bytes", limit_bytes=1000)
    )  # fmt: skip
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize("kind", ["unknown", "draft", "foreign"])
def test_a_journey_that_does_not_exist_or_was_never_published_is_404(
    client, workspace, other_workspace, kind
):
    journey_id = {
        "unknown": lambda: "jrn_nope",
        "draft": lambda: journey_create(workspace, status=Journey.Status.DRAFT).public_id,
        "foreign": lambda: journey_create(other_workspace).public_id,
    }[kind]()

    response = invoke(client, journey_id, {"user_id": "u1"})

    assert response.status_code == 404
    assert response.json() == error(f"Journey {journey_id} not found", journey_id=journey_id)
    assert not Customer.objects.filter(external_id="u1").exists()


def test_unmet_trigger_conditions_are_422_and_run_nothing(client, workspace):
    journey = journey_create(
        workspace,
        trigger={"conditions": {"field": "data.order_total", "op": "gt", "value": 100}},
    )

    low = invoke(client, journey.public_id, {"user_id": "u1", "data": {"order_total": 20}})
    high = invoke(client, journey.public_id, {"user_id": "u2", "data": {"order_total": 200}})

    assert low.status_code == 422
    assert low.json() == error("Trigger conditions not met", status="conditions_not_met")
    assert high.status_code == 202
    assert list(Enrollment.objects.values_list("customer__external_id", flat=True)) == ["u2"]
    assert not Customer.objects.filter(external_id="u1").exists()


def test_an_archived_journey_is_422(client, order_journey):
    journey_archive(journey=order_journey)

    response = invoke(client, order_journey.public_id, {"user_id": "u1"})

    assert response.status_code == 422
    message = f"Cannot invoke archived journey {order_journey.public_id}"
    assert response.json() == error(message, status="archived")
    assert not Enrollment.objects.exists()


def test_a_paused_journey_is_422(client, order_journey):
    journey_pause(journey=order_journey)

    response = invoke(client, order_journey.public_id, {"user_id": "u1"})

    assert response.status_code == 422
    assert response.json()["message"] == f"Cannot invoke paused journey {order_journey.public_id}"


def test_an_entry_rule_that_refuses_the_user_is_422_saying_which(client, workspace, ada):
    once = journey_create(workspace)  # no re-entry
    first = invoke(client, once.public_id, {"user_id": "user_ada"})

    again = invoke(client, once.public_id, {"user_id": "user_ada"})

    assert first.status_code == 202
    assert again.status_code == 422
    assert again.json() == error(
        "Entry rules: the user is already in this journey", status="already_enrolled"
    )
    assert Enrollment.objects.count() == 1


def test_an_inactive_user_is_409(client, order_journey, ada):
    Customer.objects.filter(pk=ada.pk).update(status=Customer.Status.INACTIVE)

    response = invoke(client, order_journey.public_id, {"user_id": "user_ada"})

    assert response.status_code == 409
    assert response.json()["message"] == "Cannot invoke a journey for an inactive user"
    assert not Enrollment.objects.exists()


def test_an_event_triggered_journey_cannot_be_invoked(client, workspace):
    journey = journey_create(workspace, trigger={"type": "event", "event": "Signed Up"})

    response = invoke(client, journey.public_id, {"user_id": "u1"})

    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid journey type")


def test_a_missing_or_wrong_key_is_401(anonymous_client, order_journey):
    missing = invoke(anonymous_client, order_journey.public_id, {"user_id": "u1"})
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer sk_nope")
    wrong = invoke(anonymous_client, order_journey.public_id, {"user_id": "u1"})

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.json()["type"] == "invalid_request_error"
    assert wrong.json()["message"] == "invalid API key"
    assert not Enrollment.objects.exists()


# --- POST /journeys/cancel ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        lambda run_id: {"cancelation_token": "order-ORD-9042", "run_id": run_id},
        lambda run_id: {},
        lambda run_id: {"other": run_id},
    ],
    ids=["both", "neither", "something else"],
)
def test_cancel_needs_exactly_one_of_token_and_run_id(client, order_journey, body):
    run_id = invoke(client, order_journey.public_id, {"user_id": "u1", "data": SEED_DATA})
    run_id = run_id.json()["runId"]

    response = client.post("/compat/courier/journeys/cancel", body(run_id), format="json")

    assert response.status_code == 400
    assert response.json() == error("Provide either cancelation_token or run_id")
    run = Enrollment.objects.get(public_id=run_id)
    assert (run.state, run.exit_reason) == ("active", "")


# --- What Courier's clients send around it ------------------------------------------------


def test_the_same_idempotency_key_replays_the_first_answer(client, order_journey):
    first = invoke(client, order_journey.public_id, {"user_id": "u1"}, HTTP_IDEMPOTENCY_KEY="k1")
    again = invoke(client, order_journey.public_id, {"user_id": "u1"}, HTTP_IDEMPOTENCY_KEY="k1")
    other = invoke(client, order_journey.public_id, {"user_id": "u2"}, HTTP_IDEMPOTENCY_KEY="k1")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Enrollment.objects.count() == 1


@pytest.mark.parametrize(
    ("header", "lifetime"),
    [
        (lambda now: str(int((now + timedelta(days=7)).timestamp() * 1000)), timedelta(days=7)),
        (lambda now: (now + timedelta(days=30)).isoformat(), timedelta(days=30)),
        (lambda now: "2000-01-01T00:00:00Z", timedelta(hours=24)),  # at least 24 hours
        (lambda now: (now + timedelta(days=900)).isoformat(), timedelta(days=365)),  # a year
    ],
    ids=["epoch ms", "ISO 8601", "too soon", "too late"],
)
def test_x_idempotency_expiration_sets_how_long_the_key_lives(
    client, order_journey, header, lifetime
):
    now = timezone.now()

    response = invoke(
        client,
        order_journey.public_id,
        {"user_id": "u1"},
        HTTP_IDEMPOTENCY_KEY="k1",
        HTTP_X_IDEMPOTENCY_EXPIRATION=header(now),
    )

    assert response.status_code == 202
    expires_at = IdempotencyRecord.objects.get().expires_at
    assert abs(expires_at - (now + lifetime)) < timedelta(seconds=5)


def test_a_key_past_its_own_expiry_executes_again(client, order_journey):
    url_body = {"user_id": "u1"}
    three_days = (timezone.now() + timedelta(days=3)).isoformat()
    invoke(
        client,
        order_journey.public_id,
        url_body,
        HTTP_IDEMPOTENCY_KEY="k1",
        HTTP_X_IDEMPOTENCY_EXPIRATION=three_days,
    )
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    kept = invoke(client, order_journey.public_id, url_body, HTTP_IDEMPOTENCY_KEY="k1")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = invoke(client, order_journey.public_id, url_body, HTTP_IDEMPOTENCY_KEY="k1")

    assert kept["Idempotent-Replayed"] == "true"  # 2 days old, but it asked for 3
    assert expired.status_code == 202 and "Idempotent-Replayed" not in expired
    assert Enrollment.objects.count() == 2


def test_a_bad_expiration_header_is_400(client, order_journey):
    response = invoke(
        client,
        order_journey.public_id,
        {"user_id": "u1"},
        HTTP_IDEMPOTENCY_KEY="k1",
        HTTP_X_IDEMPOTENCY_EXPIRATION="next tuesday",
    )

    assert response.status_code == 400
    assert response.json()["message"].startswith("x-idempotency-expiration: expected epoch")
    assert not Enrollment.objects.exists()


def test_invoking_counts_against_the_keys_trigger_budget(client, order_journey, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(trigger_rate_limit_per_minute=2)

    codes = [invoke(client, order_journey.public_id, {"user_id": f"u{i}"}) for i in range(3)]

    assert [response.status_code for response in codes] == [202, 202, 429]
    limited = codes[-1]
    assert limited["RateLimit-Policy"] == '"trigger";q=2;w=60'
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["type"] == "invalid_request_error"
    assert limited.json()["message"].startswith("rate limit exceeded")
    # Reading runs has a budget of its own.
    assert client.get("/compat/courier/journeys/runs")["RateLimit-Policy"].startswith('"default"')
