"""A run whose walk fails unexpectedly is tried again a few times, later each time, then
failed with the error on its timeline and a ``run.failed`` event (issue 10, section 3).

The faults are injected into a step's executor (a bug, a MemoryError) or produced by
the real database (a value PostgreSQL refuses); claims, walks and writes are the
engine's own, on PostgreSQL. Time moves with time_machine.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from delivery.models import WebhookDelivery
from delivery.state_webhooks.endpoints import webhook_endpoint_create
from journeys.engine import steps
from journeys.engine.claims import runs_claim, runs_claim_due
from journeys.engine.failures import MAX_WALK_ATTEMPTS, RETRY_DELAYS
from journeys.engine.runner import runs_walk
from journeys.engine.steps.base import StepResult
from journeys.models import Enrollment, StepRun
from tests.factories import customers_create, journey_create
from tests.walking import enroll

pytestmark = pytest.mark.django_db

TWO_STEPS = [
    {"key": "tag", "type": "update_customer", "set": {"seen": "yes"}, "next": "pause"},
    {"key": "pause", "type": "delay", "seconds": 60, "next": None},
]


class Faulty:
    """An executor that raises ``error`` for its first ``times`` calls, then does the
    step's real work; counts its calls."""

    def __init__(self, real, error: BaseException, times: int = 10**6) -> None:
        self.real, self.error, self.times, self.calls = real, error, times, 0

    def __call__(self, inp):
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return self.real(inp)


@pytest.fixture
def faulty_update(monkeypatch):
    def install(error: BaseException, times: int = 10**6) -> Faulty:
        faulty = Faulty(steps.EXECUTORS["update_customer"], error, times)
        monkeypatch.setitem(steps.EXECUTORS, "update_customer", faulty)
        return faulty

    return install


def walk_when_due(run, clock):
    """Move the clock to the run's wake_at, claim due runs the way a sweep does and
    walk them."""
    run.refresh_from_db()
    clock.move_to(run.wake_at + timedelta(milliseconds=1))
    runs_walk(runs_claim_due(limit=100))
    run.refresh_from_db()
    return run


def test_a_step_that_raises_is_retried_later_then_the_run_fails_on_its_timeline(
    client, api_base, workspace, ada, faulty_update
):
    hook, _secret = webhook_endpoint_create(workspace=workspace, url="https://hooks.example.com/x")
    faulty = faulty_update(RuntimeError("bug in a step\nsecond line"))
    journey = journey_create(workspace, steps=TWO_STEPS)
    run = enroll(client, api_base, journey)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        start = timezone.now()
        runs_walk(runs_claim(run_ids=[run.pk]))
        run.refresh_from_db()

        # Still active, out of the due set for the first retry delay, the error shown.
        assert run.state == Enrollment.State.ACTIVE
        assert run.lease_token is None
        assert run.wake_at == start + RETRY_DELAYS[0]
        assert run.error == (
            f"RuntimeError: bug in a step (walk 1 of {MAX_WALK_ATTEMPTS} failed;"
            " tried again in 10 s)"
        )
        assert not runs_claim_due(limit=100)  # not due before its delay

        delays = [run.wake_at - start]
        for _ in range(MAX_WALK_ATTEMPTS - 1):
            run = walk_when_due(run, clock)  # the clock stands at the walk's time
            if run.state == Enrollment.State.ACTIVE:
                delays.append(run.wake_at - timezone.now())

    assert faulty.calls == MAX_WALK_ATTEMPTS
    assert delays == list(RETRY_DELAYS)[: MAX_WALK_ATTEMPTS - 1]
    assert run.state == Enrollment.State.FAILED
    assert run.error == (
        f"tag: RuntimeError: bug in a step (gave up after {MAX_WALK_ATTEMPTS} failed walks)"
    )
    assert (run.wake_at, run.lease_token, run.finished_at is not None) == (None, None, True)
    (visit,) = StepRun.objects.filter(enrollment=run)
    assert (visit.step_key, visit.outcome, visit.error) == (
        "tag", "failed", "RuntimeError: bug in a step"
    )  # fmt: skip
    body = client.get(f"{api_base}/runs/{run.public_id}").json()
    assert body["state"] == "failed"
    assert body["timeline"][0]["error"] == "RuntimeError: bug in a step"
    events = {d.event_type: d.payload for d in WebhookDelivery.objects.filter(endpoint=hook)}
    assert events["run.failed"]["error"] == run.error
    assert events["run.failed"]["run_id"] == run.public_id
    assert events["run.step_completed"]["outcome"] == "failed"


def test_a_memory_error_fails_the_run_after_its_attempts(
    client, api_base, workspace, ada, faulty_update
):
    faulty = faulty_update(MemoryError())
    journey = journey_create(workspace, steps=TWO_STEPS)
    run = enroll(client, api_base, journey)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        runs_walk(runs_claim(run_ids=[run.pk]))
        while run.state == Enrollment.State.ACTIVE and faulty.calls <= MAX_WALK_ATTEMPTS:
            run = walk_when_due(run, clock)

    assert faulty.calls == MAX_WALK_ATTEMPTS
    assert run.state == Enrollment.State.FAILED
    assert run.error == f"tag: MemoryError (gave up after {MAX_WALK_ATTEMPTS} failed walks)"


