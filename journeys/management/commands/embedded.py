"""``manage.py embedded``: the whole product on one machine with no services.

Sets up the demo, then runs web (gunicorn), a Celery worker and Celery beat as child
processes sharing the SQLite database and the filesystem broker in ``var/``. Prints a
curl line that triggers the demo journey once the web server answers. Ctrl-C (or any
child exiting) stops all three.
"""

import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from journeys.demo import demo_setup

READY_TIMEOUT_SECONDS = 60


class Command(BaseCommand):
    help = "Start web, worker and beat on the embedded default and print a demo curl line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        base_url = f"http://{host}:{port}"
        demo = demo_setup()
        python = sys.executable
        schedule = settings.VAR_DIR / "celerybeat-schedule"
        commands = {
            # One web process: the embedded default's rate-limit cache is per process.
            "web": [python, "-m", "gunicorn", "config.wsgi", "--bind", f"{host}:{port}",
                    "--workers", "1", "--threads", "4", "--access-logfile", "-"],
            "worker": [python, "-m", "celery", "-A", "config", "worker",
                       "--concurrency", "1", "--loglevel", "INFO"],
            "beat": [python, "-m", "celery", "-A", "config", "beat",
                     "--schedule", str(schedule), "--loglevel", "INFO"],
        }  # fmt: skip
        children = {name: subprocess.Popen(argv) for name, argv in commands.items()}
        stopping = False

        def stop(*_args) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            self._wait_until_ready(f"{base_url}/healthz", children)
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nJourney engine running at {base_url} (admin: {base_url}/admin/, "
                    f"API docs: {base_url}/api/docs/). Trigger the demo journey with:\n"
                )
            )
            self.stdout.write(demo.trigger_curl(base_url) + "\n")
            self.stdout.flush()
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        raise CommandError(f"{name} exited with status {child.returncode}")
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _wait_until_ready(self, url: str, children: dict[str, subprocess.Popen]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if children["web"].poll() is not None:
                raise CommandError("the web server exited during start-up")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise CommandError(f"the web server did not answer {url} within {READY_TIMEOUT_SECONDS}s")
