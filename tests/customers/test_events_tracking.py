"""Storing a batch of tracked messages: its people found or made by identify's rules,
all at once, and safely when batches naming the same people arrive together."""

import pytest

from customers.models import Customer, Event
from customers.tracking import MessageType, TrackedMessage, tracked_messages_store
from tests.concurrency import in_parallel


def identify(user_id=None, anonymous_id=None, email=None, **traits):
    return TrackedMessage(
        type=MessageType.IDENTIFY,
        user_id=user_id,
        anonymous_id=anonymous_id,
        email=email,
        traits=traits,
    )


def track(user_id=None, anonymous_id=None, event="Viewed", message_id=None):
    return TrackedMessage(
        type=MessageType.TRACK,
        user_id=user_id,
        anonymous_id=anonymous_id,
        event=event,
        message_id=message_id,
    )


def store(workspace, *messages):
    return tracked_messages_store(workspace=workspace, messages=messages)


@pytest.mark.django_db
def test_each_message_is_filed_under_its_person(workspace, ada):
    stored = store(workspace, track("user_ada"), track("new"), track(anonymous_id="v1"))

    new = Customer.objects.get(external_id="new")
    visitor = Customer.objects.get(anonymous_id="v1")
    assert stored.customer_pks == (ada.pk, new.pk, visitor.pk)
    assert (stored.customers_created, stored.events, stored.duplicates) == (2, 3, 0)


@pytest.mark.django_db
def test_an_email_claims_the_customer_who_has_it_and_no_external_id(workspace):
    known = Customer.objects.create(workspace=workspace, email="kim@example.com")

    store(workspace, identify("kim", email="kim@example.com", plan="pro"))

    known.refresh_from_db()
    assert (known.external_id, known.attributes) == ("kim", {"plan": "pro"})
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_a_new_user_does_not_take_another_customers_email(workspace, ada):
    store(workspace, identify("impostor", email="ada@example.com", plan="x"))

    impostor = Customer.objects.get(external_id="impostor")
    assert (impostor.email, impostor.attributes) == (None, {"plan": "x"})
    ada.refresh_from_db()
    assert ada.external_id == "user_ada"


@pytest.mark.django_db
def test_two_new_people_of_one_batch_do_not_share_an_email(workspace):
    store(
        workspace, identify("a", email="same@example.com"), identify("b", email="same@example.com")
    )

    emails = dict(Customer.objects.values_list("external_id", "email"))
    assert emails == {"a": "same@example.com", "b": None}


@pytest.mark.django_db
def test_an_email_a_batch_frees_is_free_from_the_next_batch_on(workspace, ada):
    store(
        workspace,
        identify("user_ada", email="ada@new.example"),
        identify("heir", email="ada@example.com"),
    )
    store(workspace, identify("heir", email="ada@example.com"))

    emails = dict(Customer.objects.values_list("external_id", "email"))
    assert emails == {"user_ada": "ada@new.example", "heir": "ada@example.com"}


@pytest.mark.django_db
def test_an_anonymous_profile_joins_the_user_who_identifies_with_it(workspace):
    store(workspace, track(anonymous_id="v1"))

    store(workspace, track(anonymous_id="v1"), identify("u1", anonymous_id="v1"))

    (customer,) = Customer.objects.all()
    assert (customer.external_id, customer.anonymous_id) == ("u1", "v1")
    assert Event.objects.filter(customer=customer).count() == 2


@pytest.mark.django_db
def test_an_anonymous_profile_of_someone_else_is_not_claimed(workspace):
    taken = Customer.objects.create(workspace=workspace, external_id="other", anonymous_id="v1")

    store(workspace, identify("u1", anonymous_id="v1"))

    u1 = Customer.objects.get(external_id="u1")
    assert u1.pk != taken.pk and u1.anonymous_id == "v1"


@pytest.mark.django_db
def test_a_known_customers_row_is_not_written_when_nothing_changes(workspace, ada):
    before = Customer.objects.get(pk=ada.pk).updated_at

    store(workspace, track("user_ada"), identify("user_ada", plan="vip"))

    assert Customer.objects.get(pk=ada.pk).updated_at == before


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_batches_naming_the_same_new_people_at_once_make_each_once(workspace):
    people = [f"racer_{n}" for n in range(50)]

    def batch():
        messages = [identify(p, email=f"{p}@example.com", seen=True) for p in people]
        return tracked_messages_store(
            workspace=workspace, messages=[*messages, *map(track, people)]
        )

    results = in_parallel(batch, 4)

    assert sum(result.customers_created for result in results) == 50
    assert Customer.objects.filter(workspace=workspace).count() == 50
    assert Event.objects.count() == 4 * 50
    assert set(Customer.objects.values_list("email", flat=True)) == {
        f"{p}@example.com" for p in people
    }


@pytest.mark.django_db
def test_a_customer_named_by_primary_key_is_neither_looked_up_nor_changed(workspace, ada):
    # Product-made events (e-mail engagement) name the customer by pk, whatever ids
    # the customer has; the ids of such a message are not read.
    by_pk = TrackedMessage(
        type=MessageType.TRACK,
        customer_pk=ada.pk,
        user_id="someone_else",
        event="email.opened",
        properties={"step": "welcome"},
        message_id="m1",
    )
    stored = store(workspace, by_pk, track("user_ada", event="Viewed"))

    assert stored.customers_created == 0
    assert stored.customer_pks == (ada.pk, ada.pk)
    assert Customer.objects.count() == 1
    assert not Customer.objects.filter(external_id="someone_else").exists()
    opened = Event.objects.get(name="email.opened")
    assert (opened.customer_id, opened.properties) == (ada.pk, {"step": "welcome"})
    ada.refresh_from_db()
    assert ada.external_id == "user_ada"


@pytest.mark.django_db
def test_a_batch_naming_everyone_by_primary_key_reads_no_customers(
    workspace, ada, django_assert_num_queries
):
    by_pk = TrackedMessage(
        type=MessageType.TRACK, customer_pk=ada.pk, event="email.clicked", message_id="m2"
    )
    with django_assert_num_queries(3):  # savepoint, the events' INSERT, release
        stored = store(workspace, by_pk)

    assert (stored.events, stored.customer_pks) == (1, (ada.pk,))
