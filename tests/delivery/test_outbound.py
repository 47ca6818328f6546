"""The outbound HTTP client against real HTTP(S) servers on loopback.

Each test server records what reached it, so "blocked" means "nothing arrived", not
"an exception was raised somewhere". The only stand-in is the resolver: a wrapper around
the real ``socket.getaddrinfo`` that counts lookups and can give test host names
addresses (it is the edge of the world; everything after it is real sockets).
"""

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from delivery import outbound
from delivery.outbound import (
    BlockedDestination,
    OutboundError,
    OutboundResponse,
    check_address,
    http_request,
    http_request_with_retries,
    non_public_reason,
)

Responder = Callable[[BaseHTTPRequestHandler], None]


# --- Test servers ------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A ThreadingHTTPServer in a thread that records requests and follows a script.

    ``respond(a, b)`` answers the first request with ``a`` and every later one with ``b``.
    """

    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    requests: list[Recorded] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _script: list[Responder] = field(default_factory=list)

    def start(self) -> None:
        self._httpd = ThreadingHTTPServer((self.host, 0), _handler_for(self))
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def respond(self, *responders: Responder) -> None:
        self._script = list(responders)

    def next_responder(self) -> Responder:
        if not self._script:
            return lambda handler: reply(handler, 200, b"{}")
        return self._script.pop(0) if len(self._script) > 1 else self._script[0]


def _handler_for(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            server.requests.append(
                Recorded(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length),
                )
            )
            server.next_responder()(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    length: bool = True,
) -> None:
    """Write a whole answer; ``length=False`` leaves the body delimited by closing."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if length:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def json_reply(status: int, payload: object) -> Responder:
    body = json.dumps(payload).encode()
    return lambda handler: reply(handler, status, body, {"Content-Type": "application/json"})


def status_reply(status: int) -> Responder:
    return lambda handler: reply(handler, status, b"status body")


def redirect_to(url: str, status: int = 302) -> Responder:
    return lambda handler: reply(handler, status, b"", {"Location": url})


def hang(server: Server) -> Responder:
    """Never answer (until the test ends): a timeout, seen from the client."""
    return lambda handler: server.stop.wait(10)


@pytest.fixture
def server() -> Iterator[Server]:
    test_server = Server()
    test_server.start()
    yield test_server
    test_server.close()


@pytest.fixture
def other_server() -> Iterator[Server]:
    """A second server on 127.0.0.2: loopback too, but outside ``127.0.0.1/32``."""
    test_server = Server(host="127.0.0.2")
    test_server.start()
    yield test_server
    test_server.close()


@pytest.fixture(autouse=True)
def _no_allowed_networks() -> Iterator[None]:
    """Start from the product default (nothing internal allowed), whatever the environment says."""
    with override_settings(OUTBOUND_ALLOWED_NETWORKS=[]):
        yield


@pytest.fixture
def allow_loopback() -> Iterator[None]:
    with override_settings(OUTBOUND_ALLOWED_NETWORKS=["127.0.0.1/32"]):
        yield


