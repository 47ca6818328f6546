"""Runs, listed and cancelled: ``GET runs``, ``POST runs/{run_id}/cancel`` and
``POST runs/cancel`` by the cancellation key a journey renders at entry."""

import pytest

from customers.models import Customer
from delivery.models import WebhookDelivery
from delivery.state_webhooks.endpoints import webhook_endpoint_create
from journeys.authoring.checks import definition_publish_problems
from journeys.authoring.definition import definition_normalize
from journeys.entry.core import journey_enroll
from journeys.models import Enrollment, StepRun
from tests.factories import (
    customers_create,
    journey_create,
    journey_definition,
    run_finish,
    runs_waiting_create,
)

pytestmark = pytest.mark.django_db

WAIT = [{"key": "wait", "type": "delay", "seconds": 3600, "next": None}]


def trigger(client, api_base, journey, external_id, **payload):
    response = client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger",
        {"external_id": external_id, "payload": payload},
        format="json",
    )
    assert response.status_code == 202, response.json()
    return response.json()["run_id"]


@pytest.fixture
def order_journey(workspace):
    return journey_create(workspace, steps=WAIT, cancellation_key="order-{{ data.order_id }}")


# --- GET runs ---------------------------------------------------------------------------


def test_runs_are_listed_newest_first_a_page_at_a_time(client, api_base, workspace):
    journey = journey_create(workspace, steps=WAIT)
    customers_create(workspace, 5, prefix="p")
    run_ids = [trigger(client, api_base, journey, f"p_{i}") for i in range(5)]

    first = client.get(f"{api_base}/runs?limit=2").json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    listed = [run["id"] for page in (first, second, third) for run in page["results"]]
    assert listed == run_ids[::-1]
    assert third["next"] is None
    newest = first["results"][0]
    assert newest == {
        "id": run_ids[-1],
        "journey_id": journey.public_id,
        "journey_version": 1,
        "customer_id": Customer.objects.get(external_id="p_4").public_id,
        "state": "active",
        "current_step": "wait",
        "wake_at": newest["wake_at"],
        "entered_at": newest["entered_at"],
        "finished_at": None,
        "exit_reason": None,
        "converted_at": None,
        "error": None,
        "cancellation_key": None,
    }
    assert "timeline" not in newest


def test_runs_are_filtered_by_journey_customer_and_state(client, api_base, workspace, ada, grace):
    one = journey_create(workspace, steps=WAIT)
    two = journey_create(workspace, steps=WAIT)
    ada_one = trigger(client, api_base, one, "user_ada")
    grace_one = trigger(client, api_base, one, "user_grace")
    ada_two = trigger(client, api_base, two, "user_ada")
    run_finish(Enrollment.objects.get(public_id=grace_one), state=Enrollment.State.COMPLETED)

    def listed(query):
        response = client.get(f"{api_base}/runs?{query}")
        assert response.status_code == 200, response.json()
        return [run["id"] for run in response.json()["results"]]

    assert listed(f"journey={one.public_id}") == [grace_one, ada_one]
    assert listed(f"customer={ada.public_id}") == [ada_two, ada_one]
    assert listed("state=completed") == [grace_one]
    assert listed(f"journey={one.public_id}&customer={ada.public_id}&state=active") == [ada_one]
    assert listed("") == [ada_two, grace_one, ada_one]


def test_listing_names_an_unknown_filter_id_or_state(client, api_base, other_workspace):
    elsewhere = journey_create(other_workspace)

    response = client.get(f"{api_base}/runs?journey={elsewhere.public_id}")
    assert (response.status_code, response.json()) == (
        404,
        {"error": "journey not found", "journey_id": elsewhere.public_id},
    )
    assert client.get(f"{api_base}/runs?customer=cus_nope").status_code == 404
    response = client.get(f"{api_base}/runs?state=running")
    assert response.status_code == 400
    assert response.json()["error"].startswith("state: must be one of active, completed")


def test_a_page_holds_up_to_500_runs_and_a_larger_limit_is_a_400(client, api_base, workspace):
    journey = journey_create(workspace, steps=WAIT)
    runs_waiting_create(journey, customers_create(workspace, 501), wake_at=None)

    full = client.get(f"{api_base}/runs?limit=500")
    too_many = client.get(f"{api_base}/runs?limit=501")

    assert full.status_code == 200
    assert len(full.json()["results"]) == 500
    assert len(client.get(full.json()["next"]).json()["results"]) == 1
    assert (too_many.status_code, too_many.json()) == (
        400,
        {"error": "limit: must be an integer from 1 to 500 (got '501')", "field": "limit"},
    )


def test_another_workspaces_runs_are_not_listed(client, api_base, other_workspace):
    journey = journey_create(other_workspace, steps=WAIT)
    (stranger,) = customers_create(other_workspace, 1, prefix="s")
    journey_enroll(
        journey=journey, version=journey.live_version, customer_pk=stranger.pk, payload={}
    )

    assert client.get(f"{api_base}/runs").json()["results"] == []


