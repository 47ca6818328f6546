"""The trigger service with a payload per customer (``Audience.customer_payloads``)."""

import pytest

from customers.models import Customer
from journeys.entry.service import INVALID_PAYLOAD, NOT_FOUND, Audience, journey_trigger
from journeys.models import Enrollment
from tests.factories import customers_create, journey_create

pytestmark = pytest.mark.django_db


def trigger_each(journey, payloads, **options):
    return journey_trigger(
        workspace=journey.workspace,
        journey_id=journey.public_id,
        audience=Audience(customer_payloads={c.pk: p for c, p in payloads}),
        payload={"shared": "unused"},
        **options,
    )


def test_each_run_carries_its_customers_own_payload(workspace):
    journey = journey_create(workspace)
    ada, grace, inactive = customers_create(workspace, 3)
    Customer.objects.filter(pk=inactive.pk).update(status="inactive")

    result = trigger_each(journey, [(ada, {"n": 1}), (grace, {"n": 2}), (inactive, {"n": 3})])

    runs = {run.customer_id: run for run in Enrollment.objects.all()}
    assert {pk: run.context["payload"] for pk, run in runs.items()} == {
        ada.pk: {"n": 1},
        grace.pk: {"n": 2},
    }
    assert {pk: (e.status, e.run_id) for pk, e in result.customers.items()} == {
        ada.pk: ("enrolled", runs[ada.pk].public_id),
        grace.pk: ("enrolled", runs[grace.pk].public_id),
        inactive.pk: (NOT_FOUND, None),
    }
    assert (result.entry.enrolled_count, result.not_found) == (2, 1)


def test_schema_and_trigger_conditions_are_checked_per_payload(workspace):
    journey = journey_create(
        workspace,
        trigger={
            "schema": [{"name": "total", "type": "number", "required": True}],
            "conditions": {"field": "data.total", "op": "gt", "value": 10},
        },
    )
    big, small, broken = customers_create(workspace, 3)

    result = trigger_each(journey, [(big, {"total": 50}), (small, {"total": 5}), (broken, {})])

    assert {pk: e.status for pk, e in result.customers.items()} == {
        big.pk: "enrolled",
        small.pk: "conditions_not_met",
        broken.pk: INVALID_PAYLOAD,
    }
    assert result.customers[broken.pk].problems == (
        {"step": None, "field": "payload.total", "message": "payload.total is required (number)"},
    )
    assert result.entry.count("conditions_not_met") == 1
    assert list(Enrollment.objects.values_list("customer_id", flat=True)) == [big.pk]


def test_a_restarted_run_is_replaced_by_one_with_the_new_payload(workspace):
    journey = journey_create(workspace, entry={"allow_reentry": True})
    (ada,) = customers_create(workspace, 1)
    trigger_each(journey, [(ada, {"try": 1})])

    result = trigger_each(journey, [(ada, {"try": 2})])

    assert result.customers[ada.pk].status == "enrolled"
    assert sorted(Enrollment.objects.values_list("state", "context__payload__try")) == [
        ("active", 2),
        ("exited", 1),
    ]


def test_a_dry_run_answers_per_customer_and_writes_nothing(workspace):
    journey = journey_create(workspace)
    ada, grace = customers_create(workspace, 2)
    trigger_each(journey, [(ada, {})])

    result = trigger_each(journey, [(ada, {}), (grace, {})], dry_run=True)

    assert {pk: e.status for pk, e in result.customers.items()} == {
        ada.pk: "already_enrolled",
        grace.pk: "enrolled",
    }
    assert result.dry_run is True
    assert Enrollment.objects.count() == 1
