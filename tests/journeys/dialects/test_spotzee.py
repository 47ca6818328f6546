"""The Spotzee dialect (seed 003): ``/compat/spotzee/journeys`` and ``.../trigger``."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import ApiKey, Customer
from delivery.models import Message
from journeys.authoring.services import journey_archive, journey_pause
from journeys.engine.claims import runs_claim
from journeys.engine.runner import runs_walk
from journeys.models import Enrollment, IdempotencyRecord, Journey
from tests.factories import customers_create, journey_create

pytestmark = pytest.mark.django_db

BASE = "/compat/spotzee"


@pytest.fixture
def journey(workspace):
    return journey_create(
        workspace,
        name="Welcome",
        steps=[{"key": "welcome", "type": "send", "channel": "email", "subject": "Welcome",
                "body": "Your trial ends {{ trial_ends_at }}", "next": None}],
    )  # fmt: skip


def trigger(client, journey_id, body, **headers):
    return client.post(f"{BASE}/journeys/{journey_id}/trigger", body, format="json", **headers)


def entered():
    """Who has a run, and the data their run carries, by external_id or email."""
    return {
        run.customer.external_id or run.customer.email: run.context["payload"]
        for run in Enrollment.objects.select_related("customer")
    }


def error(index, code, message=None, **identifiers):
    """One entry of the answer's ``errors``; ``message`` None: whatever it says."""
    return {
        "index": index,
        "external_id": None,
        "anonymous_id": None,
        "email": None,
        **identifiers,
        "code": code,
        "message": message,
    }


def errors_of(response):
    return [{**e, "message": None} for e in response.json()["errors"]]


# --- GET /journeys ------------------------------------------------------------------


def test_list_shows_the_keys_workspace_journeys_newest_first_in_spotzee_statuses(
    client, workspace, other_workspace
):
    draft = journey_create(workspace, name="Draft", status=Journey.Status.DRAFT)
    live = journey_create(workspace, name="Live")
    paused = journey_create(workspace, name="Paused")
    journey_pause(journey=paused)
    archived = journey_create(workspace, name="Archived")
    journey_archive(journey=archived)
    journey_create(other_workspace, name="Not ours")

    response = client.get(f"{BASE}/journeys?limit=100")

    assert response.status_code == 200
    body = response.json()
    # Newest first by id, which starts with its creation time (to the millisecond).
    assert [(j["id"], j["name"], j["status"]) for j in body["results"]] == sorted(
        [
            (archived.public_id, "Archived", "off"),
            (paused.public_id, "Paused", "off"),
            (live.public_id, "Live", "live"),
            (draft.public_id, "Draft", "draft"),
        ],
        reverse=True,
    )
    assert {j["project_id"] for j in body["results"]} == {workspace.public_id}
    assert set(body["results"][0]) == {
        "id", "project_id", "name", "status", "created_at", "updated_at"
    }  # fmt: skip
    assert (body["nextCursor"], body["prevCursor"], body["limit"]) == (None, None, 100)


def test_list_pages_25_by_default_and_follows_next_cursor_to_the_end(client, workspace):
    ids = [journey_create(workspace, name=f"J{i}").public_id for i in range(30)]

    first = client.get(f"{BASE}/journeys").json()
    second = client.get(f"{BASE}/journeys", {"cursor": first["nextCursor"]}).json()

    assert (len(first["results"]), first["limit"]) == (25, 25)
    assert first["nextCursor"] == first["results"][-1]["id"]
    assert (len(second["results"]), second["nextCursor"]) == (5, None)
    listed = [j["id"] for j in first["results"] + second["results"]]
    assert listed == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=jrn_%00", "cursor"),
    ],
)
def test_list_refuses_a_limit_out_of_range_or_a_cursor_no_page_gave(client, query, names):
    response = client.get(f"{BASE}/journeys?{query}")

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{names}:")


def test_both_endpoints_need_a_valid_key(anonymous_client, journey):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer sk_wrong")

    listed = anonymous_client.get(f"{BASE}/journeys")
    triggered = trigger(anonymous_client, journey.public_id, {"users": [{"external_id": "x"}]})

    assert (listed.status_code, triggered.status_code) == (401, 401)
    assert listed.json() == {"error": "invalid API key"}
    assert triggered.json() == {"error": "invalid API key"}
    assert not Customer.objects.exists()