# --- POST runs/{run_id}/cancel --------------------------------------------------------------


def test_cancelling_a_run_exits_it_and_shows_why(client, api_base, workspace, ada):
    endpoint, _ = webhook_endpoint_create(workspace=workspace, url="https://a.example/hooks")
    journey = journey_create(workspace, steps=WAIT)
    (run,) = runs_waiting_create(journey, [ada], wake_at=None)
    StepRun.objects.create(
        enrollment=run, step_key="wait", step_type="delay", started_at=run.entered_at,
        outcome="waiting",
    )  # fmt: skip

    response = client.post(f"{api_base}/runs/{run.public_id}/cancel")

    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["exit_reason"]) == ("exited", "cancelled")
    assert body["finished_at"] is not None
    (visit,) = body["timeline"]
    assert (visit["step"], visit["outcome"]) == ("wait", "cancelled")
    assert visit["finished_at"] == body["finished_at"]
    run.refresh_from_db()
    assert (run.state, run.wake_at, run.lease_token) == ("exited", None, None)
    (event,) = WebhookDelivery.objects.filter(endpoint=endpoint, event_type="run.exited")
    assert event.payload["run_id"] == run.public_id
    assert (event.payload["state"], event.payload["exit_reason"]) == ("exited", "cancelled")


def test_cancelling_a_cancelled_run_again_answers_it_unchanged(client, api_base, workspace, ada):
    journey = journey_create(workspace, steps=WAIT)
    (run,) = runs_waiting_create(journey, [ada], wake_at=None)
    first = client.post(f"{api_base}/runs/{run.public_id}/cancel").json()

    again = client.post(f"{api_base}/runs/{run.public_id}/cancel")

    assert (again.status_code, again.json()) == (200, first)
    assert WebhookDelivery.objects.count() == 0  # no endpoint: nothing recorded twice either


@pytest.mark.parametrize("state", ["completed", "failed"])
def test_a_finished_run_cannot_be_cancelled(client, api_base, workspace, ada, state):
    journey = journey_create(workspace, steps=WAIT)
    (run,) = runs_waiting_create(journey, [ada], wake_at=None)
    run_finish(run, state=state)

    response = client.post(f"{api_base}/runs/{run.public_id}/cancel")

    assert response.status_code == 409
    assert response.json() == {
        "error": f"run is {state} and cannot be cancelled",
        "run_id": run.public_id,
        "state": state,
    }
    run.refresh_from_db()
    assert (run.state, run.exit_reason) == (state, "")


@pytest.mark.parametrize("exit_reason", ["restarted", "exit step", "journey archived"])
def test_a_run_that_exited_otherwise_cannot_be_cancelled(
    client, api_base, workspace, ada, exit_reason
):
    journey = journey_create(workspace, steps=WAIT)
    (run,) = runs_waiting_create(journey, [ada], wake_at=None)
    run_finish(run, state=Enrollment.State.EXITED)
    Enrollment.objects.filter(pk=run.pk).update(exit_reason=exit_reason)

    response = client.post(f"{api_base}/runs/{run.public_id}/cancel")

    assert response.status_code == 409
    assert response.json() == {
        "error": "run is exited and cannot be cancelled",
        "run_id": run.public_id,
        "state": "exited",
    }
    run.refresh_from_db()
    assert (run.state, run.exit_reason) == ("exited", exit_reason)


def test_cancelling_an_unknown_or_foreign_run_is_404(client, api_base, other_workspace):
    journey = journey_create(other_workspace, steps=WAIT)
    (stranger,) = customers_create(other_workspace, 1, prefix="s")
    (run,) = runs_waiting_create(journey, [stranger], wake_at=None)

    for run_id in (run.public_id, "run_nope", "cancel%20me"):
        response = client.post(f"{api_base}/runs/{run_id}/cancel")
        assert response.status_code == 404
        assert response.json()["error"] == "run not found"
    run.refresh_from_db()
    assert run.state == "active"


# --- cancellation keys ------------------------------------------------------------------


def test_runs_entering_carry_the_journeys_cancellation_key(client, api_base, order_journey, ada):
    run_id = trigger(client, api_base, order_journey, "user_ada", order_id="A-1")

    run = Enrollment.objects.get(public_id=run_id)
    assert run.cancellation_key == "order-A-1"
    assert client.get(f"{api_base}/runs/{run_id}").json()["cancellation_key"] == "order-A-1"


def test_a_bulk_entry_gives_every_run_the_key_rendered_once(workspace, order_journey):
    customers_create(workspace, 50, prefix="bulk")

    journey_enroll(
        journey=order_journey,
        version=order_journey.live_version,
        customers=Customer.objects.filter(workspace=workspace),
        payload={"order_id": 7},
    )

    keys = Enrollment.objects.values_list("cancellation_key", flat=True)
    assert list(keys) == ["order-7"] * 50


def test_a_key_that_cannot_render_leaves_the_run_without_one(client, api_base, order_journey, ada):
    run_id = trigger(client, api_base, order_journey, "user_ada")  # no order_id

    run = Enrollment.objects.get(public_id=run_id)
    assert (run.state, run.cancellation_key) == ("active", None)


