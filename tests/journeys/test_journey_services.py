"""Journey lifecycle services: import, update, publish, pause, archive."""

import copy
import threading

import pytest
from django.db import connection, transaction

from customers.errors import Conflict, InvalidRequest
from journeys.authoring.documents import definition_from_journey
from journeys.authoring.services import (
    journey_archive,
    journey_import,
    journey_pause,
    journey_publish,
    journey_publish_check,
    journey_update,
)
from journeys.models import Journey, JourneyVersion
from tests.concurrency import in_parallel

pytestmark = pytest.mark.django_db


def broken(document):
    """``document`` with an unknown next, an unreachable step, bad Liquid and a typo'd root."""
    document = copy.deepcopy(document)
    document["steps"][0]["next"] = "wiat"
    document["steps"][0]["subject"] = "Hi {{ custmer.name }}"
    document["steps"][3]["body"] = "Thanks {% if %}"
    return document


def snapshot(journey: Journey) -> tuple:
    journey = Journey.objects.get(pk=journey.pk)
    return (
        journey.status,
        journey.live_version_id,
        definition_from_journey(journey),
        list(journey.versions.values_list("number", "definition")),
    )


def test_import_creates_a_draft_holding_the_canonical_definition(workspace, journey_document):
    journey = journey_import(workspace=workspace, document=journey_document)

    journey = Journey.objects.get(pk=journey.pk)
    assert journey.workspace == workspace
    assert journey.public_id.startswith("jrn_")
    assert journey.status == Journey.Status.DRAFT
    assert journey.live_version is None
    assert not journey.versions.exists()
    assert definition_from_journey(journey) == journey_document


def test_import_of_an_invalid_document_creates_nothing(workspace):
    with pytest.raises(InvalidRequest) as raised:
        journey_import(workspace=workspace, document={"name": "", "steps": "none"})

    assert len(raised.value.details["problems"]) == 2
    assert not Journey.objects.exists()


def test_import_accepts_a_draft_that_cannot_be_published_yet(workspace, journey_document):
    journey = journey_import(workspace=workspace, document=broken(journey_document))

    assert journey.status == Journey.Status.DRAFT
    assert journey_publish_check(journey=journey)["errors"]


def test_update_replaces_the_draft_definition(workspace, journey_document):
    journey = journey_import(workspace=workspace, document=journey_document)
    changed = copy.deepcopy(journey_document)
    changed["name"] = "Order thanks"
    changed["steps"][1]["seconds"] = 60

    returned = journey_update(journey=journey, document=changed)

    assert returned is journey
    assert journey.name == "Order thanks"
    assert definition_from_journey(Journey.objects.get(pk=journey.pk)) == changed


def test_update_of_a_live_journey_leaves_the_live_version_alone(live_journey, journey_document):
    changed = copy.deepcopy(journey_document)
    changed["steps"][1]["seconds"] = 60

    journey_update(journey=live_journey, document=changed)

    live_journey.refresh_from_db()
    assert live_journey.status == Journey.Status.LIVE
    assert live_journey.live_version.definition == journey_document
    assert definition_from_journey(live_journey) == changed


def test_update_with_an_invalid_document_changes_nothing(live_journey):
    before = snapshot(live_journey)

    with pytest.raises(InvalidRequest):
        journey_update(journey=live_journey, document={"name": "x", "steps": [{"key": "a"}]})

    assert snapshot(live_journey) == before


def test_archived_journey_cannot_be_edited(live_journey, journey_document):
    journey_archive(journey=live_journey)
    before = snapshot(live_journey)

    with pytest.raises(Conflict, match="archived"):
        journey_update(journey=live_journey, document={**journey_document, "name": "New"})

    assert snapshot(live_journey) == before


def test_publish_snapshots_the_definition_as_version_1(workspace, journey_document):
    journey = journey_import(workspace=workspace, document=journey_document)

    version = journey_publish(journey=journey)

    assert version.number == 1
    assert version.definition == journey_document
    assert journey.status == Journey.Status.LIVE
    assert journey.live_version == version
    assert Journey.objects.get(pk=journey.pk).live_version_id == version.pk


def test_publish_refuses_listing_every_problem_by_step_and_changes_nothing(
    workspace, journey_document
):
    journey = journey_import(workspace=workspace, document=broken(journey_document))
    before = snapshot(journey)

    with pytest.raises(InvalidRequest) as raised:
        journey_publish(journey=journey)

    assert raised.value.message == "journey cannot be published"
    problems = {(p["step"], p["field"]) for p in raised.value.details["problems"]}
    assert problems == {
        ("confirm", "next"),
        ("confirm", "subject"),
        ("wait", None),
        ("vip", None),
        ("sms", None),
        ("sms", "body"),
    }
    assert raised.value.details["warnings"] == []
    assert snapshot(journey) == before


def test_publish_with_warnings_succeeds(workspace, journey_document):
    journey_document["steps"][0]["body"] = "Coupon {{ data.coupon }}"
    journey = journey_import(workspace=workspace, document=journey_document)

    version = journey_publish(journey=journey)

    assert version.number == 1
    assert journey_publish_check(journey=journey) == {
        "errors": [],
        "warnings": [
            {
                "step": "confirm",
                "field": "body",
                "message": "data.coupon is not declared in the trigger schema; a run whose "
                "payload lacks 'coupon' fails at this step",
            }
        ],
    }