def test_both_endpoints_without_an_authorization_header_are_401(anonymous_client, journey):
    listed = anonymous_client.get(f"{BASE}/journeys")
    triggered = trigger(anonymous_client, journey.public_id, {"users": [{"external_id": "x"}]})

    assert (listed.status_code, triggered.status_code) == (401, 401)
    assert listed.json() == {"error": "Authentication credentials were not provided."}
    assert triggered.json() == {"error": "Authentication credentials were not provided."}
    assert not Customer.objects.exists()
    assert not Enrollment.objects.exists()


# --- POST /journeys/{id}/trigger: entrances ------------------------------------------


def test_each_user_enters_with_its_own_data_and_unknown_contacts_are_created(
    client, journey, ada, grace
):
    response = trigger(
        client,
        journey.public_id,
        {
            "users": [
                {"external_id": "user_ada", "data": {"trial_ends_at": "2026-05-12"}},
                {"email": " Grace@Example.com", "data": {"trial_ends_at": "2026-05-13"}},
                {
                    "external_id": "cust_001",
                    "email": "new@example.com",
                    "first_name": "Nova",
                    "timezone": "Europe/Paris",
                    "data": {"trial_ends_at": "2026-05-14", "signup_source": "pricing_page"},
                },
                {"email": "only-email@example.com"},
            ]
        },
    )

    assert response.status_code == 202
    assert response.json() == {"entrances_created": 4, "errors": []}
    assert entered() == {
        "user_ada": {"trial_ends_at": "2026-05-12"},
        "user_grace": {"trial_ends_at": "2026-05-13"},
        "cust_001": {"trial_ends_at": "2026-05-14", "signup_source": "pricing_page"},
        "only-email@example.com": {},
    }
    nova = Customer.objects.get(external_id="cust_001")
    assert (nova.email, nova.attributes, nova.timezone) == (
        "new@example.com",
        {"first_name": "Nova"},
        "Europe/Paris",
    )
    assert Customer.objects.count() == 4
    assert {run.current_step for run in Enrollment.objects.all()} == {"welcome"}


def test_traits_update_a_known_contact_and_a_new_identifier_attaches_to_it(client, journey, ada):
    response = trigger(
        client,
        journey.public_id,
        {"users": [{"external_id": "user_ada", "anonymous_id": "anon-7", "plan": "pro"}]},
    )

    assert response.json() == {"entrances_created": 1, "errors": []}
    ada.refresh_from_db()
    assert ada.anonymous_id == "anon-7"
    assert ada.attributes == {"first_name": "Ada", "plan": "pro", "age": 36}


def test_an_anonymous_id_alone_finds_a_known_contact_but_cannot_create_one(
    client, journey, workspace
):
    visitor = Customer.objects.create(workspace=workspace, anonymous_id="anon-1")

    response = trigger(
        client,
        journey.public_id,
        {"users": [{"anonymous_id": "anon-1"}, {"anonymous_id": "anon-2", "data": {"x": 1}}]},
    )

    assert response.status_code == 202
    assert response.json() == {
        "entrances_created": 1,
        "errors": [
            error(
                1,
                "contact_not_found",
                "contact not found and not enough information to create one: an "
                "anonymous_id alone only finds a known contact; give an external_id or an email",
                anonymous_id="anon-2",
            )
        ],
    }
    assert Enrollment.objects.get().customer == visitor
    assert Customer.objects.count() == 1


def test_entry_rules_refuse_per_user_and_the_others_enter(client, journey, ada, grace):
    trigger(client, journey.public_id, {"users": [{"external_id": "user_ada"}]})

    response = trigger(
        client,
        journey.public_id,
        {"users": [{"external_id": "user_ada"}, {"external_id": "user_grace"}]},
    )

    assert response.status_code == 202
    assert response.json() == {
        "entrances_created": 1,
        "errors": [
            error(
                0,
                "already_enrolled",
                "contact is already in this journey",
                external_id="user_ada",
            )
        ],
    }
    assert sorted(entered()) == ["user_ada", "user_grace"]
    assert Enrollment.objects.count() == 2


def test_contacts_that_cannot_be_upserted_or_data_that_breaks_the_schema_are_per_user_errors(
    client, workspace, ada, grace
):
    journey = journey_create(
        workspace, trigger={"schema": [{"name": "trial_ends_at", "type": "datetime"}]}
    )
    Customer.objects.create(workspace=workspace, external_id="gone", status="inactive")

    response = trigger(
        client,
        journey.public_id,
        {
            "users": [
                {"external_id": "user_ada", "email": "grace@example.com"},
                {"external_id": "user_grace"},
                {"email": "GRACE@example.com"},
                {"external_id": "gone"},
                {"external_id": "fresh", "data": {"trial_ends_at": 12}},
            ]
        },
    )

    assert response.status_code == 202
    assert response.json()["entrances_created"] == 1
    assert errors_of(response) == [
        error(0, "contact_conflict", external_id="user_ada", email="grace@example.com"),
        error(2, "duplicate_user", email="grace@example.com"),
        error(3, "contact_inactive", external_id="gone"),
        error(4, "invalid_data", external_id="fresh"),
    ]
    messages = [e["message"] for e in response.json()["errors"]]
    assert "already belongs to another customer" in messages[0]
    assert messages[1] == "names the same contact as users[1]: a contact enters once a call"
    assert messages[3] == "data.trial_ends_at: expected datetime, got int"
    assert list(entered()) == ["user_grace"]