def test_cancelling_by_key_cancels_each_active_run_with_it(
    client, api_base, workspace, order_journey, ada, grace
):
    customers_create(workspace, 1, prefix="third")
    ada_run = trigger(client, api_base, order_journey, "user_ada", order_id="A-1")
    grace_run = trigger(client, api_base, order_journey, "user_grace", order_id="A-1")
    other = trigger(client, api_base, order_journey, "third_0", order_id="A-2")

    response = client.post(
        f"{api_base}/runs/cancel", {"cancellation_key": "order-A-1"}, format="json"
    )

    assert (response.status_code, response.json()) == (
        200,
        {"cancellation_key": "order-A-1", "cancelled": 2},
    )
    states = dict(Enrollment.objects.values_list("public_id", "exit_reason"))
    assert states == {ada_run: "cancelled", grace_run: "cancelled", other: ""}
    again = client.post(f"{api_base}/runs/cancel", {"cancellation_key": "order-A-1"}, format="json")
    assert again.json() == {"cancellation_key": "order-A-1", "cancelled": 0}


def test_cancelling_by_key_cancels_the_runs_of_every_journey_with_it(
    client, api_base, workspace, ada, grace
):
    orders = journey_create(
        workspace, name="Orders", steps=WAIT, cancellation_key="order-{{ data.order_id }}"
    )
    reminders = journey_create(
        workspace,
        name="Reminders",
        trigger={"schema": [{"name": "order_id", "type": "string"}]},
        steps=WAIT,
        cancellation_key="order-{{ order_id }}",
    )
    ada_run = trigger(client, api_base, orders, "user_ada", order_id="A-1")
    grace_run = trigger(client, api_base, reminders, "user_grace", order_id="A-1")

    response = client.post(
        f"{api_base}/runs/cancel", {"cancellation_key": "order-A-1"}, format="json"
    )

    assert (response.status_code, response.json()) == (
        200,
        {"cancellation_key": "order-A-1", "cancelled": 2},
    )
    runs = Enrollment.objects.values_list("public_id", "journey_id", "state", "exit_reason")
    assert sorted(runs) == sorted(
        [
            (ada_run, orders.pk, "exited", "cancelled"),
            (grace_run, reminders.pk, "exited", "cancelled"),
        ]
    )


def test_cancelling_by_key_stays_in_the_workspace(
    client, api_base, order_journey, ada, other_workspace
):
    foreign = journey_create(other_workspace, steps=WAIT)
    (stranger,) = customers_create(other_workspace, 1, prefix="s")
    (run,) = runs_waiting_create(foreign, [stranger], wake_at=None)
    Enrollment.objects.filter(pk=run.pk).update(cancellation_key="order-A-1")

    response = client.post(
        f"{api_base}/runs/cancel", {"cancellation_key": "order-A-1"}, format="json"
    )

    assert response.json()["cancelled"] == 0
    run.refresh_from_db()
    assert run.state == "active"


@pytest.mark.parametrize(
    "body",
    [{}, {"cancellation_key": ""}, {"cancellation_key": None}, {"cancellation_key": "x" * 501}],
)
def test_cancelling_by_key_needs_a_key(client, api_base, body):
    response = client.post(f"{api_base}/runs/cancel", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"].startswith("cancellation_key: ")


def test_a_cancellation_key_may_read_only_what_entry_knows():
    document = journey_definition(steps=WAIT)
    document["trigger"]["schema"] = [{"name": "order_id", "type": "string"}]
    problems = {}
    for key in ("o-{{ data.order_id }}", "o-{{ order_id }}", "o-{{ api.payload.order_id }}",
                "o-{{ customer.external_id }}", "o-{{ steps.x.id }}"):  # fmt: skip
        document["cancellation_key"] = key
        errors, _ = definition_publish_problems(definition_normalize(document))
        problems[key] = [error["message"] for error in errors]

    assert problems["o-{{ data.order_id }}"] == []
    assert problems["o-{{ order_id }}"] == []
    assert problems["o-{{ api.payload.order_id }}"] == []
    assert problems["o-{{ customer.external_id }}"] == [
        "'customer.external_id' is not known when the cancellation_key is rendered (at entry);"
        " it can read api, data and trigger schema fields"
    ]
    assert len(problems["o-{{ steps.x.id }}"]) == 1


def test_customers_with_payloads_of_their_own_each_get_their_own_key(workspace, order_journey):
    first, second = customers_create(workspace, 2, prefix="own")

    journey_enroll(
        journey=order_journey,
        version=order_journey.live_version,
        customers=Customer.objects.filter(workspace=workspace),
        payload={},
        payloads={first.pk: {"order_id": "A-1"}, second.pk: {"total": 5}},
    )

    keys = dict(Enrollment.objects.values_list("customer_id", "cancellation_key"))
    assert keys == {first.pk: "order-A-1", second.pk: None}
