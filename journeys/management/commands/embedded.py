"""``manage.py embedded``: the whole product on one machine with no services.

Sets up the demo, then runs web (gunicorn), a Celery worker and Celery beat as child
processes sharing the SQLite database and the filesystem broker in ``var/``. Their
output is forwarded with a ``web |`` / ``worker |`` / ``beat |`` prefix. Once the web
server answers and the worker is ready, it prints a curl line that triggers the demo
journey, last, so it is not lost in the start-up noise, and says where e-mails go.
Ctrl-C (or any child exiting) stops all three.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from journeys.authoring.demo import demo_setup

READY_TIMEOUT_SECONDS = 90
WORKER_READY_MARK = "ready."


class Command(BaseCommand):
    help = "Start web, worker and beat on the embedded default and print a demo curl line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        base_url = f"http://{host}:{port}"
        email_sent = settings.EMAIL_BACKEND != "delivery.console_email.ReadableConsoleBackend"
        demo = demo_setup()
        children = self._start_children(host, port)
        worker_ready = threading.Event()
        for name, child in children.items():
            mark = worker_ready if name == "worker" else None
            threading.Thread(target=self._forward, args=(name, child, mark), daemon=True).start()

        stopping = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        try:
            self._wait_until_ready(f"{base_url}/healthz", worker_ready, children, stopping)
            if not stopping.is_set():
                self.stdout.write(self.style.SUCCESS(_ready_text(base_url, email_sent)))
                self.stdout.write(demo.trigger_curl(base_url) + "\n")
                self.stdout.flush()
            while not stopping.is_set():
                self._check_alive(children)
                stopping.wait(0.5)
        finally:
            self._stop(children)

    def _start_children(self, host: str, port: int) -> dict[str, subprocess.Popen]:
        python = sys.executable
        schedule = settings.VAR_DIR / "celerybeat-schedule"
        commands = {
            # One web process: the embedded default's rate-limit cache is per process.
            "web": [python, "-m", "gunicorn", "config.wsgi", "--bind", f"{host}:{port}",
                    "--workers", "1", "--threads", "4"],
            "worker": [python, "-m", "celery", "-A", "config", "worker",
                       "--concurrency", "1", "--loglevel", "INFO"],
            "beat": [python, "-m", "celery", "-A", "config", "beat",
                     "--schedule", str(schedule), "--loglevel", "INFO"],
        }  # fmt: skip
        # Links in messages (unsubscribe) point at this server unless configured.
        env = {"PUBLIC_BASE_URL": f"http://{host}:{port}", **os.environ}
        return {
            name: subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                env=env,
            )
            for name, argv in commands.items()
        }

    def _forward(self, name: str, child: subprocess.Popen, ready: threading.Event | None) -> None:
        for line in child.stdout:
            self.stdout.write(f"{name:>6} | {line.rstrip()}")
            if ready is not None and WORKER_READY_MARK in line:
                ready.set()

    def _wait_until_ready(
        self,
        health_url: str,
        worker_ready: threading.Event,
        children: dict[str, subprocess.Popen],
        stopping: threading.Event,
    ) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        web_ready = False
        while not stopping.is_set():
            self._check_alive(children)
            if not web_ready:
                web_ready = _answers_ok(health_url)
            if web_ready and worker_ready.is_set():
                return
            if time.monotonic() > deadline:
                raise CommandError(f"not ready within {READY_TIMEOUT_SECONDS}s")
            time.sleep(0.3)

    def _check_alive(self, children: dict[str, subprocess.Popen]) -> None:
        for name, child in children.items():
            if child.poll() is not None:
                raise CommandError(f"{name} exited with status {child.returncode}")

    def _stop(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def _ready_text(base_url: str, email_sent: bool) -> str:
    where = (
        "E-mails go out through EMAIL_URL."
        if email_sent
        else "E-mails are not sent: the worker logs each one here (EMAIL_URL=smtp://... sends)."
    )
    return (
        f"\nJourney engine running at {base_url} (admin: {base_url}/admin/, "
        f"API docs: {base_url}/api/docs/).\n{where}\n"
        "Trigger the demo journey with this line (its key is kept across restarts,"
        f" in {settings.VAR_DIR / 'demo-api-key'}):\n"
    )


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