@dataclass
class Resolver:
    """Counts getaddrinfo calls per host; ``names`` maps test host names to addresses."""

    real: Callable[..., list]
    calls: list[str] = field(default_factory=list)
    names: dict[str, list[str] | Exception] = field(default_factory=dict)

    def __call__(self, host: str, port: object, *args: object, **kwargs: object) -> list:
        self.calls.append(host)
        answer = self.names.get(host)
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return self.real(host, port, *args, **kwargs)
        return [info for ip in answer for info in self.real(ip, port, *args, **kwargs)]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    counting = Resolver(real=socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", counting)
    return counting


# --- Answers -----------------------------------------------------------------------------


def test_200_json_is_parsed(server: Server, allow_loopback: None) -> None:
    server.respond(json_reply(200, {"ok": True, "items": [1, 2]}))

    response = http_request(method="GET", url=server.url("/data?x=1"))

    assert response.status == 200
    assert response.json() == {"ok": True, "items": [1, 2]}
    assert response.headers["content-type"] == "application/json"
    assert response.url == server.url("/data?x=1")
    assert server.requests[0].path == "/data?x=1"


def test_method_headers_and_body_are_sent(server: Server, allow_loopback: None) -> None:
    http_request(
        method="post",
        url=server.url("/hook"),
        headers={"Content-Type": "application/json", "X-Signature": "abc"},
        body='{"name": "Zoë"}',
        idempotency_key="run_1:hook:1",
    )

    sent = server.requests[0]
    assert sent.method == "POST"
    assert sent.body == '{"name": "Zoë"}'.encode()
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-signature"] == "abc"
    assert sent.headers["idempotency-key"] == "run_1:hook:1"
    assert sent.headers["user-agent"] == "journey-engine/0.1"
    assert sent.headers["host"] == f"127.0.0.1:{server.port}"
    assert sent.headers["accept-encoding"] == "identity"


def test_client_owned_headers_cannot_be_overridden(server: Server, allow_loopback: None) -> None:
    http_request(
        method="POST",
        url=server.url(),
        headers={"Host": "internal.example", "Content-Length": "999", "Idempotency-Key": "x"},
        body=b"12345",
        idempotency_key="key-1",
    )

    sent = server.requests[0]
    assert sent.headers["host"] == f"127.0.0.1:{server.port}"
    assert sent.headers["content-length"] == "5"
    assert sent.headers["idempotency-key"] == "key-1"


def test_a_caller_idempotency_header_is_kept_without_a_key(
    server: Server, allow_loopback: None
) -> None:
    http_request(method="POST", url=server.url(), headers={"Idempotency-Key": "from-caller"})

    assert server.requests[0].headers["idempotency-key"] == "from-caller"


def test_error_messages_do_not_reveal_url_secrets(server: Server, allow_loopback: None) -> None:
    server.respond(status_reply(500))

    with pytest.raises(OutboundError) as caught:
        http_request(method="GET", url=server.url("/hook?token=s3cret#frag"))

    assert str(caught.value) == f"GET {server.url('/hook')} answered 500 Internal Server Error"


def test_4xx_is_returned_for_the_caller_to_judge(server: Server, allow_loopback: None) -> None:
    server.respond(json_reply(422, {"error": "bad"}))

    response = http_request(method="POST", url=server.url(), body=b"{}")

    assert response.status == 422
    assert response.json() == {"error": "bad"}


def test_5xx_raises_a_retryable_error_with_the_answer(server: Server, allow_loopback: None) -> None:
    server.respond(status_reply(503))

    with pytest.raises(OutboundError) as caught:
        http_request(method="GET", url=server.url())

    assert caught.value.retryable is True
    assert caught.value.status == 503
    assert "503" in str(caught.value)
    assert caught.value.response is not None
    assert caught.value.response.body == b"status body"


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe\x00", b"[" * 100_000])
def test_json_is_none_when_the_body_is_not_json(body: bytes) -> None:
    response = OutboundResponse(status=200, headers={}, body=body, url="https://example.com/")

    assert response.json() is None


def test_invalid_header_value_is_refused_before_sending(
    server: Server, allow_loopback: None
) -> None:
    with pytest.raises(OutboundError) as caught:
        http_request(method="GET", url=server.url(), headers={"X-Evil": "a\r\nInjected: 1"})

    assert caught.value.retryable is False
    assert server.requests == []


# --- Limits ------------------------------------------------------------------------------


def test_timeout_raises_a_retryable_error(server: Server, allow_loopback: None) -> None:
    server.respond(hang(server))
    started = time.monotonic()

    with pytest.raises(OutboundError) as caught:
        http_request(method="GET", url=server.url(), timeout=0.3)

    assert caught.value.retryable is True
    assert "timed out" in str(caught.value)
    assert time.monotonic() - started < 2


def test_a_dripping_server_cannot_stretch_the_timeout(server: Server, allow_loopback: None) -> None:
    """Each read waits only for the time left, so one byte at a time does not reset it."""

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        while not server.stop.wait(0.05):
            handler.wfile.write(b"x")
            handler.wfile.flush()

    server.respond(drip)
    started = time.monotonic()

    with pytest.raises(OutboundError, match="timed out"):
        http_request(method="GET", url=server.url(), timeout=0.5)

    assert time.monotonic() - started < 2


def test_declared_oversize_body_raises(server: Server, allow_loopback: None) -> None:
    server.respond(lambda handler: reply(handler, 200, b"x" * 2000))

    with pytest.raises(OutboundError, match="larger than 1000 bytes") as caught:
        http_request(method="GET", url=server.url(), max_response_bytes=1000)

    assert caught.value.retryable is False


def test_undeclared_oversize_body_is_cut_off(server: Server, allow_loopback: None) -> None:
    """Without Content-Length the client stops reading one byte past the cap."""
    server.respond(lambda handler: reply(handler, 200, b"x" * 500_000, length=False))

    with pytest.raises(OutboundError, match="larger than 1000 bytes"):
        http_request(method="GET", url=server.url(), max_response_bytes=1000)


def test_body_of_exactly_the_cap_is_accepted(server: Server, allow_loopback: None) -> None:
    server.respond(lambda handler: reply(handler, 200, b"x" * 1000, length=False))

    response = http_request(method="GET", url=server.url(), max_response_bytes=1000)

    assert response.body == b"x" * 1000


# --- Retries -----------------------------------------------------------------------------


def test_500_then_200_is_retried_with_the_same_idempotency_key(
    server: Server, allow_loopback: None
) -> None:
    server.respond(status_reply(500), json_reply(200, {"done": True}))

    response = http_request_with_retries(
        method="POST",
        url=server.url(),
        body=b"{}",
        idempotency_key="run_abc:hook:2",
        backoff_seconds=0.01,
    )

    assert response.json() == {"done": True}
    keys = [sent.headers["idempotency-key"] for sent in server.requests]
    assert keys == ["run_abc:hook:2", "run_abc:hook:2"]


def test_a_timeout_is_retried(server: Server, allow_loopback: None) -> None:
    server.respond(hang(server), json_reply(200, {"done": True}))

    response = http_request_with_retries(
        method="POST", url=server.url(), idempotency_key="k", timeout=0.3, backoff_seconds=0.01
    )

    assert response.status == 200
    assert [sent.headers["idempotency-key"] for sent in server.requests] == ["k", "k"]


def test_persistent_5xx_gives_up_after_the_attempts(server: Server, allow_loopback: None) -> None:
    server.respond(status_reply(502))

    with pytest.raises(OutboundError) as caught:
        http_request_with_retries(method="GET", url=server.url(), attempts=3, backoff_seconds=0.01)

    assert caught.value.status == 502
    assert len(server.requests) == 3


def test_4xx_is_not_retried(server: Server, allow_loopback: None) -> None:
    server.respond(status_reply(400))

    response = http_request_with_retries(method="GET", url=server.url(), backoff_seconds=0.01)

    assert response.status == 400
    assert len(server.requests) == 1


def test_blocked_destination_is_not_retried(server: Server, resolver: Resolver) -> None:
    resolver.names["internal.test"] = ["127.0.0.1"]

    with pytest.raises(BlockedDestination):
        http_request_with_retries(
            method="GET", url=server.url(host="internal.test"), backoff_seconds=0.01
        )

    assert resolver.calls.count("internal.test") == 1
    assert server.requests == []


def test_backoff_grows_exponentially_with_jitter(
    server: Server, allow_loopback: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.respond(status_reply(500))
    delays: list[float] = []
    monkeypatch.setattr(outbound.time, "sleep", delays.append)

    with pytest.raises(OutboundError):
        http_request_with_retries(method="GET", url=server.url(), attempts=4, backoff_seconds=1)

    assert len(delays) == 3
    for attempt, delay in enumerate(delays):
        assert 2**attempt / 2 <= delay <= 2**attempt


# --- Address policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.10", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.1", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", ""),
        ("255.255.255.255", ""),
        ("192.0.0.8", "IETF"),
        ("192.0.2.7", ""),
        ("198.18.0.1", ""),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped"),
        ("::ffff:169.254.169.254", "IPv4-mapped"),
        ("::ffff:8.8.8.8", "IPv4-mapped"),
        ("64:ff9b::7f00:1", "NAT64"),
        ("64:ff9b::808:808", "NAT64"),
        ("64:ff9b:1::1", "NAT64"),
        ("2002:7f00:1::", "6to4"),
        ("2001:db8::1", ""),
        ("::7f00:1", ""),
    ],
)
def test_non_public_addresses_are_blocked(address: str, reason: str) -> None:
    found = non_public_reason(address)
    assert found is not None
    assert reason in found
    with pytest.raises(BlockedDestination, match="is blocked"):
        check_address(address, allowed_networks=[])


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert non_public_reason(address) is None
    check_address(address, allowed_networks=[])


def test_allowed_networks_make_exceptions() -> None:
    check_address("10.0.0.5", allowed_networks=["10.0.0.0/8"])
    check_address("::1", allowed_networks=["::1/128"])
    with pytest.raises(BlockedDestination):
        check_address("10.0.0.5", allowed_networks=["127.0.0.1/32"])


def test_allowed_networks_are_read_from_settings_at_call_time() -> None:
    with pytest.raises(BlockedDestination):
        check_address("192.168.1.20")
    with override_settings(OUTBOUND_ALLOWED_NETWORKS=["192.168.1.0/24"]):
        check_address("192.168.1.20")


def test_a_malformed_allowed_network_is_a_configuration_error() -> None:
    with (
        override_settings(OUTBOUND_ALLOWED_NETWORKS=["10.0.0.0/33"]),
        pytest.raises(ImproperlyConfigured, match="OUTBOUND_ALLOWED_NETWORKS"),
    ):
        check_address("8.8.8.8")


def test_loopback_is_blocked_by_default_and_nothing_arrives(server: Server) -> None:
    with pytest.raises(BlockedDestination, match="loopback") as caught:
        http_request(method="POST", url=server.url(), body=b"secret")

    assert caught.value.retryable is False
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.1:8080/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "https://10.0.0.1/",
    ],
)
def test_literal_internal_addresses_are_blocked(url: str) -> None:
    with pytest.raises(BlockedDestination):
        http_request(method="GET", url=url, timeout=1)


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1"])
def test_odd_ipv4_spellings_are_checked_as_what_they_resolve_to(server: Server, host: str) -> None:
    with pytest.raises(BlockedDestination, match=r"127\.0\.0\.1"):
        http_request(method="GET", url=server.url(host=host))

    assert server.requests == []


