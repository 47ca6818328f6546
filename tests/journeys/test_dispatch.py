"""The sweep starts pulls while runs are due, on the real broker; pulls claim when they run.

Tasks are called in this process (their bodies run here); what they queue goes to the
test Redis, where the tests count it.
"""

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from journeys.engine import dispatch, tasks
from journeys.engine.dispatch import PULL_QUEUE, PULLS_WAITING, queue_length
from journeys.engine.tasks import runs_pull, runs_sweep
from journeys.models import Enrollment
from tests.e2e.conftest import database_url_for_test_db
from tests.factories import customers_create, journey_create, runs_waiting_create

pytestmark = pytest.mark.django_db

TAG = [{"key": "tag", "type": "update_customer", "set": {"x": 1}, "next": None}]


@pytest.fixture(autouse=True)
def empty_broker():
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def journey(workspace):
    return journey_create(workspace, steps=TAG)


def test_a_sweep_with_nothing_due_queues_nothing_in_two_queries(journey):
    with CaptureQueriesContext(connection) as queries:
        assert runs_sweep() == 0

    assert queue_length(PULL_QUEUE) == 0
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2  # the sweep's lock, one probe of the due index


def test_a_sweep_keeps_pulls_waiting_while_runs_are_due(workspace, journey):
    runs_waiting_create(journey, customers_create(workspace, 3), wake_at=timezone.now())

    assert runs_sweep() == PULLS_WAITING
    assert runs_sweep() == 0  # enough are waiting already

    assert queue_length(PULL_QUEUE) == PULLS_WAITING
    assert not Enrollment.objects.filter(lease_token__isnull=False).exists()  # nothing claimed


def test_a_sweep_returns_at_once_while_another_sweep_runs(workspace, journey):
    runs_waiting_create(journey, customers_create(workspace, 3), wake_at=timezone.now())
    with psycopg.connect(database_url_for_test_db(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [dispatch._SWEEP_LOCK])

        assert runs_sweep() == 0
        # Released explicitly: a closed session's backend lets go of its locks a moment
        # after the client has moved on.
        other.execute("SELECT pg_advisory_unlock(%s)", [dispatch._SWEEP_LOCK])

    assert queue_length(PULL_QUEUE) == 0
    assert runs_sweep() == PULLS_WAITING  # the other sweep has finished


def test_a_pull_that_takes_a_full_batch_queues_the_next_one_first(workspace, journey, monkeypatch):
    runs_waiting_create(journey, customers_create(workspace, 150), wake_at=timezone.now())
    waiting_when_walked = []
    real_walk = tasks.runs_walk

    def walk_after_looking_at_the_queue(claim):
        waiting_when_walked.append(queue_length(PULL_QUEUE))
        real_walk(claim)

    monkeypatch.setattr(tasks, "runs_walk", walk_after_looking_at_the_queue)

    assert runs_pull() == 100
    assert waiting_when_walked == [1]  # the next pull could start while this one walked
    assert runs_pull() == 50  # the last of them: no successor
    assert queue_length(PULL_QUEUE) == 1
    assert runs_pull() == 0

    assert Enrollment.objects.filter(state="completed").count() == 150


def test_a_worker_serves_triggers_first_then_other_tasks_then_due_batches():
    from config.celery import app

    assert list(app.amqp.queues.consume_from) == ["runs.now", "celery", "runs.due"]
    assert app.conf.broker_transport_options["queue_order_strategy"] == "priority"
