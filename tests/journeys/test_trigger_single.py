"""The native trigger API, one customer at a time (Tappd seed: request, responses, errors)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from journeys.models import Enrollment, Journey
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def journey(workspace):
    return journey_create(workspace)


def trigger(client, api_base, journey_id, body, **headers):
    return client.post(f"{api_base}/journeys/{journey_id}/trigger", body, format="json", **headers)


def test_trigger_by_external_id_enrolls_a_due_run_pinned_to_the_live_version(
    client, api_base, journey, ada
):
    before = timezone.now()

    response = trigger(
        client,
        api_base,
        journey.public_id,
        {
            "external_id": "user_ada",
            "payload": {"order_id": "A-1"},
        },
    )

    assert response.status_code == 202
    assert response.json() == {"status": "enrolled", "run_id": response.json()["run_id"]}
    run = Enrollment.objects.get()
    assert run.public_id == response.json()["run_id"]
    assert run.public_id.startswith("run_") and len(run.public_id) == 36
    assert (run.customer, run.journey, run.version) == (ada, journey, journey.live_version)
    assert run.state == Enrollment.State.ACTIVE
    assert run.current_step == "welcome"
    assert before <= run.wake_at <= timezone.now()
    assert run.context["payload"] == {"order_id": "A-1"}


@pytest.mark.parametrize(
    ("body_for", "label"),
    [
        (lambda c: {"externalId": c.external_id}, "externalId alias"),
        (lambda c: {"email": "  ADA@Example.com "}, "email, normalised"),
        (lambda c: {"customer_id": c.public_id}, "customer_id"),
        (lambda c: {"customerId": c.public_id}, "customerId alias"),
    ],
)
def test_every_identifier_and_alias_finds_the_customer(
    client, api_base, journey, ada, body_for, label
):
    response = trigger(client, api_base, journey.public_id, body_for(ada))

    assert response.status_code == 202, label
    assert Enrollment.objects.get().customer == ada


def test_properties_is_an_alias_of_payload(client, api_base, journey, ada):
    trigger(
        client, api_base, journey.public_id, {"external_id": "user_ada", "properties": {"x": 1}}
    )

    assert Enrollment.objects.get().context["payload"] == {"x": 1}


def test_unknown_customer_is_404_and_enrolls_nobody(client, api_base, journey, ada):
    response = trigger(client, api_base, journey.public_id, {"external_id": "nobody"})

    assert response.status_code == 404
    assert response.json() == {"error": "Customer not found"}
    assert not Enrollment.objects.exists()


def test_inactive_customer_counts_as_not_found(client, api_base, journey, ada):
    Customer.objects.filter(pk=ada.pk).update(status=Customer.Status.INACTIVE)

    response = trigger(client, api_base, journey.public_id, {"external_id": "user_ada"})

    assert response.status_code == 404


def test_another_workspaces_customer_is_not_found(client, api_base, journey, other_workspace):
    stranger = Customer.objects.create(workspace=other_workspace, external_id="user_ada")

    response = trigger(client, api_base, journey.public_id, {"customer_id": stranger.public_id})

    assert response.status_code == 404
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    "status", [Journey.Status.DRAFT, Journey.Status.PAUSED, Journey.Status.ARCHIVED]
)
def test_a_journey_that_is_not_live_is_not_found(client, api_base, workspace, ada, status):
    journey = journey_create(workspace, status=status)

    response = trigger(client, api_base, journey.public_id, {"external_id": "user_ada"})

    assert response.status_code == 404
    assert response.json()["error"] == "Journey not found"
    assert not Enrollment.objects.exists()


def test_unknown_and_foreign_journeys_are_not_found(client, api_base, other_workspace, ada):
    foreign = journey_create(other_workspace)

    for journey_id in ("jrn_doesnotexist", foreign.public_id, "../../etc"):
        response = trigger(client, api_base, journey_id, {"external_id": "user_ada"})
        assert response.status_code == 404, journey_id
        assert response["Content-Type"] == "application/json"


def test_event_triggered_journey_is_an_invalid_journey_type(client, api_base, workspace, ada):
    journey = journey_create(workspace, trigger={"type": "event", "event": "Signed Up"})

    response = trigger(client, api_base, journey.public_id, {"external_id": "user_ada"})

    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid journey type")


@pytest.mark.parametrize(
    "identifiers",
    [
        {},
        {"external_id": ""},
        {"external_id": None},
        {"externalId": "", "email": "  ", "customer_id": None},
        {"email": None},
        {"customerId": ""},
    ],
)
def test_no_identifier_is_a_missing_required_parameter(client, api_base, journey, ada, identifiers):
    body = {**identifiers, "payload": {"a": 1}}
    response = trigger(client, api_base, journey.public_id, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("Missing required parameter")
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "request body must be a JSON object"),
        ({"external_id": "user_ada", "payload": [1]}, "payload"),
        ({"external_id": "user_ada", "payload": "x"}, "payload"),
        ({"external_ids": "user_ada"}, "external_ids"),
    ],
)
def test_malformed_bodies_are_400_naming_the_field(client, api_base, journey, ada, body, message):
    response = trigger(client, api_base, journey.public_id, body)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Enrollment.objects.exists()


def test_invalid_json_is_400(client, api_base, journey):
    response = client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger", "{nope", content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_payload_values_of_the_wrong_schema_type_are_400(client, api_base, workspace, ada):
    journey = journey_create(
        workspace,
        trigger={
            "schema": [{"name": "total", "type": "number"}, {"name": "at", "type": "datetime"}]
        },
    )

    bad = trigger(
        client,
        api_base,
        journey.public_id,
        {
            "external_id": "user_ada",
            "payload": {"total": "12", "at": "yesterday"},
        },
    )
    good = trigger(
        client,
        api_base,
        journey.public_id,
        {
            "external_id": "user_ada",
            "payload": {"total": 12.5, "at": "2026-02-10T14:30:00Z"},
        },
    )

    assert bad.status_code == 400
    assert bad.json()["problems"] == [
        {
            "step": None,
            "field": "payload.total",
            "message": "payload.total: expected number, got str",
        },
        {"step": None, "field": "payload.at", "message": "payload.at: expected datetime, got str"},
    ]
    assert good.status_code == 202


def test_payload_fields_missing_from_the_schema_are_accepted(client, api_base, workspace, ada):
    journey = journey_create(workspace, trigger={"schema": [{"name": "total", "type": "number"}]})

    response = trigger(
        client,
        api_base,
        journey.public_id,
        {
            "external_id": "user_ada",
            "payload": {"other": True},
        },
    )

    assert response.status_code == 202


def test_trigger_conditions_on_the_payload_decide_entry(client, api_base, workspace, ada):
    journey = journey_create(
        workspace,
        trigger={"conditions": {"field": "api.payload.total", "op": "gt", "value": 100}},
    )

    low = trigger(
        client, api_base, journey.public_id, {"external_id": "user_ada", "payload": {"total": 5}}
    )
    high = trigger(
        client, api_base, journey.public_id, {"external_id": "user_ada", "payload": {"total": 500}}
    )

    assert (low.status_code, low.json()) == (200, {"status": "conditions_not_met"})
    assert high.status_code == 202


def test_run_detail_shows_state_and_empty_timeline(client, api_base, journey, ada):
    run_id = trigger(client, api_base, journey.public_id, {"external_id": "user_ada"}).json()[
        "run_id"
    ]

    response = client.get(f"{api_base}/runs/{run_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == run_id
    assert body["journey_id"] == journey.public_id
    assert body["customer_id"] == ada.public_id
    assert body["journey_version"] == 1
    assert body["state"] == "active"
    assert body["current_step"] == "welcome"
    assert body["timeline"] == []


def test_run_of_another_workspace_is_404(client, api_base, other_workspace):
    journey = journey_create(other_workspace)
    customer = Customer.objects.create(workspace=other_workspace, external_id="x")
    run = Enrollment.objects.create(
        workspace=other_workspace,
        journey=journey,
        version=journey.live_version,
        customer=customer,
        entered_at=timezone.now() - timedelta(seconds=1),
    )

    response = client.get(f"{api_base}/runs/{run.public_id}")

    assert response.status_code == 404
    assert response.json()["error"] == "run not found"


def test_blank_email_is_a_missing_parameter_not_a_match(workspace, journey):
    from customers.errors import InvalidRequest
    from journeys.entry.selectors import journey_and_customer_for_trigger

    Customer.objects.create(workspace=workspace, external_id="no-email")

    with pytest.raises(InvalidRequest, match="Missing required parameter"):
        journey_and_customer_for_trigger(
            workspace=workspace, journey_id=journey.public_id, email="   "
        )


def test_an_id_of_any_shape_that_does_not_exist_is_404(client, api_base, journey, ada):
    response = trigger(client, api_base, journey.public_id, {"customer_id": "cus_" + "x" * 300})

    assert response.status_code == 404
    assert response.json() == {"error": "Customer not found"}


def test_a_required_payload_field_missing_or_null_is_400_naming_it(
    client, api_base, workspace, ada
):
    journey = journey_create(
        workspace,
        trigger={
            "schema": [
                {"name": "plan", "type": "string", "required": True},
                {"name": "total", "type": "number"},
            ]
        },
    )
    url_id = journey.public_id

    missing = trigger(client, api_base, url_id, {"external_id": "user_ada", "payload": {}})
    null = trigger(client, api_base, url_id, {"external_id": "user_ada", "payload": {"plan": None}})
    given = trigger(
        client, api_base, url_id, {"external_id": "user_ada", "payload": {"plan": "pro"}}
    )

    for response in (missing, null):
        assert response.status_code == 400
        assert response.json()["error"] == "payload.plan is required (string)"
    assert given.status_code == 202  # total is optional
    assert Enrollment.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"external_id": 42}, "external_id: must be a string (got number)"),
        ({"externalId": 42}, "externalId: must be a string (got number)"),
        ({"email": False}, "email: must be a string (got boolean)"),
        ({"external_ids": [1, 2]}, "external_ids[0]: must be a string (got number)"),
    ],
)
def test_a_number_where_a_string_belongs_is_400_naming_the_field(
    client, api_base, journey, ada, body, message
):
    response = trigger(client, api_base, journey.public_id, body)

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert not Enrollment.objects.exists()


def test_a_null_or_blank_twin_never_hides_the_other(client, api_base, journey, ada):
    body = {"external_id": None, "externalId": "user_ada", "payload": None, "properties": {"a": 1}}

    response = trigger(client, api_base, journey.public_id, body)

    assert response.status_code == 202
    assert Enrollment.objects.get().context["payload"] == {"a": 1}


def test_a_twin_that_is_not_used_is_still_checked(client, api_base, journey, ada):
    body = {"external_id": "user_ada", "payload": {}, "properties": 5}

    response = trigger(client, api_base, journey.public_id, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("properties: ")
    assert not Enrollment.objects.exists()


def test_a_camelcase_list_over_its_limit_is_an_array_size_exceeded(client, api_base, journey):
    body = {"segment_ids": [], "segmentIds": [f"seg_{i}" for i in range(11)]}

    response = trigger(client, api_base, journey.public_id, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("Array size exceeded: segmentIds")


def test_a_null_payload_is_no_payload(client, api_base, journey, ada):
    response = trigger(
        client, api_base, journey.public_id, {"external_id": "user_ada", "payload": None}
    )

    assert response.status_code == 202
    assert Enrollment.objects.get().context["payload"] == {}