def test_decimal_ip_reaches_an_allowed_loopback_server(
    server: Server, allow_loopback: None
) -> None:
    """The same spelling is fine once its real address is allowed: the check is on addresses."""
    response = http_request(method="GET", url=server.url(host="2130706433"))

    assert response.status == 200
    assert len(server.requests) == 1


def test_every_resolved_address_must_be_allowed(
    server: Server, allow_loopback: None, resolver: Resolver
) -> None:
    resolver.names["mixed.test"] = ["127.0.0.1", "10.0.0.1"]

    with pytest.raises(BlockedDestination, match=r"10\.0\.0\.1"):
        http_request(method="GET", url=server.url(host="mixed.test"))

    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http:///no-host",
        "http://user:secret@example.com/",
        "http://example.com:99999/",
    ],
)
def test_unsupported_urls_are_refused(url: str, resolver: Resolver) -> None:
    with pytest.raises(OutboundError) as caught:
        http_request(method="GET", url=url)

    assert caught.value.retryable is False
    assert resolver.calls == []


def test_unknown_host_is_not_retryable(resolver: Resolver) -> None:
    resolver.names["nowhere.test"] = socket.gaierror(socket.EAI_NONAME, "Name not known")

    with pytest.raises(OutboundError, match=r"cannot resolve nowhere\.test") as caught:
        http_request(method="GET", url="https://nowhere.test/")

    assert caught.value.retryable is False


