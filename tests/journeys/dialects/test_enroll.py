"""The enroll dialect (seed 001): ``POST /compat/enroll/v1/journeys/{id}/enroll``.

Every example and error of the seed, then its requirements and notes, then what the
product adds (idempotency, rate limits, its own entry rules)."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import ApiKey, Customer
from journeys.entry.core import Outcome
from journeys.entry.dialects.enroll.service import enroll_entry_rules
from journeys.entry.service import Audience, journey_trigger
from journeys.models import Enrollment, IdempotencyRecord, Journey
from segments.models import Segment
from tests.concurrency import in_parallel
from tests.factories import (
    customers_create,
    journey_create,
    run_finish,
    runs_waiting_create,
    segment_create,
)

pytestmark = pytest.mark.django_db

NO_ADDRESSES = {
    "error": {
        "base": ["at least one of contact_email_addresses or list_email_addresses must be provided"]
    }
}


def person(workspace, email, **fields):
    return Customer.objects.create(workspace=workspace, email=email, **fields)


@pytest.fixture
def journey(workspace):
    """Re-entry allowed: the journey's rules add nothing to the vendor's."""
    return journey_create(workspace, entry={"allow_reentry": True})


@pytest.fixture
def users(workspace):
    return [person(workspace, f"user{i}@example.com") for i in (1, 2, 3)]


def enroll(client, journey, body, **headers):
    journey_id = journey if isinstance(journey, str) else journey.public_id
    return client.post(
        f"/compat/enroll/v1/journeys/{journey_id}/enroll", body, format="json", **headers
    )


def emails_enrolled(journey, state="active"):
    runs = Enrollment.objects.filter(journey=journey, state=state)
    return sorted(runs.values_list("customer__email", flat=True))


def nobody_left_out(**reasons):
    return {"not_found": [], "already_enrolled": [], "recently_completed": [], **reasons}


# --- The seed's example payloads and responses ---------------------------------------


def test_enroll_individual_contacts(client, journey, users):
    response = enroll(
        client,
        journey,
        {
            "contact_email_addresses": [
                "user1@example.com",
                "user2@example.com",
                "user3@example.com",
            ]
        },
    )

    assert response.status_code == 200
    assert response.json() == {"enrolled_count": 3, "not_enrolled": nobody_left_out()}
    assert emails_enrolled(journey) == [u.email for u in users]
    run = Enrollment.objects.filter(journey=journey).first()
    assert run.context["payload"] == {}
    assert run.wake_at is not None  # due now: the worker walks it at once


def test_enroll_all_members_of_lists_each_once(client, journey, workspace):
    ana, bo, cy = (person(workspace, f"{n}@company.com") for n in ("ana", "bo", "cy"))
    segment_create(workspace, [ana, bo], name="Team", list_email="team@company.com")
    segment_create(workspace, [bo, cy], name="Engineering", list_email="engineering@company.com")

    response = enroll(
        client, journey, {"list_email_addresses": ["team@company.com", "engineering@company.com"]}
    )

    assert response.status_code == 200
    assert response.json() == {"enrolled_count": 3, "not_enrolled": nobody_left_out()}
    assert emails_enrolled(journey) == ["ana@company.com", "bo@company.com", "cy@company.com"]


def test_combine_both_methods_deduplicates_across_them(client, journey, workspace, users):
    other = person(workspace, "other@company.com")
    segment_create(workspace, [users[0], other], name="Team", list_email="team@company.com")

    response = enroll(
        client,
        journey,
        {
            "contact_email_addresses": ["user1@example.com"],
            "list_email_addresses": ["team@company.com"],
        },
    )

    assert response.status_code == 200
    assert response.json() == {"enrolled_count": 2, "not_enrolled": nobody_left_out()}
    assert emails_enrolled(journey) == ["other@company.com", "user1@example.com"]


def test_success_response_lists_who_was_not_enrolled_and_why(client, journey, workspace):
    for name in ("new.one", "new.two", "already.in", "just.finished"):
        person(workspace, f"{name}@example.com")
    enroll(client, journey, {"contact_email_addresses": ["already.in@example.com"]})
    enroll(client, journey, {"contact_email_addresses": ["just.finished@example.com"]})
    finished = Enrollment.objects.get(customer__email="just.finished@example.com")
    run_finish(finished, state=Enrollment.State.COMPLETED, ago_seconds=3600)

    response = enroll(
        client,
        journey,
        {
            "contact_email_addresses": [
                "new.one@example.com",
                "unknown@example.com",
                "already.in@example.com",
                "just.finished@example.com",
                "new.two@example.com",
            ]
        },
    )

    assert response.status_code == 200
    assert response.json() == {
        "enrolled_count": 2,
        "not_enrolled": {
            "not_found": ["unknown@example.com"],
            "already_enrolled": ["already.in@example.com"],
            "recently_completed": ["just.finished@example.com"],
        },
    }
    assert emails_enrolled(journey) == [
        "already.in@example.com",
        "new.one@example.com",
        "new.two@example.com",
    ]


def test_journey_not_found_is_404(client, journey, other_workspace):
    elsewhere = journey_create(other_workspace)
    body = {"contact_email_addresses": ["user1@example.com"]}

    for journey_id in ("jrn_nope", elsewhere.public_id):
        response = enroll(client, journey_id, body)

        assert response.status_code == 404
        assert response.json() == {"error": "Journey not found"}
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    ("status", "vendor_state"),
    [
        (Journey.Status.DRAFT, "draft"),
        (Journey.Status.PAUSED, "off"),
        (Journey.Status.ARCHIVED, "archived"),
    ],
)
def test_journey_not_on_is_422_naming_its_state(client, workspace, users, status, vendor_state):
    journey = journey_create(workspace, status=status)

    response = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    assert response.status_code == 422
    assert response.json() == {
        "error": f"Journey must be in 'on' state to enroll people. Current state: {vendor_state}"
    }
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"contact_email_addresses": [], "list_email_addresses": []},
        {"contact_email_addresses": None, "list_email_addresses": None},
    ],
)
def test_no_emails_is_422_in_the_base_shape(client, journey, body):
    response = enroll(client, journey, body)

    assert response.status_code == 422
    assert response.json() == NO_ADDRESSES


def test_list_not_found_is_422_and_enrolls_nobody(client, journey, workspace, users):
    segment_create(workspace, users[:1], name="Team", list_email="team@company.com")

    response = enroll(
        client,
        journey,
        {
            "contact_email_addresses": ["user2@example.com"],
            "list_email_addresses": ["team@company.com", "nonexistent@company.com"],
        },
    )

    assert response.status_code == 422
    assert response.json() == {"error": "No list found with email address: nonexistent@company.com"}
    assert not Enrollment.objects.exists()


def test_multiple_lists_with_the_same_email_is_422(client, journey, workspace, users):
    # Addresses are unique per workspace once normalised; a row written around the
    # model's normalisation (here an UPDATE) is the only way to have two.
    segment_create(workspace, users[:1], name="One", list_email="duplicate@company.com")
    second = segment_create(workspace, users[1:2], name="Two")
    Segment.objects.filter(pk=second.pk).update(list_email=" Duplicate@Company.com")

    response = enroll(client, journey, {"list_email_addresses": ["duplicate@company.com"]})

    assert response.status_code == 422
    assert response.json() == {
        "error": "Multiple lists (2) found with email address: duplicate@company.com. "
        "Please ensure each list has a unique email address."
    }
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    "authorization", [None, "Bearer sk_not_a_key", "Basic dXNlcjpwdw==", "Bearer"]
)
def test_missing_or_invalid_token_is_401(journey, users, authorization):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    response = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert not Enrollment.objects.exists()


def test_revoked_key_is_401(client, journey, users, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())

    response = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    assert response.status_code == 401
    assert response.json() == {"error": "API key has been revoked"}


# --- Requirements ----------------------------------------------------------------------


def test_inactive_contacts_are_not_found_and_not_enrolled(client, journey, workspace):
    person(workspace, "gone@example.com", status=Customer.Status.INACTIVE)

    response = enroll(client, journey, {"contact_email_addresses": ["gone@example.com"]})

    assert response.json() == {
        "enrolled_count": 0,
        "not_enrolled": nobody_left_out(not_found=["gone@example.com"]),
    }
    assert not Enrollment.objects.exists()


def test_inactive_list_members_are_skipped_silently(client, journey, workspace):
    active = person(workspace, "in@company.com")
    inactive = person(workspace, "out@company.com", status=Customer.Status.INACTIVE)
    segment_create(workspace, [active, inactive], list_email="team@company.com")

    response = enroll(client, journey, {"list_email_addresses": ["team@company.com"]})

    assert response.json() == {"enrolled_count": 1, "not_enrolled": nobody_left_out()}


def test_a_currently_enrolled_contact_is_not_restarted(client, journey, users):
    # The journey restarts active runs on re-entry; the dialect never does.
    assert journey.live_version.spec.entry.restarts_active
    first = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    again = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    assert first.json()["enrolled_count"] == 1
    assert again.json() == {
        "enrolled_count": 0,
        "not_enrolled": nobody_left_out(already_enrolled=["user1@example.com"]),
    }
    assert Enrollment.objects.filter(journey=journey).count() == 1
    assert Enrollment.objects.get().state == Enrollment.State.ACTIVE


@pytest.mark.parametrize(
    ("hours_ago", "enrolled"), [(1, False), (11.9, False), (12.1, True), (48, True)]
)
def test_completed_within_12_hours_is_recently_completed(
    client, journey, users, hours_ago, enrolled
):
    enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})
    run_finish(Enrollment.objects.get(), state="completed", ago_seconds=int(hours_ago * 3600))

    response = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    if enrolled:
        assert response.json() == {"enrolled_count": 1, "not_enrolled": nobody_left_out()}
        assert emails_enrolled(journey) == ["user1@example.com"]
    else:
        assert response.json() == {
            "enrolled_count": 0,
            "not_enrolled": nobody_left_out(recently_completed=["user1@example.com"]),
        }


def test_a_longer_cooldown_of_the_journey_still_holds(client, workspace, users):
    journey = journey_create(
        workspace, entry={"allow_reentry": True, "reentry_cooldown_seconds": 3 * 86400}
    )
    enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})
    run_finish(Enrollment.objects.get(), state="completed", ago_seconds=86400)

    response = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    assert response.json()["not_enrolled"]["recently_completed"] == ["user1@example.com"]


def test_a_journey_without_reentry_keeps_its_rule(client, workspace, users):
    journey = journey_create(workspace)  # allow_reentry false: one entry, ever
    enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})
    run_finish(Enrollment.objects.get(), state="completed", ago_seconds=48 * 3600)

    response = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    assert response.json() == {
        "enrolled_count": 0,
        "not_enrolled": nobody_left_out(already_enrolled=["user1@example.com"]),
    }


def test_the_journeys_maximum_and_conditions_add_their_own_reasons(client, workspace, ada, grace):
    journey = journey_create(
        workspace,
        entry={
            "allow_reentry": True,
            "max_entries_per_customer": 2,
            "conditions": {"field": "customer.plan", "op": "eq", "value": "vip"},
        },
    )
    for _ in range(2):  # two completed entries, two days ago: the maximum
        (run,) = runs_waiting_create(journey, [ada], wake_at=timezone.now())
        run_finish(run, state=Enrollment.State.COMPLETED, ago_seconds=2 * 86400)

    response = enroll(
        client, journey, {"contact_email_addresses": ["ada@example.com", "grace@example.com"]}
    )

    assert response.json() == {
        "enrolled_count": 0,
        "not_enrolled": nobody_left_out(
            max_entries_reached=["ada@example.com"], conditions_not_met=["grace@example.com"]
        ),
    }


def test_trigger_conditions_unmet_name_everyone_as_not_meeting_them(client, workspace, users):
    # The enroll API sends no payload, so a condition on it is never met.
    journey = journey_create(
        workspace, trigger={"conditions": {"field": "data.plan", "op": "eq", "value": "pro"}}
    )

    response = enroll(
        client, journey, {"contact_email_addresses": ["user2@example.com", "user1@example.com"]}
    )

    assert response.json() == {
        "enrolled_count": 0,
        "not_enrolled": nobody_left_out(
            conditions_not_met=["user1@example.com", "user2@example.com"]
        ),
    }
    assert not Enrollment.objects.exists()


def test_an_event_triggered_journey_is_422(client, workspace, users):
    journey = journey_create(workspace, trigger={"type": "event", "event": "Signed Up"})

    response = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    assert response.status_code == 422
    assert response.json()["error"].startswith("Invalid journey type")


def test_a_payload_the_journey_requires_is_422(client, workspace, users):
    journey = journey_create(
        workspace, trigger={"schema": [{"name": "plan", "type": "string", "required": True}]}
    )

    response = enroll(client, journey, {"contact_email_addresses": ["user1@example.com"]})

    assert response.status_code == 422
    assert response.json()["error"] == "payload.plan is required (string)"
    assert not Enrollment.objects.exists()


# --- Notes -----------------------------------------------------------------------------


def test_addresses_are_trimmed_lowercased_and_deduplicated(client, journey, workspace, users):
    segment_create(workspace, users[:2], list_email="team@company.com")

    response = enroll(
        client,
        journey,
        {
            "contact_email_addresses": [
                "  USER1@Example.com ",
                "user1@example.com",
                " Nobody@Example.com",
                "nobody@example.com ",
            ],
            "list_email_addresses": [" Team@Company.COM", "team@company.com"],
        },
    )

    assert response.status_code == 200
    assert response.json() == {
        "enrolled_count": 2,
        "not_enrolled": nobody_left_out(not_found=["nobody@example.com"]),
    }
    assert Enrollment.objects.count() == 2


def test_nothing_enrolled_is_still_200_with_zero(client, journey):
    response = enroll(client, journey, {"contact_email_addresses": ["unknown@example.com"]})

    assert response.status_code == 200
    assert response.json() == {
        "enrolled_count": 0,
        "not_enrolled": nobody_left_out(not_found=["unknown@example.com"]),
    }


def test_not_found_lists_contact_addresses_only_while_members_get_reasons(
    client, journey, workspace, users
):
    segment_create(workspace, users, list_email="team@company.com")
    enroll(client, journey, {"contact_email_addresses": ["user2@example.com"]})

    response = enroll(
        client,
        journey,
        {
            "contact_email_addresses": ["ghost@example.com"],
            "list_email_addresses": ["team@company.com"],
        },
    )

    assert response.json() == {
        "enrolled_count": 2,
        "not_enrolled": nobody_left_out(
            not_found=["ghost@example.com"], already_enrolled=["user2@example.com"]
        ),
    }


def test_a_list_member_without_an_address_is_named_by_id(client, journey, workspace):
    nameless = Customer.objects.create(workspace=workspace, external_id="no-mail")
    segment_create(workspace, [nameless], list_email="team@company.com")
    enroll(client, journey, {"list_email_addresses": ["team@company.com"]})

    response = enroll(client, journey, {"list_email_addresses": ["team@company.com"]})

    assert response.json()["not_enrolled"]["already_enrolled"] == [nameless.public_id]


# --- Limits and malformed requests -----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"contact_email_addresses": [f"u{i}@example.com" for i in range(1001)]},
            "contact_email_addresses",
            "Ensure this field has no more than 1000 elements.",
        ),
        (
            {"list_email_addresses": [f"l{i}@example.com" for i in range(101)]},
            "list_email_addresses",
            "Ensure this field has no more than 100 elements.",
        ),
        (
            {"contact_email_addresses": "user1@example.com"},
            "contact_email_addresses",
            'Expected a list of items but got type "str".',
        ),
        (
            {"contact_email_addresses": ["user1@example.com", 12]},
            "contact_email_addresses",
            "[1] must be a string (got number)",
        ),
        (
            {"contact_email_addresses": ["user1@example.com", "  "]},
            "contact_email_addresses",
            "[1] This field may not be blank.",
        ),
        (
            {"list_email_addresses": ["x" * 321]},
            "list_email_addresses",
            "[0] Ensure this field has no more than 320 characters.",
        ),
        (["user1@example.com"], "base", "Invalid data. Expected a dictionary, but got list."),
    ],
)
def test_invalid_parameters_are_422_by_field(client, journey, users, body, field, message):
    response = enroll(client, journey, body)

    assert response.status_code == 422
    assert response.json() == {"error": {field: [message]}}
    assert not Enrollment.objects.exists()


def test_a_hundred_list_addresses_are_accepted(client, journey, workspace):
    members = customers_create(workspace, 100)
    for i, member in enumerate(members):
        segment_create(workspace, [member], name=f"List {i}", list_email=f"l{i}@example.com")

    response = enroll(
        client, journey, {"list_email_addresses": [f"l{i}@example.com" for i in range(100)]}
    )

    assert response.status_code == 200
    assert response.json() == {"enrolled_count": 100, "not_enrolled": nobody_left_out()}
    assert emails_enrolled(journey) == sorted(member.email for member in members)


@pytest.mark.parametrize(
    "raw", [b'{"contact_email_addresses": ["a@b.c"', b'{"contact_email_addresses": ["\\u0000"]}']
)
def test_a_body_that_is_not_json_is_400(client, journey, raw):
    response = client.post(
        f"/compat/enroll/v1/journeys/{journey.public_id}/enroll",
        raw,
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("JSON parse error")


def test_a_thousand_addresses_take_a_handful_of_queries(
    client, journey, workspace, django_assert_max_num_queries
):
    people = customers_create(workspace, 1000)
    enroll(client, journey, {"contact_email_addresses": [p.email for p in people[:10]]})
    addresses = [p.email for p in people[:999]] + ["ghost@example.com"]

    with django_assert_max_num_queries(20):
        response = enroll(client, journey, {"contact_email_addresses": addresses})

    assert response.json()["enrolled_count"] == 989
    assert len(response.json()["not_enrolled"]["already_enrolled"]) == 10
    assert response.json()["not_enrolled"]["not_found"] == ["ghost@example.com"]
    assert Enrollment.objects.filter(journey=journey).count() == 999


# --- Idempotency and rate limits, as the native trigger ---------------------------------


def test_same_idempotency_key_replays_the_first_answer(client, journey, users):
    body = {"contact_email_addresses": ["user1@example.com"]}

    first = enroll(client, journey, body, HTTP_IDEMPOTENCY_KEY="enroll-1")
    second = enroll(client, journey, body, HTTP_IDEMPOTENCY_KEY="enroll-1")

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() == {"enrolled_count": 1, "not_enrolled": nobody_left_out()}
    assert second["Idempotent-Replayed"] == "true"
    assert Enrollment.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_422(client, journey, users):
    enroll(
        client,
        journey,
        {"contact_email_addresses": ["user1@example.com"]},
        HTTP_IDEMPOTENCY_KEY="k",
    )

    response = enroll(
        client,
        journey,
        {"contact_email_addresses": ["user2@example.com"]},
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert response.status_code == 422
    assert "different request" in response.json()["error"]
    assert emails_enrolled(journey) == ["user1@example.com"]


def test_a_failed_enroll_stores_no_idempotency_record(client, journey):
    response = enroll(client, journey, {}, HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 422
    assert not IdempotencyRecord.objects.exists()


def test_enroll_spends_the_trigger_budget(client, journey, users, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(trigger_rate_limit_per_minute=1)
    body = {"contact_email_addresses": ["user1@example.com"]}

    first = enroll(client, journey, body)
    second = enroll(client, journey, body)

    assert first.status_code == 200
    assert first["RateLimit-Policy"] == '"trigger";q=1;w=60'
    assert first["X-RateLimit-Remaining"] == "0"
    assert second.status_code == 429
    assert int(second["Retry-After"]) >= 1
    assert second.json()["error"].startswith("rate limit exceeded")


# --- Concurrency -----------------------------------------------------------------------


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_enrolls_enroll_each_contact_once(raw_api_key, workspace):
    journey = journey_create(workspace, entry={"allow_reentry": True})
    people = customers_create(workspace, 40)
    body = {"contact_email_addresses": [p.email for p in people]}

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_api_key}")
        return enroll(client, journey, body).json()

    answers = in_parallel(post, 8)

    assert sum(answer["enrolled_count"] for answer in answers) == 40
    for answer in answers:
        left_out = answer["not_enrolled"]["already_enrolled"]
        assert answer["enrolled_count"] + len(left_out) == 40
    per_customer = Counter(Enrollment.objects.values_list("customer_id", flat=True))
    assert set(per_customer.values()) == {1}
    assert len(per_customer) == 40


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_contact_lost_to_a_concurrent_trigger_is_reported_already_enrolled(client, workspace):
    journey = journey_create(workspace, entry={"allow_reentry": True})
    people = customers_create(workspace, 3)
    inserted = threading.Event()

    def rival_trigger() -> None:
        # Commits an active run for people[0] while the enroll's statement, which did
        # not see it, waits on the unique index to insert the same customer's run.
        try:
            with transaction.atomic():
                runs_waiting_create(journey, people[:1], wake_at=timezone.now())
                inserted.set()
                time.sleep(1)
        finally:
            connection.close()

    rival = threading.Thread(target=rival_trigger)
    rival.start()
    inserted.wait(timeout=10)
    response = enroll(client, journey, {"contact_email_addresses": [p.email for p in people]})
    rival.join()

    assert response.json() == {
        "enrolled_count": 2,
        "not_enrolled": nobody_left_out(already_enrolled=[people[0].email]),
    }
    assert Enrollment.objects.filter(customer=people[0]).count() == 1


# --- The OpenAPI schema ----------------------------------------------------------------


def test_the_schema_documents_the_vendors_answers(anonymous_client):
    schema = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/compat/enroll/v1/journeys/{journey_id}/enroll"]["post"]
    responses = operation["responses"]
    assert {"200", "400", "401", "404", "413", "415", "422", "429"} <= set(responses)
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EnrollResponse"
    }
    error = schema["components"]["schemas"]["EnrollError"]["properties"]["error"]
    assert [branch["type"] for branch in error["oneOf"]] == ["string", "object"]
    assert operation["security"] == [{"ApiKey": []}]
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])


def test_the_dialects_rules_hold_for_a_single_trigger_too(workspace, ada):
    # The single-customer statement kept on the version is the journey's own rules
    # compiled: a trigger with other rules must not use it.
    journey = journey_create(workspace, entry={"allow_reentry": True})
    single = Audience(external_id=ada.external_id)
    first = journey_trigger(
        workspace=workspace, journey_id=journey.public_id, audience=single, payload={}
    )
    run_finish(Enrollment.objects.get(), state="completed", ago_seconds=3600)

    kept_out = journey_trigger(
        workspace=workspace,
        journey_id=journey.public_id,
        audience=single,
        payload={},
        entry_rules=enroll_entry_rules,
    )
    let_in = journey_trigger(
        workspace=workspace, journey_id=journey.public_id, audience=single, payload={}
    )

    assert first.outcome == Outcome.ENROLLED
    assert kept_out.outcome == Outcome.RECENTLY_COMPLETED
    assert let_in.outcome == Outcome.ENROLLED
