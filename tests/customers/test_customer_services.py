"""Identify, update and erase, called directly: the rules every entry point shares."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from customers.errors import Conflict, InvalidRequest
from customers.models import ChannelIdentity, Customer, Event, TenantProfile, Workspace
from customers.services import customer_erase, customer_identify, customer_update
from journeys.models import Enrollment, StepRun
from segments.models import Segment, SegmentMembership
from tests.factories import journey_create


def _snapshot(workspace: Workspace) -> list[tuple]:
    """Every customer of the workspace as plain values, to prove nothing changed."""
    return list(
        Customer.objects.filter(workspace=workspace)
        .order_by("pk")
        .values_list("pk", "external_id", "email", "anonymous_id", "attributes", "status")
    )


# --- identify: create and match ------------------------------------------------------------


def test_identify_creates_a_customer_with_a_normalised_email(workspace):
    customer, created = customer_identify(
        workspace=workspace,
        external_id="user_1",
        email="  Ada.Lovelace@Example.COM ",
        attributes={"plan": "vip", "dropped": None},
        timezone="Europe/Paris",
    )

    assert created is True
    customer.refresh_from_db()
    assert customer.email == "ada.lovelace@example.com"
    assert customer.attributes == {"plan": "vip"}
    assert customer.timezone == "Europe/Paris"
    assert customer.status == Customer.Status.ACTIVE
    assert customer.public_id.startswith("cus_")


def test_identify_by_external_id_updates_and_merges_attributes(ada):
    customer, created = customer_identify(
        workspace=ada.workspace,
        external_id="user_ada",
        attributes={"plan": "free", "age": None, "city": "London"},
        status="inactive",
    )

    assert created is False
    assert customer.pk == ada.pk
    ada.refresh_from_db()
    assert ada.attributes == {"first_name": "Ada", "plan": "free", "city": "London"}
    assert ada.status == Customer.Status.INACTIVE
    assert Customer.objects.count() == 1


def test_identify_by_email_matches_case_insensitively(ada):
    customer, created = customer_identify(workspace=ada.workspace, email="ADA@example.com ")

    assert (customer.pk, created) == (ada.pk, False)
    assert Customer.objects.count() == 1


def test_identify_attaches_a_new_external_id_to_the_email_owner_without_one(workspace):
    known = Customer.objects.create(workspace=workspace, email="lin@example.com")

    customer, created = customer_identify(
        workspace=workspace, external_id="user_lin", email="lin@example.com"
    )

    assert (customer.pk, created) == (known.pk, False)
    known.refresh_from_db()
    assert known.external_id == "user_lin"
    assert Customer.objects.count() == 1


def test_identify_rejects_an_email_held_by_a_different_external_id(ada):
    before = _snapshot(ada.workspace)

    with pytest.raises(Conflict) as error:
        customer_identify(
            workspace=ada.workspace, external_id="user_other", email="ada@example.com"
        )

    assert "different external_id" in error.value.message
    assert error.value.details["customer_id"] == ada.public_id
    assert _snapshot(ada.workspace) == before


def test_identify_rejects_moving_an_email_onto_another_external_id(ada, grace):
    before = _snapshot(ada.workspace)

    with pytest.raises(Conflict):
        customer_identify(
            workspace=ada.workspace, external_id="user_ada", email="grace@example.com"
        )

    assert _snapshot(ada.workspace) == before


def test_identify_changes_the_email_of_a_known_external_id(ada):
    customer, created = customer_identify(
        workspace=ada.workspace, external_id="user_ada", email="Ada@New.example"
    )

    assert (customer.pk, created) == (ada.pk, False)
    ada.refresh_from_db()
    assert ada.email == "ada@new.example"


def test_identify_by_anonymous_id_alone_matches_the_visitor(workspace):
    visitor, _ = customer_identify(workspace=workspace, anonymous_id="anon-1")

    again, created = customer_identify(
        workspace=workspace, anonymous_id="anon-1", attributes={"seen": 2}
    )

    assert (again.pk, created) == (visitor.pk, False)
    assert again.attributes == {"seen": 2}


def test_identify_claims_the_anonymous_profile_when_the_visitor_signs_up(workspace):
    visitor, _ = customer_identify(
        workspace=workspace, anonymous_id="anon-1", attributes={"utm": "ad"}
    )

    customer, created = customer_identify(
        workspace=workspace, anonymous_id="anon-1", external_id="user_9", email="n@example.com"
    )

    assert (customer.pk, created) == (visitor.pk, False)
    visitor.refresh_from_db()
    assert (visitor.external_id, visitor.email, visitor.attributes) == (
        "user_9",
        "n@example.com",
        {"utm": "ad"},
    )


def test_identify_does_not_claim_an_anonymous_profile_that_is_someone_elses(ada):
    Customer.objects.filter(pk=ada.pk).update(anonymous_id="anon-shared")

    customer, created = customer_identify(
        workspace=ada.workspace, anonymous_id="anon-shared", external_id="user_new"
    )

    assert created is True
    assert customer.pk != ada.pk
    ada.refresh_from_db()
    assert ada.external_id == "user_ada"


def test_identify_requires_an_identifier(workspace):
    with pytest.raises(InvalidRequest) as error:
        customer_identify(workspace=workspace, external_id="", attributes={"a": 1})

    assert "external_id" in error.value.message
    assert "email" in error.value.message
    assert not Customer.objects.exists()


def test_identify_rejects_an_unknown_timezone(workspace):
    with pytest.raises(InvalidRequest) as error:
        customer_identify(workspace=workspace, external_id="u", timezone="Mars/Olympus")

    assert "timezone" in error.value.message
    assert not Customer.objects.exists()


def test_identify_is_scoped_to_the_workspace(ada, other_workspace):
    customer, created = customer_identify(
        workspace=other_workspace, external_id="user_ada", email="ada@example.com"
    )

    assert created is True
    assert customer.pk != ada.pk
    assert customer.workspace == other_workspace


def test_identify_upserts_channel_identities_and_moves_a_recycled_number(ada, grace):
    customer_identify(
        workspace=ada.workspace,
        external_id="user_ada",
        channels=[{"type": "SMS", "id": "+15551234"}, {"type": "whatsapp", "id": "+15551234"}],
    )
    customer_identify(
        workspace=ada.workspace,
        external_id="user_grace",
        channels=[{"type": "sms", "id": "+15551234"}],
    )

    owners = dict(ChannelIdentity.objects.values_list("channel_type", "customer__external_id"))
    assert owners == {"sms": "user_grace", "whatsapp": "user_ada"}
    assert ChannelIdentity.objects.count() == 2


def test_identify_without_changes_does_not_rewrite_the_row(ada):
    before = Customer.objects.get(pk=ada.pk).updated_at

    customer_identify(workspace=ada.workspace, external_id="user_ada", email="ada@example.com")

    assert Customer.objects.get(pk=ada.pk).updated_at == before


# --- identify under concurrency (real transactions, real threads) ---------------------------


def _in_thread(target, results: list, errors: list):
    def run():
        try:
            results.append(target())
        except Exception as exc:  # surfaced by the test's assertions
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)


@pytest.mark.django_db(transaction=True)
def test_concurrent_identifies_of_a_new_external_id_create_one_customer(workspace):
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    results: list = []
    errors: list = []

    def identify(n: int):
        def call():
            barrier.wait()
            return customer_identify(
                workspace=workspace, external_id="user_race", attributes={f"k{n}": n}
            )

        return call

    threads = [_in_thread(identify(n), results, errors) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert Customer.objects.filter(workspace=workspace).count() == 1
    assert sorted(created for _, created in results) == [False] * (threads_count - 1) + [True]
    customer = Customer.objects.get(workspace=workspace)
    # Every request's attributes landed: the updates were serialised, none was lost.
    assert customer.attributes == {f"k{n}": n for n in range(threads_count)}


def _wait_until_blocked_on_a_lock(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the identify never blocked on the competing insert")


@pytest.mark.django_db(transaction=True)
def test_identify_that_loses_the_insert_race_updates_the_winner(workspace):
    """Deterministic race: the winner's insert is in flight when the loser looks."""
    results: list = []
    errors: list = []
    winner_inserted = threading.Event()
    release_winner = threading.Event()

    def winner():
        with transaction.atomic():
            customer = Customer.objects.create(
                workspace=workspace, external_id="user_race", attributes={"a": 1}
            )
            winner_inserted.set()
            release_winner.wait(timeout=10)
        return customer

    def loser():
        winner_inserted.wait(timeout=10)
        return customer_identify(workspace=workspace, external_id="user_race", attributes={"b": 2})

    winner_thread = _in_thread(winner, [], errors)
    loser_thread = _in_thread(loser, results, errors)
    winner_thread.start()
    loser_thread.start()
    winner_inserted.wait(timeout=10)
    _wait_until_blocked_on_a_lock()
    release_winner.set()
    winner_thread.join(timeout=30)
    loser_thread.join(timeout=30)

    assert errors == []
    [(customer, created)] = results
    assert created is False
    assert Customer.objects.filter(workspace=workspace).count() == 1
    assert Customer.objects.get(workspace=workspace).attributes == {"a": 1, "b": 2}
    assert customer.pk == Customer.objects.get(workspace=workspace).pk