def test_temporary_resolver_failure_is_retryable(resolver: Resolver) -> None:
    resolver.names["flaky.test"] = socket.gaierror(socket.EAI_AGAIN, "Try again")

    with pytest.raises(OutboundError) as caught:
        http_request(method="GET", url="https://flaky.test/")

    assert caught.value.retryable is True


# --- Resolution and connection -----------------------------------------------------------


def test_one_resolution_per_hop_and_the_original_host_header(
    server: Server, allow_loopback: None, resolver: Resolver
) -> None:
    resolver.names["hooks.test"] = ["127.0.0.1"]
    server.respond(redirect_to("/final"), json_reply(200, {"ok": 1}))

    response = http_request(method="GET", url=server.url("/start", host="hooks.test"))

    assert response.url == server.url("/final", host="hooks.test")
    assert resolver.calls.count("hooks.test") == 2  # two hops, one lookup each
    assert [sent.headers["host"] for sent in server.requests] == [
        f"hooks.test:{server.port}",
        f"hooks.test:{server.port}",
    ]


def test_connection_uses_the_checked_address_even_if_dns_changes(
    server: Server, allow_loopback: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second lookup (DNS rebinding) would get 10.0.0.1; the client never makes one."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.0.0.1"])
    lookups: list[str] = []

    def rebinding(host: str, port: object, *args: object, **kwargs: object) -> list:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        return real(next(answers), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)

    response = http_request(method="GET", url=server.url(host="rebind.test"))

    assert response.status == 200
    assert lookups == ["rebind.test"]