def test_publishing_a_changed_draft_makes_the_next_version_and_keeps_the_old_one(
    live_journey, journey_document
):
    first = live_journey.live_version
    changed = copy.deepcopy(journey_document)
    changed["steps"][1]["seconds"] = 60
    journey_update(journey=live_journey, document=changed)

    second = journey_publish(journey=live_journey)

    assert second.number == 2
    assert live_journey.live_version == second
    first.refresh_from_db()
    assert first.definition == journey_document
    assert second.definition == changed


def test_republishing_an_unchanged_draft_keeps_the_live_version(live_journey):
    first = live_journey.live_version

    again = journey_publish(journey=live_journey)

    assert again == first
    assert live_journey.versions.count() == 1


def test_versions_are_immutable(live_journey):
    version = live_journey.live_version
    version.definition = {"name": "tampered"}

    with pytest.raises(ValueError, match="immutable"):
        version.save()

    assert JourneyVersion.objects.get(pk=version.pk).definition["name"] == "Order confirmation"


def test_pause_stops_a_live_journey_and_publish_resumes_it(live_journey):
    version = live_journey.live_version

    paused = journey_pause(journey=live_journey)

    assert paused.status == Journey.Status.PAUSED
    assert Journey.objects.get(pk=live_journey.pk).status == Journey.Status.PAUSED
    resumed = journey_publish(journey=live_journey)
    assert resumed == version
    assert live_journey.status == Journey.Status.LIVE


@pytest.mark.parametrize("status", [Journey.Status.DRAFT, Journey.Status.PAUSED])
def test_only_a_live_journey_can_be_paused(workspace, journey_document, status):
    journey = journey_import(workspace=workspace, document=journey_document)
    if status == Journey.Status.PAUSED:
        journey_publish(journey=journey)
        journey_pause(journey=journey)
    before = snapshot(journey)

    with pytest.raises(Conflict) as raised:
        journey_pause(journey=journey)

    assert raised.value.message == f"only a live journey can be paused; this journey is {status}"
    assert snapshot(journey) == before


def test_archive_retires_a_journey_for_good(live_journey):
    archived = journey_archive(journey=live_journey)

    assert archived.status == Journey.Status.ARCHIVED
    assert live_journey.live_version is not None  # runs under way still point at it
    before = snapshot(live_journey)
    with pytest.raises(Conflict, match="archived"):
        journey_publish(journey=live_journey)
    with pytest.raises(Conflict, match="already archived"):
        journey_archive(journey=live_journey)
    with pytest.raises(Conflict):
        journey_pause(journey=live_journey)
    assert snapshot(live_journey) == before


def test_a_draft_can_be_archived(workspace, journey_document):
    journey = journey_import(workspace=workspace, document=journey_document)

    journey_archive(journey=journey)

    assert Journey.objects.get(pk=journey.pk).status == Journey.Status.ARCHIVED


@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_and_publishes_get_distinct_consecutive_versions(
    workspace, journey_document
):
    journey = journey_import(workspace=workspace, document=journey_document)
    journey_publish(journey=journey)
    writers = 4
    barrier = threading.Barrier(writers)
    numbers: list[int] = []
    failures: list[BaseException] = []

    def edit_and_publish(index: int) -> None:
        try:
            document = copy.deepcopy(journey_document)
            document["steps"][1]["seconds"] = index
            barrier.wait()
            with transaction.atomic():
                journey_update(journey=Journey.objects.get(pk=journey.pk), document=document)
                version = journey_publish(journey=Journey.objects.get(pk=journey.pk))
            numbers.append(version.number)
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit_and_publish, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(numbers) == [2, 3, 4, 5]
    assert sorted(journey.versions.values_list("number", flat=True)) == [1, 2, 3, 4, 5]


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_of_one_draft_make_a_single_version(workspace, journey_document):
    journey = journey_import(workspace=workspace, document=journey_document)
    publishers = 4

    def publish() -> int:
        return journey_publish(journey=Journey.objects.get(pk=journey.pk)).number

    numbers = in_parallel(publish, publishers)

    assert numbers == [1] * publishers
    assert journey.versions.count() == 1


def test_a_name_is_unique_per_workspace_even_when_two_imports_race(workspace, journey_document):
    """The check answers a clear 409 first; the constraint decides a race."""
    journey_import(workspace=workspace, document=journey_document)

    with pytest.raises(Conflict, match="already exists in this workspace") as refused:
        journey_import(workspace=workspace, document=journey_document)
    assert refused.value.details == {"field": "name"}

    # As if a concurrent import committed between the check and the INSERT.
    from journeys.authoring import services

    original = services.journey_name_check
    services.journey_name_check = lambda **kwargs: None
    try:
        with pytest.raises(Conflict, match="already exists in this workspace"):
            journey_import(workspace=workspace, document=journey_document)
    finally:
        services.journey_name_check = original
    assert Journey.objects.filter(workspace=workspace).count() == 1


def test_publish_check_names_the_workspace_problems_publish_would(workspace, journey_document):
    journey_document["steps"][3]["transactional"] = False
    journey_document["steps"][3]["topic"] = "news"
    journey = journey_import(workspace=workspace, document=journey_document)

    check = journey_publish_check(journey=journey)

    assert {"step": "sms", "field": "topic"}.items() <= check["errors"][0].items()
    with pytest.raises(InvalidRequest) as refused:
        journey_publish(journey=journey)
    assert refused.value.details["problems"] == check["errors"]