# --- update ---------------------------------------------------------------------------------


def test_update_merges_attributes_and_sets_fields(ada):
    customer = customer_update(
        customer=ada,
        email=" ADA@Lovelace.example",
        attributes={"age": None, "title": "Countess"},
        status="inactive",
        timezone="Europe/London",
    )

    customer.refresh_from_db()
    assert customer.email == "ada@lovelace.example"
    assert customer.attributes == {"first_name": "Ada", "plan": "vip", "title": "Countess"}
    assert (customer.status, customer.timezone) == ("inactive", "Europe/London")
    assert customer.external_id == "user_ada"


def test_update_with_none_clears_the_email(ada):
    customer_update(customer=ada, email=None)

    ada.refresh_from_db()
    assert ada.email is None
    assert ada.external_id == "user_ada"


@pytest.mark.parametrize(
    ("field", "value"), [("email", "grace@example.com"), ("external_id", "user_grace")]
)
def test_update_rejects_an_identifier_another_customer_holds(ada, grace, field, value):
    before = _snapshot(ada.workspace)

    with pytest.raises(Conflict) as error:
        customer_update(customer=ada, **{field: value})

    assert field in error.value.message
    assert _snapshot(ada.workspace) == before


def test_update_rejects_an_unknown_timezone(ada):
    before = _snapshot(ada.workspace)

    with pytest.raises(InvalidRequest):
        customer_update(customer=ada, timezone="Nowhere/Special", attributes={"x": 1})

    assert _snapshot(ada.workspace) == before