def test_falls_back_to_the_next_checked_address(server: Server, resolver: Resolver) -> None:
    resolver.names["dual.test"] = ["127.0.0.3", "127.0.0.1"]  # nothing listens on .3

    with override_settings(OUTBOUND_ALLOWED_NETWORKS=["127.0.0.0/8"]):
        response = http_request(method="GET", url=server.url(host="dual.test"))

    assert response.status == 200


def test_connection_refused_is_retryable(allow_loopback: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]

    with pytest.raises(OutboundError) as caught:
        http_request(method="GET", url=f"http://127.0.0.1:{free_port}/")

    assert caught.value.retryable is True


# --- Redirects ---------------------------------------------------------------------------


def test_redirect_to_a_blocked_address_is_blocked(
    server: Server, other_server: Server, allow_loopback: None
) -> None:
    server.respond(redirect_to(other_server.url("/internal")))

    with pytest.raises(BlockedDestination, match=r"127\.0\.0\.2"):
        http_request(method="GET", url=server.url())

    assert len(server.requests) == 1
    assert other_server.requests == []


def test_redirect_chain_longer_than_the_limit_fails(server: Server, allow_loopback: None) -> None:
    server.respond(redirect_to("/again"))

    with pytest.raises(OutboundError, match="more than 2 redirects") as caught:
        http_request(method="GET", url=server.url(), max_redirects=2)

    assert caught.value.retryable is False
    assert len(server.requests) == 3


