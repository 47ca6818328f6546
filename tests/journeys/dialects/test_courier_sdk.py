"""Courier's own Python SDK (``trycourier``) against ``/compat/courier/`` by base URL
alone: every call its journeys client makes, answered in shapes its models parse."""

import pytest
from courier import (
    BadRequestError,
    Courier,
    NotFoundError,
    RateLimitError,
    UnprocessableEntityError,
)
from courier.types import (
    JourneyRunListResponse,
    JourneyRunResponse,
    JourneyRunStepsResponse,
    JourneysInvokeResponse,
    JourneysListResponse,
)
from courier.types.cancel_journey_response import RunIDBranch, TokenBranch

from customers.models import ApiKey, Customer
from journeys.authoring.services import journey_archive
from journeys.engine.claims import runs_claim
from journeys.engine.runner import runs_walk
from journeys.models import Enrollment, IdempotencyRecord
from tests.factories import journey_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def courier(live_server, raw_api_key):
    """The SDK as a Courier customer configures it, with our base URL and key; no
    retries, so each call is one request."""
    return Courier(api_key=raw_api_key, base_url=f"{live_server.url}/compat/courier", max_retries=0)


def test_invoke_with_a_user_id_answers_a_run_id(courier, order_journey):
    response = courier.journeys.invoke(
        order_journey.public_id,
        user_id="user_123",
        data={"order_id": "ORD-9042", "order_total": 49.99, "is_first_order": True,
              "order_date": "2026-02-10T14:30:00Z"},
    )  # fmt: skip

    assert isinstance(response, JourneysInvokeResponse)
    run = Enrollment.objects.select_related("customer").get()
    assert response.run_id == run.public_id
    assert run.customer.external_id == "user_123"


def test_invoke_with_a_profile_only_delivers_to_its_email(courier, order_journey, smtp_server):
    response = courier.journeys.invoke(
        order_journey.public_id,
        profile={"email": "jane@example.com", "first_name": "Jane"},
        data={"signup_source": "landing_page"},
    )
    runs_walk(runs_claim(run_ids=list(Enrollment.objects.values_list("pk", flat=True))))

    assert response.run_id.startswith("run_")
    (mail,) = smtp_server.messages
    assert mail["To"] == "jane@example.com"
    assert mail.get_payload().startswith("Hi Jane <jane@example.com>")


def test_invoke_with_an_idempotency_key_runs_once(courier, order_journey):
    first = courier.journeys.invoke(
        order_journey.public_id, user_id="u1", idempotency_key="order-1",
        x_idempotency_expiration="1900000000000",
    )  # fmt: skip
    again = courier.journeys.invoke(
        order_journey.public_id, user_id="u1", idempotency_key="order-1"
    )

    assert first.run_id == again.run_id
    assert Enrollment.objects.count() == 1
    assert IdempotencyRecord.objects.get().expires_at is not None


def test_invoke_errors_raise_the_sdks_exceptions(courier, order_journey, workspace):
    with pytest.raises(BadRequestError) as missing_user:
        courier.journeys.invoke(order_journey.public_id, data={"order_id": "A"})
    with pytest.raises(BadRequestError) as wrong_type:
        courier.journeys.invoke(order_journey.public_id, user_id="u1", data={"order_total": "9"})
    with pytest.raises(NotFoundError) as unknown:
        courier.journeys.invoke("jrn_nope", user_id="u1")
    conditions = journey_create(
        workspace, trigger={"conditions": {"field": "data.vip", "op": "eq", "value": True}}
    )
    with pytest.raises(UnprocessableEntityError) as unmet:
        courier.journeys.invoke(conditions.public_id, user_id="u1", data={"vip": False})
    journey_archive(journey=order_journey)
    with pytest.raises(UnprocessableEntityError) as archived:
        courier.journeys.invoke(order_journey.public_id, user_id="u1")

    assert missing_user.value.body["message"].startswith("User identifier or profile required")
    assert wrong_type.value.body["message"] == "data.order_total: expected number, got str"
    assert unknown.value.body["message"] == "Journey jrn_nope not found"
    assert unmet.value.body["message"] == "Trigger conditions not met"
    assert archived.value.body["message"].startswith("Cannot invoke archived journey")
    assert {error.value.body["type"] for error in (missing_user, unknown, unmet)} == {
        "invalid_request_error"
    }
    assert not Enrollment.objects.exists()


def test_invoking_past_the_trigger_budget_raises_the_rate_limit_error(
    courier, order_journey, api_key
):
    ApiKey.objects.filter(pk=api_key.pk).update(trigger_rate_limit_per_minute=1)
    courier.journeys.invoke(order_journey.public_id, user_id="u1")

    with pytest.raises(RateLimitError) as limited:
        courier.journeys.invoke(order_journey.public_id, user_id="u2")

    assert 1 <= int(limited.value.response.headers["Retry-After"]) <= 60