# --- erase ----------------------------------------------------------------------------------


def test_erase_removes_the_customer_and_everything_hanging_off_them(ada, grace):
    workspace = ada.workspace
    for person in (ada, grace):
        ChannelIdentity.objects.create(
            workspace=workspace, customer=person, channel_type="sms", channel_id=f"+1{person.pk}"
        )
        TenantProfile.objects.create(workspace=workspace, customer=person, tenant_id="t1")
        Event.objects.create(workspace=workspace, customer=person, name="Signed Up")
    segment = Segment.objects.create(workspace=workspace, name="All")
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=segment, customer=person) for person in (ada, grace)]
    )
    journey = journey_create(workspace)
    for person in (ada, grace):
        run = Enrollment.objects.create(
            workspace=workspace,
            journey=journey,
            version=journey.live_version,
            customer=person,
            entered_at=timezone.now(),
        )
        StepRun.objects.create(
            enrollment=run, step_key="welcome", step_type="send", started_at=timezone.now()
        )

    customer_erase(customer=ada)

    assert not Customer.objects.filter(pk=ada.pk).exists()
    for model in (ChannelIdentity, TenantProfile, Event, SegmentMembership, Enrollment):
        assert not model.objects.filter(customer_id=ada.pk).exists(), model
    assert not StepRun.objects.filter(enrollment__customer_id=ada.pk).exists()
    # Grace's data is untouched, and so is the segment itself.
    for model in (ChannelIdentity, TenantProfile, Event, SegmentMembership, Enrollment):
        assert model.objects.filter(customer_id=grace.pk).count() == 1, model
    assert StepRun.objects.count() == 1
    assert Segment.objects.filter(pk=segment.pk).exists()
