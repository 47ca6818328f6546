"""Concurrent triggers are decided by PostgreSQL's unique index, not by read-then-insert."""

from collections import Counter

import pytest
from rest_framework.test import APIClient

from journeys.models import Enrollment
from tests.concurrency import in_parallel
from tests.factories import journey_create

PARALLEL = 50

pytestmark = pytest.mark.concurrency


def fire_in_parallel(raw_api_key, url, body, count=PARALLEL, headers=None):
    """POST ``body`` to ``url`` from ``count`` threads released at the same instant."""

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_api_key}", **(headers or {}))
        response = client.post(url, body, format="json")
        return response.status_code, response.json()

    return in_parallel(post, count)


@pytest.mark.django_db(transaction=True)
def test_fifty_identical_triggers_create_exactly_one_run(raw_api_key, api_base, workspace, ada):
    journey = journey_create(workspace)
    url = f"{api_base}/journeys/{journey.public_id}/trigger"

    answers = fire_in_parallel(raw_api_key, url, {"external_id": "user_ada"})

    statuses = Counter(body["status"] for _, body in answers)
    assert statuses == {"enrolled": 1, "already_enrolled": PARALLEL - 1}
    assert Enrollment.objects.count() == 1
    (winner,) = [body for code, body in answers if code == 202]
    assert Enrollment.objects.get().public_id == winner["run_id"]


@pytest.mark.django_db(transaction=True)
def test_fifty_restarting_triggers_leave_exactly_one_active_run(
    raw_api_key, api_base, workspace, ada
):
    journey = journey_create(workspace, entry={"allow_reentry": True})
    url = f"{api_base}/journeys/{journey.public_id}/trigger"

    answers = fire_in_parallel(raw_api_key, url, {"external_id": "user_ada"})

    assert Enrollment.objects.filter(state="active").count() == 1
    enrolled = [body for code, body in answers if code == 202]
    assert Enrollment.objects.count() == len(enrolled)
    assert all(code in (200, 202) for code, _ in answers)


@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_triggers_never_enroll_anyone_twice(raw_api_key, api_base, workspace):
    from tests.factories import customers_create

    customers_create(workspace, 200)
    journey = journey_create(workspace)
    url = f"{api_base}/journeys/{journey.public_id}/trigger"
    body = {"external_ids": [f"user_{i}" for i in range(200)]}

    answers = fire_in_parallel(raw_api_key, url, body, count=8)

    assert sum(b["enrolled_count"] for _, b in answers) == 200
    assert sum(b["not_enrolled"]["already_enrolled"] for _, b in answers) == 7 * 200
    assert Enrollment.objects.count() == 200
