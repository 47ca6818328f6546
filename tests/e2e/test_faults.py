"""Crashes lose nothing and send nothing twice (real processes, PostgreSQL, Redis, SMTP).

- A worker is killed with SIGKILL in the middle of a batch of 1,000 runs, at the worst
  moment: while it is handing a message to the SMTP server. Another worker finishes
  the batch once the dead worker's leases expire.
- Redis is restarted (losing every queued task) while runs wait on delays.
Afterwards every run has completed and the SMTP server holds each message once.
"""

import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from customers.models import Customer
from journeys.models import Enrollment
from tests.e2e.conftest import wait_until
from tests.factories import journey_create

RUNS = 1000
LEASE_SECONDS = "5"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An SMTP server that keeps accepted messages; ``on_data`` may intervene first.

    When ``on_data`` returns False the message is refused before the server answers
    250, as a real server does when the client vanishes mid-transaction.
    """

    def __init__(self, on_data=None) -> None:
        self.messages = []
        self.on_data = on_data
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        if self.on_data is not None and self.on_data(len(self.messages)) is False:
            return "451 connection lost"
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def recipients(self) -> Counter:
        with self.lock:
            return Counter(message["To"] for message in self.messages)


def audience(workspace, count: int) -> list[str]:
    Customer.objects.bulk_create(
        Customer(workspace=workspace, external_id=f"c{i}", email=f"c{i}@example.com")
        for i in range(count)
    )
    return [f"c{i}" for i in range(count)]


def trigger_all(client, api_base, journey, external_ids) -> None:
    response = client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger",
        {"external_ids": external_ids},
        format="json",
    )
    assert response.json()["enrolled_count"] == len(external_ids), response.json()


def assert_each_run_completed_and_mailed_once(journey, mailbox, count: int) -> None:
    states = Counter(Enrollment.objects.filter(journey=journey).values_list("state", flat=True))
    assert states == {"completed": count}
    recipients = mailbox.recipients()
    assert len(recipients) == count
    assert set(recipients.values()) == {1}, [to for to, n in recipients.items() if n > 1]


@pytest.mark.django_db(transaction=True)
def test_killing_a_worker_mid_batch_loses_nothing_and_sends_nothing_twice(
    processes, client, api_base, workspace
):
    killed = threading.Event()
    group = None

    def kill_during_the_300th_send(accepted: int):
        if accepted == 300 and not killed.is_set():
            group.kill("doomed")
            killed.set()
            return False
        return None

    mailbox = Mailbox(on_data=kill_during_the_300th_send)
    mailbox.controller.start()
    try:
        group = processes(
            EMAIL_URL=f"smtp://127.0.0.1:{mailbox.port}", RUN_LEASE_SECONDS=LEASE_SECONDS
        )
        group.worker("doomed")
        group.beat()
        journey = journey_create(
            workspace,
            steps=[{"key": "mail", "type": "send", "channel": "email", "subject": "Hello",
                    "body": "Hi {{ customer.external_id }}", "next": None}],
        )  # fmt: skip
        trigger_all(client, api_base, journey, audience(workspace, RUNS))

        assert killed.wait(timeout=60), group.log("doomed")[-3000:]
        active = Enrollment.objects.filter(journey=journey, state="active").count()
        assert 0 < active < RUNS  # killed in the middle of the batch
        group.worker("survivor")
        finished = wait_until(
            lambda: not Enrollment.objects.filter(journey=journey, state="active").exists(),
            timeout=180,
        )
        assert finished, group.log("survivor")[-3000:]
    finally:
        mailbox.controller.stop()

    assert_each_run_completed_and_mailed_once(journey, mailbox, RUNS)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
@pytest.mark.django_db(transaction=True)
def test_restarting_redis_while_runs_wait_loses_nothing(
    processes, client, api_base, workspace, tmp_path
):
    port = free_port()
    redis_command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    broker = subprocess.Popen(redis_command, stdout=subprocess.DEVNULL)
    mailbox = Mailbox()
    mailbox.controller.start()
    try:
        assert wait_until(lambda: _answers(port), timeout=10)
        group = processes(
            EMAIL_URL=f"smtp://127.0.0.1:{mailbox.port}",
            CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0",
            RUN_LEASE_SECONDS=LEASE_SECONDS,
        )
        group.worker(concurrency=2)
        group.beat()
        journey = journey_create(
            workspace,
            steps=[
                {"key": "wait", "type": "delay", "seconds": 6, "next": "mail"},
                {"key": "mail", "type": "send", "channel": "email", "subject": "Later",
                 "body": "Hi", "next": None},
            ],
        )  # fmt: skip
        count = 200
        trigger_all(client, api_base, journey, audience(workspace, count))
        waiting = Enrollment.objects.filter(journey=journey, current_step="wait", lease_token=None)
        assert wait_until(lambda: waiting.exclude(wake_at=None).count() == count, timeout=60)
        assert mailbox.messages == []

        broker.kill()
        broker.wait(timeout=10)
        time.sleep(1)
        broker = subprocess.Popen(redis_command, stdout=subprocess.DEVNULL)
        assert wait_until(lambda: _answers(port), timeout=10)

        finished = wait_until(
            lambda: not Enrollment.objects.filter(journey=journey, state="active").exists(),
            timeout=180,
        )
        assert finished, group.log("worker")[-3000:]
    finally:
        mailbox.controller.stop()
        broker.kill()
        broker.wait(timeout=10)

    assert_each_run_completed_and_mailed_once(journey, mailbox, count)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False
