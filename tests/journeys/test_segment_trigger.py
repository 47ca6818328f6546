"""Segment triggers (issue 12, section 3): a customer who newly joins the segment enters:
added to a static one (in the same transaction, one statement per journey however many
are added), or starting to match a dynamic one after an identify, an update or a batch of
tracked identifies (checked once the change commits). Members at publish do not enter;
leaving and joining again re-enters as the entry rules allow; beat's sweep catches what
a lost check missed."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from journeys.authoring.services import journey_import, journey_publish
from journeys.entry import tasks
from journeys.entry.segment_entries import segment_presence_check, segment_presence_reconcile
from journeys.models import Enrollment, Journey
from segments.models import Segment, SegmentPresence
from tests.factories import customers_create, journey_definition

pytestmark = pytest.mark.django_db

PRO = {"field": "customer.plan", "op": "eq", "value": "pro"}


def segment_journey(workspace, segment, **entry):
    named = Journey.objects.filter(workspace=workspace, name__startswith="Welcome to").count()
    document = journey_definition(
        # Names are unique in a workspace: a second journey on the segment is "(2)".
        name=f"Welcome to {segment.name}" + (f" ({named + 1})" if named else ""),
        trigger={"type": "segment", "segment_id": segment.public_id},
        entry=entry or None,
    )
    journey = journey_import(workspace=workspace, document=document)
    journey_publish(journey=journey)
    return journey


def entered(journey):
    return sorted(
        Enrollment.objects.filter(journey=journey).values_list("customer__external_id", flat=True)
    )


@pytest.fixture
def checks_run_at_once(monkeypatch, django_capture_on_commit_callbacks):
    """The check queued after a change commits runs in this process, at the commit."""

    def delay(workspace_id, customer_ids):
        segment_presence_check(workspace_id=workspace_id, customer_ids=customer_ids)

    monkeypatch.setattr(tasks.segment_presence_check, "delay", delay)

    def committing():
        return django_capture_on_commit_callbacks(execute=True)

    return committing


# --- static segments ------------------------------------------------------------------


@pytest.fixture
def static(workspace):
    return Segment.objects.create(workspace=workspace, name="Beta", kind=Segment.Kind.STATIC)


def add(client, api_base, segment, *external_ids):
    response = client.post(
        f"{api_base}/segments/{segment.public_id}/members",
        {"external_ids": list(external_ids)},
        format="json",
    )
    assert response.status_code == 200, response.json()
    return response.json()


def remove(client, api_base, segment, *external_ids):
    response = client.delete(
        f"{api_base}/segments/{segment.public_id}/members",
        json.dumps({"external_ids": list(external_ids)}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()


def test_customers_added_to_a_static_segment_enter_and_members_before_do_not(
    client, api_base, workspace, static
):
    customers_create(workspace, 3, prefix="u")
    add(client, api_base, static, "u_0")
    journey = segment_journey(workspace, static)

    add(client, api_base, static, "u_0", "u_1", "u_2")

    assert entered(journey) == ["u_1", "u_2"]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's bulk inserts are cut into statements of at most 999 parameters",
)
def test_adding_many_enters_them_in_a_fixed_number_of_statements(
    client, api_base, workspace, static
):
    customers_create(workspace, 400, prefix="m")
    journey = segment_journey(workspace, static)

    add(client, api_base, static, "m_0")  # the first request's one-off reads
    with CaptureQueriesContext(connection) as few:
        add(client, api_base, static, *[f"m_{i}" for i in range(1, 5)])
    with CaptureQueriesContext(connection) as many:
        add(client, api_base, static, *[f"m_{i}" for i in range(5, 400)])

    assert len(entered(journey)) == 400
    assert len(many.captured_queries) == len(few.captured_queries)


def test_leaving_and_joining_again_enters_again_as_the_entry_rules_allow(
    client, api_base, workspace, static
):
    customers_create(workspace, 1, prefix="u")
    once = segment_journey(workspace, static)
    again = segment_journey(workspace, static, allow_reentry=True)
    add(client, api_base, static, "u_0")

    remove(client, api_base, static, "u_0")
    add(client, api_base, static, "u_0")

    assert entered(once) == ["u_0"]  # one entry ever: still the first run
    assert Enrollment.objects.filter(journey=again).count() == 2  # restarted
    assert Enrollment.objects.filter(journey=again, exit_reason="restarted").count() == 1


def test_an_inactive_customer_added_does_not_enter(client, api_base, workspace, static):
    customers_create(workspace, 1, prefix="u")
    Customer.objects.update(status="inactive")
    journey = segment_journey(workspace, static)

    add(client, api_base, static, "u_0")

    assert entered(journey) == []


def test_publishing_needs_the_segment_to_exist_in_the_workspace(workspace, other_workspace):
    elsewhere = Segment.objects.create(workspace=other_workspace, name="Theirs")
    document = journey_definition(trigger={"type": "segment", "segment_id": elsewhere.public_id})
    journey = journey_import(workspace=workspace, document=document)

    with pytest.raises(Exception) as raised:
        journey_publish(journey=journey)

    assert raised.value.details["problems"] == [
        {"step": None, "field": "trigger.segment_id",
         "message": f"trigger.segment_id: no segment {elsewhere.public_id!r} in this workspace"},
    ]  # fmt: skip


# --- dynamic segments -----------------------------------------------------------------


@pytest.fixture
def pros(workspace):
    return Segment.objects.create(
        workspace=workspace, name="Pro", kind=Segment.Kind.DYNAMIC, conditions=PRO
    )


def plan(client, api_base, external_id, value):
    customer = Customer.objects.get(external_id=external_id)
    response = client.patch(
        f"{api_base}/customers/{customer.public_id}", {"attributes": {"plan": value}}, format="json"
    )
    assert response.status_code == 200, response.json()


def test_starting_to_match_after_an_update_enters_and_matching_before_does_not(
    client, api_base, workspace, pros, checks_run_at_once
):
    Customer.objects.create(workspace=workspace, external_id="ada", attributes={"plan": "pro"})
    Customer.objects.create(workspace=workspace, external_id="bob", attributes={"plan": "free"})
    journey = segment_journey(workspace, pros)

    with checks_run_at_once():
        plan(client, api_base, "bob", "pro")
    with checks_run_at_once():
        plan(client, api_base, "ada", "pro")  # no change: already a member

    assert entered(journey) == ["bob"]
    assert sorted(SegmentPresence.objects.values_list("customer__external_id", flat=True)) == [
        "ada",
        "bob",
    ]


def test_an_identify_that_makes_a_customer_match_enters_them(
    client, api_base, workspace, pros, checks_run_at_once
):
    journey = segment_journey(workspace, pros)

    with checks_run_at_once():
        response = client.post(
            f"{api_base}/customers",
            {"external_id": "new", "attributes": {"plan": "pro"}},
            format="json",
        )

    assert response.status_code in (200, 201)
    assert entered(journey) == ["new"]


def test_a_batch_of_tracked_identifies_is_checked_at_once(
    client, api_base, workspace, pros, checks_run_at_once
):
    journey = segment_journey(workspace, pros)
    batch = {"batch": [
        {"type": "identify", "userId": f"u{i}", "traits": {"plan": "pro" if i % 2 else "free"}}
        for i in range(6)
    ]}  # fmt: skip

    with checks_run_at_once():
        response = client.post(f"{api_base}/events/batch", batch, format="json")

    assert response.status_code == 200
    assert entered(journey) == ["u1", "u3", "u5"]


def test_leaving_a_dynamic_segment_and_matching_again_re_enters(
    client, api_base, workspace, pros, checks_run_at_once
):
    Customer.objects.create(workspace=workspace, external_id="bob", attributes={"plan": "free"})
    journey = segment_journey(workspace, pros, allow_reentry=True)

    for value in ("pro", "free", "pro"):
        with checks_run_at_once():
            plan(client, api_base, "bob", value)

    assert Enrollment.objects.filter(journey=journey).count() == 2
    assert (
        not SegmentPresence.objects.filter(customer__external_id="bob")
        .exclude(segment=pros)
        .exists()
    )


def test_the_sweep_enters_those_a_lost_check_missed(client, api_base, workspace, pros, monkeypatch):
    Customer.objects.create(workspace=workspace, external_id="bob", attributes={"plan": "free"})
    journey = segment_journey(workspace, pros)
    monkeypatch.setattr(tasks.segment_presence_check, "delay", lambda *a: None)  # lost
    plan(client, api_base, "bob", "pro")
    assert entered(journey) == []

    assert segment_presence_reconcile(enter=True) == 1

    assert entered(journey) == ["bob"]
    assert segment_presence_reconcile(enter=True) == 0


def test_a_workspace_without_segment_journeys_queues_no_check(
    client, api_base, workspace, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.segment_presence_check, "delay", lambda *a: queued.append(a))
    Customer.objects.create(workspace=workspace, external_id="bob")

    with django_capture_on_commit_callbacks(execute=True):
        plan(client, api_base, "bob", "pro")

    assert queued == []


def test_a_member_added_in_the_admin_enters_too(admin_client, workspace, static):
    (customer,) = customers_create(workspace, 1, prefix="u")
    journey = segment_journey(workspace, static)

    response = admin_client.post(
        "/admin/segments/segmentmembership/add/",
        {"segment": static.pk, "customer": customer.pk},
    )

    assert response.status_code == 302, response.content[:500]
    assert entered(journey) == ["u_0"]