def test_redirects_within_the_limit_are_followed(server: Server, allow_loopback: None) -> None:
    server.respond(redirect_to("/b", 301), redirect_to("/c", 308), json_reply(200, {"at": "c"}))

    response = http_request(method="GET", url=server.url("/a"), max_redirects=2)

    assert response.json() == {"at": "c"}
    assert [sent.path for sent in server.requests] == ["/a", "/b", "/c"]


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [(303, "GET", b""), (302, "GET", b""), (301, "GET", b""), (307, "POST", b"payload")],
)
def test_redirect_method_rules(
    server: Server, allow_loopback: None, status: int, method: str, body: bytes
) -> None:
    server.respond(redirect_to("/next", status), json_reply(200, {}))

    http_request(
        method="POST",
        url=server.url(),
        headers={"Content-Type": "text/plain"},
        body=b"payload",
        idempotency_key="k1",
    )

    followed = server.requests[1]
    assert (followed.method, followed.body) == (method, body)
    assert ("content-type" in followed.headers) == (method == "POST")
    assert followed.headers["idempotency-key"] == "k1"


def test_credentials_do_not_follow_a_redirect_to_another_origin(
    server: Server, other_server: Server
) -> None:
    server.respond(redirect_to(other_server.url("/elsewhere"), 307))

    with override_settings(OUTBOUND_ALLOWED_NETWORKS=["127.0.0.1/32", "127.0.0.2/32"]):
        http_request(
            method="POST",
            url=server.url(),
            headers={"Authorization": "Bearer secret", "Cookie": "s=1"},
            body=b"{}",
            idempotency_key="k2",
        )

    assert server.requests[0].headers["authorization"] == "Bearer secret"
    arrived = other_server.requests[0]
    assert "authorization" not in arrived.headers
    assert "cookie" not in arrived.headers
    assert arrived.headers["idempotency-key"] == "k2"
    assert arrived.headers["host"] == f"127.0.0.2:{other_server.port}"


def test_redirect_to_another_scheme_is_refused(server: Server, allow_loopback: None) -> None:
    server.respond(redirect_to("file:///etc/passwd"))

    with pytest.raises(OutboundError, match="only http and https"):
        http_request(method="GET", url=server.url())


def test_redirect_without_location_is_a_final_answer(server: Server, allow_loopback: None) -> None:
    server.respond(status_reply(302))

    response = http_request(method="GET", url=server.url())

    assert response.status == 302
    assert response.body == b"status body"


# --- HTTPS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``hooks.test`` (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=hooks.test"),
            *("-addext", "subjectAltName=DNS:hooks.test"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    test_server = Server(tls=context)
    test_server.start()
    yield test_server
    test_server.close()


@pytest.fixture
def trust_test_certificate(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    monkeypatch.setattr(outbound, "_tls_context", lambda: context)


def test_https_verifies_the_host_name_while_connecting_to_the_checked_ip(
    tls_server: Server, allow_loopback: None, resolver: Resolver, trust_test_certificate: None
) -> None:
    resolver.names["hooks.test"] = ["127.0.0.1"]
    tls_server.respond(json_reply(200, {"secure": True}))

    response = http_request(method="GET", url=tls_server.url(host="hooks.test"))

    assert response.json() == {"secure": True}
    assert tls_server.requests[0].headers["host"] == f"hooks.test:{tls_server.port}"


def test_https_rejects_a_certificate_for_another_name(
    tls_server: Server, allow_loopback: None, trust_test_certificate: None
) -> None:
    with pytest.raises(OutboundError, match="certificate") as caught:
        http_request(method="GET", url=tls_server.url())  # https://127.0.0.1:port/

    assert caught.value.retryable is False
    assert tls_server.requests == []


def test_https_rejects_an_untrusted_certificate(
    tls_server: Server, allow_loopback: None, resolver: Resolver
) -> None:
    resolver.names["hooks.test"] = ["127.0.0.1"]

    with pytest.raises(OutboundError, match="certificate") as caught:
        http_request(method="GET", url=tls_server.url(host="hooks.test"))

    assert caught.value.retryable is False
    assert tls_server.requests == []
