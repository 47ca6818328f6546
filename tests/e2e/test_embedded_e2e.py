"""The same journey end to end on the embedded default: SQLite, the filesystem broker,
and the web, worker and beat processes ``manage.py embedded`` starts, driven over HTTP
as an application would."""

import os
import re
import socket
import sys
import time

import requests

from tests.e2e.conftest import ProcessGroup
from tests.e2e.test_engine_e2e import JOURNEY_STEPS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_delay_branch_webhook_email_on_the_embedded_default(tmp_path, smtp_server, http_server):
    http_server.routes["/coupon"] = (200, {"code": "VIP-2026"})
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    port = free_port()
    group = ProcessGroup(tmp_path, env)
    try:
        group.start("migrate", [sys.executable, "manage.py", "migrate", "--noinput"]).wait(120)
        group.start("embedded", [sys.executable, "manage.py", "embedded", "--port", str(port)])
        group.wait_for_log("embedded", "curl ", timeout=120)
        curl = next(line for line in group.log("embedded").splitlines() if line.startswith("curl"))
        workspace_id = re.search(r"/workspaces/(ws_\w+)/", curl).group(1)
        key = re.search(r"Bearer (sk_\w+)", curl).group(1)
        api = f"http://127.0.0.1:{port}/api/v1/workspaces/{workspace_id}"
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"

        session.post(f"{api}/customers", json={
            "external_id": "ada", "email": "ada@example.com",
            "attributes": {"first_name": "Ada", "plan": "vip"},
        }).raise_for_status()  # fmt: skip
        document = {"name": "Gift", "trigger": {"type": "api"}, "steps": JOURNEY_STEPS}
        journey = session.post(f"{api}/journeys", json=document).json()
        session.post(f"{api}/journeys/{journey['id']}/publish").raise_for_status()
        trigger = session.post(f"{api}/journeys/{journey['id']}/trigger", json={
            "external_id": "ada", "payload": {"coupon_url": http_server.base_url + "/coupon"},
        })  # fmt: skip
        assert trigger.status_code == 202, trigger.text
        run_url = f"{api}/runs/{trigger.json()['run_id']}"

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = session.get(run_url).json()
            if run["state"] != "active":
                break
            time.sleep(0.5)
    finally:
        group.stop_all()

    output = group.log("embedded")
    assert run["state"] == "completed", (run, output[-3000:])
    # Sweeps that found nothing said nothing (beat queued one every second meanwhile).
    assert "Sending due task runs-sweep" not in output
    assert not [
        line for line in output.splitlines() if "runs_sweep[" in line and "received" in line
    ]
    assert [step["step"] for step in run["timeline"]] == ["wait", "plan", "coupon", "mail"]
    (mail,) = smtp_server.messages
    assert "Your code is VIP-2026." in mail.get_payload()