def test_trigger_and_entry_conditions_read_each_users_own_data(client, workspace):
    journey = journey_create(
        workspace,
        trigger={"conditions": {"field": "data.plan", "op": "ne", "value": "free"}},
        entry={"conditions": {"any": [
            {"field": "customer.vip", "op": "eq", "value": True},
            {"field": "data.plan", "op": "eq", "value": "pro"},
        ]}},
    )  # fmt: skip
    customers_create(workspace, 4)
    Customer.objects.filter(external_id="user_3").update(attributes={"vip": True})

    response = trigger(
        client,
        journey.public_id,
        {
            "users": [
                {"external_id": "user_0", "data": {"plan": "pro"}},
                {"external_id": "user_1", "data": {"plan": "free"}},
                {"external_id": "user_2", "data": {"plan": "team"}},
                {"external_id": "user_3", "data": {"plan": "team"}},
            ]
        },
    )

    assert response.json()["entrances_created"] == 2
    assert errors_of(response) == [
        error(1, "conditions_not_met", external_id="user_1"),
        error(2, "conditions_not_met", external_id="user_2"),
    ]
    assert sorted(entered()) == ["user_0", "user_3"]


def test_each_users_data_renders_at_the_top_level_of_the_journeys_templates(
    client, workspace, ada, grace, smtp_server
):
    journey = journey_create(
        workspace,
        steps=[{"key": "welcome", "type": "send", "channel": "email",
                "subject": "Welcome {{ customer.first_name }}",
                "body": "Your trial ends {{ trial_ends_at }} ({{ data.trial_ends_at }})",
                "next": None}],
    )  # fmt: skip

    trigger(
        client,
        journey.public_id,
        {
            "users": [
                {"external_id": "user_ada", "data": {"trial_ends_at": "2026-05-12"}},
                {"external_id": "user_grace", "data": {"trial_ends_at": "2026-05-19"}},
            ]
        },
    )
    runs_walk(runs_claim(run_ids=list(Enrollment.objects.values_list("pk", flat=True))))

    assert set(Enrollment.objects.values_list("state", flat=True)) == {"completed"}
    assert {(m.recipient, m.body) for m in Message.objects.all()} == {
        ("ada@example.com", "Your trial ends 2026-05-12 (2026-05-12)"),
        ("grace@example.com", "Your trial ends 2026-05-19 (2026-05-19)"),
    }
    assert sorted(mail["Subject"] for mail in smtp_server.messages) == [
        "Welcome Ada",
        "Welcome Grace",
    ]


def test_many_users_enter_in_one_insert_and_known_contacts_cost_no_query_each(
    client, workspace, journey
):
    customers_create(workspace, 200)

    def queries_for(count, offset):
        users = [
            {"external_id": f"user_{i}", "data": {"n": i}} for i in range(offset, offset + count)
        ]
        with CaptureQueriesContext(connection) as captured:
            response = trigger(client, journey.public_id, {"users": users})
        assert response.json() == {"entrances_created": count, "errors": []}
        return [q["sql"] for q in captured.captured_queries]

    queries_for(1, 0)  # the key's last use and the journey's version, read once
    few = queries_for(10, 1)
    many = queries_for(189, 11)

    assert len(many) == len(few)
    inserts = [sql for sql in many if "INSERT INTO" in sql and "journeys_enrollment" in sql]
    assert len(inserts) == 1
    assert entered()["user_150"] == {"n": 150}


# --- POST /journeys/{id}/trigger: refusals -------------------------------------------


@pytest.mark.parametrize(
    ("make", "spotzee_status"),
    [
        (lambda j: Journey.objects.filter(pk=j.pk).update(status="draft"), "draft"),
        (lambda j: journey_pause(journey=j), "off"),
        (lambda j: journey_archive(journey=j), "off"),
    ],
)
def test_draft_and_off_journeys_answer_409_and_write_nothing(
    client, journey, ada, make, spotzee_status
):
    make(journey)

    response = trigger(
        client,
        journey.public_id,
        {"users": [{"external_id": "user_ada"}, {"external_id": "someone_new"}]},
    )

    assert response.status_code == 409
    assert response.json() == {
        "error": f"journey is {spotzee_status}: only live journeys accept entrances",
        "code": "journey_not_live",
        "status": spotzee_status,
    }
    assert not Enrollment.objects.exists()
    assert not Customer.objects.filter(external_id="someone_new").exists()


