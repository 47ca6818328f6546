"""The fixed cast every test can lean on: a workspace, its key, an API client, customers.

Tests run against real PostgreSQL and Redis (``make test`` points DATABASE_URL and
REDIS_URL at the local servers); nothing here fakes either.
"""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from customers.models import ApiKey, Customer, Workspace


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counters():
    """Rate-limit counters live in the shared cache (Redis): start every test at zero."""
    cache.clear()
    yield


@pytest.fixture
def workspace(db) -> Workspace:
    return Workspace.objects.create(name="Acme")


@pytest.fixture
def other_workspace(db) -> Workspace:
    return Workspace.objects.create(name="Globex")


@pytest.fixture
def api_key_pair(workspace) -> tuple[ApiKey, str]:
    return ApiKey.objects.create_key(workspace=workspace, name="tests")


@pytest.fixture
def api_key(api_key_pair) -> ApiKey:
    return api_key_pair[0]


@pytest.fixture
def raw_api_key(api_key_pair) -> str:
    return api_key_pair[1]


@pytest.fixture
def client(raw_api_key) -> APIClient:
    """An API client authenticated as the workspace's key."""
    api_client = APIClient()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_api_key}")
    return api_client


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def ada(workspace) -> Customer:
    return Customer.objects.create(
        workspace=workspace,
        external_id="user_ada",
        email="ada@example.com",
        attributes={"first_name": "Ada", "plan": "vip", "age": 36},
    )


@pytest.fixture
def grace(workspace) -> Customer:
    return Customer.objects.create(
        workspace=workspace,
        external_id="user_grace",
        email="grace@example.com",
        attributes={"first_name": "Grace", "plan": "free", "age": 45},
    )


@pytest.fixture
def api_base(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.public_id}"


@pytest.fixture
def admin_client(db):
    """A logged-in superuser: the marketer's view of the product."""
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_superuser("marketer", "marketer@example.com", "pw")
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def staff_client(workspace):
    """``staff_client("view_journey", ...)``: a logged-in staff user holding only those
    permissions (codenames), as a marketer with a narrow role is, and a member of
    ``workspace`` (the admin shows a user who is not a superuser their workspaces only)."""
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from customers.models import WorkspaceMember

    def login(*codenames: str) -> Client:
        user = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        WorkspaceMember.objects.create(user=user, workspace=workspace)
        browser = Client()
        browser.force_login(user)
        return browser

    return login


class _SmtpSink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes

        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback; Django's SMTP backend is pointed at it."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = _SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    sink.port = port
    yield sink
    controller.stop()


@pytest.fixture
def http_server(settings):
    """A real HTTP server on 127.0.0.1 that answers JSON per path and records requests.

    ``http_server.routes["/coupon"] = (200, {"code": "X"})``; unknown paths answer 404.
    Outbound HTTP to it is allowed for the test (it is loopback, blocked by default).
    """
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    routes: dict = {}
    requests: list = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )
            status, payload = routes.get(self.path, (404, {"error": "no route"}))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    server.routes, server.requests = routes, requests
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()