def test_list_journeys_published_and_draft(courier, order_journey, workspace):
    draft = journey_create(workspace, name="Draft", status="draft")

    published = courier.journeys.list()
    drafts = courier.journeys.list(version="draft")

    assert isinstance(published, JourneysListResponse)
    assert [(j.id, j.name, j.version) for j in published.templates] == [
        (order_journey.public_id, "Order confirmation", "published")
    ]
    assert published.cursor is None
    assert [j.id for j in drafts.templates] == [draft.public_id, order_journey.public_id]
    assert published.templates[0].created_at is not None
    with pytest.raises(BadRequestError):
        courier.journeys.list(extra_query={"version": "latest"})


def test_list_runs_filter_them_and_page_by_cursor(courier, order_journey, workspace):
    other = journey_create(workspace, name="Other", entry={"allow_reentry": True})
    run_ids = [courier.journeys.invoke(order_journey.public_id, user_id=f"u{i}").run_id
               for i in range(3)]  # fmt: skip
    other_run = courier.journeys.invoke(other.public_id, user_id="u0").run_id

    everything = courier.journeys.runs.list()
    first = courier.journeys.runs.list(template_id=order_journey.public_id, limit="2")
    second = courier.journeys.runs.list(
        template_id=order_journey.public_id, limit="2", cursor=first.next_cursor
    )
    waiting = courier.journeys.runs.list(status="WAITING,PROCESSING")
    ended = courier.journeys.runs.list(status="PROCESSED,ERROR")

    assert isinstance(everything, JourneyRunListResponse)
    assert [run.run_id for run in everything.runs] == [other_run, *run_ids[::-1]]
    assert [run.run_id for run in first.runs + second.runs] == run_ids[::-1]
    assert second.next_cursor is None and second.prev_cursor is not None
    assert {run.status for run in everything.runs} == {"PROCESSING"}  # due now, not walked
    assert len(waiting.runs) == 4 and ended.runs == []
    item = everything.runs[-1]
    assert (item.template_id, item.source) == (
        order_journey.public_id,
        [f"invoke/{order_journey.public_id}"],
    )
    with pytest.raises(BadRequestError):
        courier.journeys.runs.list(start_date="last week")


def test_retrieve_a_run_and_its_steps(courier, order_journey, smtp_server):
    run_id = courier.journeys.invoke(
        order_journey.public_id, profile={"email": "jane@example.com"}
    ).run_id
    runs_walk(runs_claim(run_ids=list(Enrollment.objects.values_list("pk", flat=True))))

    run = courier.journeys.runs.retrieve(run_id)
    steps = courier.journeys.runs.list_steps(run_id)

    assert isinstance(run, JourneyRunResponse)
    assert (run.run.run_id, run.run.status, run.run.template_id) == (
        run_id,
        "PROCESSED",
        order_journey.public_id,
    )
    assert run.run.updated_at >= run.run.created_at
    assert isinstance(steps, JourneyRunStepsResponse)
    (step,) = steps.steps
    assert (step.action, step.node_id, step.status, step.error) == (
        "send",
        "mail",
        "PROCESSED",
        None,
    )
    assert step.message_id.startswith("msg_")
    with pytest.raises(NotFoundError):
        courier.journeys.runs.retrieve("run_nope")


def test_cancel_by_token_and_by_run_id(courier, order_journey, workspace):
    customers = [f"u{i}" for i in range(3)]
    runs = {
        user: courier.journeys.invoke(
            order_journey.public_id, user_id=user, data={"order_id": "A-1" if user != "u2" else "B"}
        ).run_id
        for user in customers
    }

    by_token = courier.journeys.cancel(cancelation_token="order-A-1")
    by_run = courier.journeys.cancel(run_id=runs["u2"])
    again = courier.journeys.cancel(run_id=runs["u2"])

    assert isinstance(by_token, TokenBranch) and by_token.cancelation_token == "order-A-1"
    assert isinstance(by_run, RunIDBranch)
    assert (by_run.run_id, by_run.status) == (runs["u2"], "CANCELED")
    assert again.status == "CANCELED"
    assert set(Enrollment.objects.values_list("exit_reason", flat=True)) == {"cancelled"}
    assert courier.journeys.runs.retrieve(runs["u0"]).run.status == "CANCELED"
    with pytest.raises(NotFoundError):
        courier.journeys.cancel(run_id="run_nope")


def test_cancelling_a_finished_run_answers_its_status_unchanged(courier, order_journey):
    run_id = courier.journeys.invoke(order_journey.public_id, user_id="u1").run_id
    Enrollment.objects.filter(public_id=run_id).update(state="completed")

    response = courier.journeys.cancel(run_id=run_id)

    assert (response.run_id, response.status) == (run_id, "PROCESSED")
    assert Enrollment.objects.get().exit_reason == ""


def test_the_sdk_reaches_only_the_keys_workspace(courier, other_workspace):
    foreign = journey_create(other_workspace)
    stranger = Customer.objects.create(workspace=other_workspace, external_id="s1")
    with pytest.raises(NotFoundError):
        courier.journeys.invoke(foreign.public_id, user_id="s1")

    assert courier.journeys.list().templates == []
    assert courier.journeys.runs.list().runs == []
    assert not Enrollment.objects.filter(customer=stranger).exists()