def test_unknown_journeys_and_other_workspaces_journeys_are_404(client, other_workspace, ada):
    theirs = journey_create(other_workspace)

    for journey_id in ("jrn_nope", theirs.public_id):
        response = trigger(client, journey_id, {"users": [{"external_id": "new_one"}]})

        assert response.status_code == 404
        assert response.json()["error"] == "Journey not found"
    assert not Customer.objects.filter(external_id="new_one").exists()


def test_an_event_triggered_journey_is_400(client, workspace, ada):
    journey = journey_create(workspace, trigger={"type": "event", "event": "Signed Up"})

    response = trigger(client, journey.public_id, {"users": [{"external_id": "user_ada"}]})

    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid journey type")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "users: This field is required."),
        ({"users": []}, "users: This list may not be empty."),
        ({"users": "ada"}, 'users: Expected a list of items but got type "str".'),
        ({"users": [{"external_id": "a"}] * 1001}, "users: at most 1,000 users a call"),
        ({"users": ["ada"]}, "users[0]: Invalid data. Expected a dictionary, but got str."),
        (
            {"users": [{"external_id": "a"}, {"external_id": "", "data": {"x": 1}}]},
            "users[1]: a user needs an external_id, an anonymous_id or an email",
        ),
        ({"users": [{"external_id": 5}]}, "users[0].external_id: must be a string"),
        ({"users": [{"external_id": "a" * 256}]}, "users[0].external_id: Ensure this field"),
        ({"users": [{"email": "not-an-email"}]}, "users[0].email: Enter a valid email address."),
        ({"users": [{"external_id": "a", "data": [1]}]}, "users[0].data: Expected a dictionary"),
        ({"users": [{"external_id": "a", "timezone": "Mars/Olympus"}]}, "users[0].timezone: "),
        (["users"], "request body must be a JSON object"),
    ],
)
def test_bad_input_is_400_naming_the_problem_and_writes_nothing(client, journey, body, message):
    response = trigger(client, journey.public_id, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert not Customer.objects.exists()
    assert not Enrollment.objects.exists()


def test_the_same_idempotency_key_and_body_replays_the_first_answer(client, journey, ada):
    body = {"users": [{"external_id": "user_ada"}, {"anonymous_id": "unknown"}]}

    first = trigger(client, journey.public_id, body, HTTP_IDEMPOTENCY_KEY="welcome:ada:1")
    again = trigger(client, journey.public_id, body, HTTP_IDEMPOTENCY_KEY="welcome:ada:1")
    other = trigger(
        client,
        journey.public_id,
        {"users": [{"external_id": "user_ada"}]},
        HTTP_IDEMPOTENCY_KEY="welcome:ada:1",
    )

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert first.json()["entrances_created"] == 1
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Enrollment.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_triggers_count_against_the_keys_trigger_budget(client, api_key, journey, ada):
    ApiKey.objects.filter(pk=api_key.pk).update(trigger_rate_limit_per_minute=2)
    body = {"users": [{"external_id": "user_ada"}]}

    answers = [trigger(client, journey.public_id, body) for _ in range(3)]
    listed = client.get(f"{BASE}/journeys")

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert answers[1]["RateLimit-Policy"] == '"trigger";q=2;w=60'
    assert listed.status_code == 200
    assert listed["RateLimit-Policy"].startswith('"default";')


def test_the_openapi_schema_documents_both_operations(anonymous_client):
    schema = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    listing = schema["paths"][f"{BASE}/journeys"]["get"]
    triggering = schema["paths"][f"{BASE}/journeys/{{journey_id}}/trigger"]["post"]
    assert {"200", "400", "401", "429"} <= set(listing["responses"])
    assert {"202", "400", "401", "404", "409", "413", "422", "429"} <= set(triggering["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in triggering["parameters"])
    users = schema["components"]["schemas"]["SpotzeeTriggerRequest"]["properties"]["users"]
    assert (users["minItems"], users["maxItems"]) == (1, 1000)
    user = schema["components"]["schemas"]["SpotzeeUserRequest"]
    assert [branch["required"] for branch in user["anyOf"]] == [
        ["external_id"],
        ["anonymous_id"],
        ["email"],
    ]