def test_a_passing_fault_is_forgiven_once_the_run_walks_again(
    client, api_base, workspace, ada, faulty_update
):
    faulty_update(ConnectionError("database restarting"), times=MAX_WALK_ATTEMPTS - 1)
    journey = journey_create(workspace, steps=TWO_STEPS)
    run = enroll(client, api_base, journey)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        runs_walk(runs_claim(run_ids=[run.pk]))
        for _ in range(MAX_WALK_ATTEMPTS - 1):
            run = walk_when_due(run, clock)

    assert (run.state, run.current_step, run.error, run.walk_attempts) == (
        Enrollment.State.ACTIVE, "pause", "", 0
    )  # fmt: skip
    assert [(v.step_key, v.outcome) for v in StepRun.objects.filter(enrollment=run)] == [
        ("tag", "updated"), ("pause", "waiting")
    ]  # fmt: skip


def test_a_run_whose_walks_kill_their_worker_is_failed_without_another_walk(
    client, api_base, workspace, ada, faulty_update
):
    """A worker killed mid-walk (the OOM killer) runs no ``except``: its claim is all that
    is left. After as many claims as walks a run gets, the next claim fails it."""
    faulty = faulty_update(RuntimeError("never reached"))
    journey = journey_create(workspace, steps=TWO_STEPS)
    run = enroll(client, api_base, journey)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(MAX_WALK_ATTEMPTS):
            claim = runs_claim_due(limit=100)  # the worker dies before it writes
            assert claim.run_ids == [run.pk]
            clock.shift(timedelta(minutes=2))  # its lease lapses
        runs_walk(runs_claim_due(limit=100))

    run.refresh_from_db()
    assert faulty.calls == 0
    assert run.state == Enrollment.State.FAILED
    assert run.error == (
        "tag: the walk did not finish (its worker stopped or hung)"
        f" (gave up after {MAX_WALK_ATTEMPTS + 1} failed walks)"
    )
    assert StepRun.objects.get(enrollment=run).outcome == "failed"


def test_a_run_given_up_after_killed_walks_keeps_its_last_error_whole(
    client, api_base, workspace, ada, faulty_update
):
    """The failed walk's error is kept as it was said, whatever it contains; only the
    retry's own note is taken off it."""
    faulty_update(RuntimeError("stuck (walk 2 of the loop)"))
    journey = journey_create(workspace, steps=TWO_STEPS)
    run = enroll(client, api_base, journey)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        runs_walk(runs_claim(run_ids=[run.pk]))  # fails, and is tried again later
        for _ in range(MAX_WALK_ATTEMPTS - 1):
            run.refresh_from_db()
            clock.move_to(run.wake_at + timedelta(minutes=2))
            assert runs_claim_due(limit=100).run_ids == [run.pk]  # then dies unwritten
        clock.shift(timedelta(minutes=2))
        runs_walk(runs_claim_due(limit=100))

    run.refresh_from_db()
    assert run.state == Enrollment.State.FAILED
    assert run.error == (
        "tag: RuntimeError: stuck (walk 2 of the loop)"
        f" (gave up after {MAX_WALK_ATTEMPTS + 1} failed walks)"
    )
    assert StepRun.objects.get(enrollment=run).error == "RuntimeError: stuck (walk 2 of the loop)"


def test_a_value_the_database_refuses_fails_one_run_not_its_batch(
    client, api_base, workspace, monkeypatch
):
    """PostgreSQL refuses a NUL in JSON text; the batch that holds such a run is written
    again run by run, and only that run is retried."""
    real = steps.EXECUTORS["update_customer"]

    def poisons_one(inp):
        result = real(inp)
        if inp.run.customer.external_id == "user_2":
            return StepResult(
                outcome=result.outcome, next_step=result.next_step,
                context_updates={"note": "a\x00b"},
            )  # fmt: skip
        return result

    monkeypatch.setitem(steps.EXECUTORS, "update_customer", poisons_one)
    customers_create(workspace, 4)
    journey = journey_create(workspace, steps=TWO_STEPS)
    runs = [enroll(client, api_base, journey, f"user_{n}") for n in range(4)]

    runs_walk(runs_claim(run_ids=[run.pk for run in runs]))

    states = {}
    for run in runs:
        run.refresh_from_db()
        states[run.customer.external_id] = (run.state, run.current_step, run.walk_attempts)
    assert states == {
        "user_0": ("active", "pause", 0),
        "user_1": ("active", "pause", 0),
        "user_2": ("active", "tag", 1),
        "user_3": ("active", "pause", 0),
    }
    poisoned = Enrollment.objects.get(customer__external_id="user_2")
    assert poisoned.error.startswith("DataError: ")
    assert not StepRun.objects.filter(enrollment=poisoned).exists()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"code": "a\u0000b"}, "code: NUL characters (\\u0000) are not allowed"),
        ({"rate": 1e999}, "Infinity is not valid JSON"),
    ],
)
def test_a_webhook_answer_that_cannot_be_stored_fails_its_step_once(
    client, api_base, workspace, ada, http_server, answer, problem
):
    """A third party's answer with a NUL (or an infinite number) would fail every commit
    of the run's batch; the step fails at once instead, naming the problem."""
    http_server.routes["/lookup"] = (200, answer)
    journey = journey_create(
        workspace,
        steps=[{"key": "lookup", "type": "webhook", "method": "GET",
                "url": http_server.base_url + "/lookup", "headers": {}, "body": None,
                "next": None}],
    )  # fmt: skip
    run = enroll(client, api_base, journey)

    runs_walk(runs_claim(run_ids=[run.pk]))

    run.refresh_from_db()
    assert run.state == Enrollment.State.FAILED
    assert run.error == f"lookup: webhook answered JSON that cannot be stored: {problem}"
    assert len(http_server.requests) == 1
    assert "lookup" not in run.context["steps"]
