"""``Idempotency-Key`` on trigger endpoints: replay, mismatch and concurrent duplicates."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from journeys.entry.idempotency import idempotency_records_purge
from journeys.models import Enrollment, IdempotencyRecord
from tests.factories import journey_create
from tests.journeys.test_trigger_concurrency import fire_in_parallel


@pytest.fixture
def url(api_base, workspace):
    return f"{api_base}/journeys/{journey_create(workspace).public_id}/trigger"


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_answer(client, url, ada):
    first = client.post(url, {"external_id": "user_ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = client.post(url, {"external_id": "user_ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Enrollment.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_rejected(client, url, ada, grace):
    client.post(url, {"external_id": "user_ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    response = client.post(
        url, {"external_id": "user_grace"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert response.status_code == 422
    assert "different request" in response.json()["error"]
    assert list(Enrollment.objects.values_list("customer__external_id", flat=True)) == ["user_ada"]


@pytest.mark.django_db
def test_failed_requests_are_not_stored_so_a_retry_executes(client, url, ada):
    failed = client.post(url, {"external_id": "nobody"}, format="json", HTTP_IDEMPOTENCY_KEY="k2")

    assert failed.status_code == 404
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_a_key_older_than_24_hours_executes_again(client, url, ada, workspace):
    journey_url = url
    client.post(journey_url, {"external_id": "user_ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k3")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    Enrollment.objects.update(state="failed")

    again = client.post(
        journey_url, {"external_id": "user_ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k3"
    )

    assert again.status_code == 202
    assert "Idempotent-Replayed" not in again
    assert Enrollment.objects.count() == 2


@pytest.mark.django_db
def test_purge_deletes_only_expired_records(client, url, ada, grace):
    client.post(url, {"external_id": "user_ada"}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    client.post(url, {"external_id": "user_grace"}, format="json", HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(days=2)
    )

    assert idempotency_records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db
def test_overlong_key_is_400(client, url, ada):
    response = client.post(
        url, {"external_id": "user_ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 300
    )

    assert response.status_code == 400
    assert not Enrollment.objects.exists()


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_execute_once_and_all_get_the_same_answer(
    raw_api_key, url, workspace
):
    from customers.models import Customer

    Customer.objects.create(workspace=workspace, external_id="user_ada")
    journey = journey_create(workspace, entry={"allow_reentry": True})
    reentry_url = url.rsplit("/journeys/", 1)[0] + f"/journeys/{journey.public_id}/trigger"

    answers = fire_in_parallel(
        raw_api_key,
        reentry_url,
        {"external_id": "user_ada"},
        count=20,
        headers={"HTTP_IDEMPOTENCY_KEY": "same-key"},
    )

    # Re-entry restarts on every execution, so one run means one execution.
    assert Enrollment.objects.filter(journey=journey).count() == 1
    assert Counter(code for code, _ in answers) == {202: 20}
    assert len({body["run_id"] for _, body in answers}) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["\u00e9t\u00e9", "a\tb", "x" * 256])
def test_a_key_outside_printable_ascii_or_too_long_is_400(client, url, ada, key):
    response = client.post(
        url, {"external_id": "user_ada"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )

    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"
    assert not Enrollment.objects.exists()


@pytest.mark.django_db
def test_a_dry_run_checks_the_key_as_the_real_trigger_does(client, url, ada):
    response = client.post(
        f"{url}?dry_run=true",
        {"external_id": "user_ada"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="\u00e9",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"
