"""SMS/WhatsApp providers, with the Twilio adapter driven against a real loopback HTTP server.

The server speaks Twilio's Messages API (``POST /2010-04-01/Accounts/{sid}/Messages.json``,
form-encoded, HTTP Basic auth, JSON answers), so the official ``twilio`` package runs end
to end: URL building, auth, encoding, its error parsing, and our timeout and error mapping.
Nothing here mocks the twilio package itself.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from delivery.sms import (
    IDEMPOTENCY_HEADER,
    ConsoleProvider,
    ProviderError,
    ProviderReceipt,
    TwilioProvider,
    _parsed_base_url,
    messaging_provider,
)

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token"
FROM_NUMBER = "+15005550006"
WHATSAPP_FROM = "+14155238886"
MESSAGES_PATH = re.compile(r"^(?P<prefix>.*)/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class Reply:
    """What the fake answers next: a status and JSON body, optionally after a delay."""

    status: int = 201
    body: dict[str, Any] | None = None
    delay: float = 0.0
    hang_up: bool = False


@dataclass
class FakeTwilio:
    """A running loopback server speaking Twilio's Messages API, and what it received."""

    server: ThreadingHTTPServer
    requests: list[RecordedRequest] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *replies: Reply) -> None:
        """Queue the next answers; once they run out the fake accepts messages (201)."""
        self.replies.extend(replies)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's (legacy, Messages API) error body."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _TwilioHandler(BaseHTTPRequestHandler):
    server: _FakeTwilioServer

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        form = {
            key: values[-1]
            for key, values in parse_qs(self.rfile.read(length).decode("utf-8")).items()
        }
        fake.requests.append(RecordedRequest("POST", self.path, dict(self.headers.items()), form))
        reply = fake.replies.pop(0) if fake.replies else Reply()
        if reply.delay:
            time.sleep(reply.delay)
        if reply.hang_up:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return

        match = MESSAGES_PATH.match(self.path)
        if match is None:
            self._json(404, _twilio_error(404, 20404, "The requested resource was not found"))
            return
        if self.headers.get("Authorization") != _basic(match["sid"], AUTH_TOKEN):
            self._json(401, _twilio_error(401, 20003, "Authenticate"))
            return
        if reply.status != 201 or reply.body is not None:
            self._json(reply.status, reply.body or {})
            return
        self._json(201, _message_resource(match["sid"], form))

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test): nothing left to answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


class _FakeTwilioServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTwilio

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and left is expected here, not a failure."""


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _message_resource(account_sid: str, form: dict[str, str]) -> dict[str, Any]:
    """The 201 body Twilio answers for a new Message, trimmed to its usual fields."""
    sid = "SM" + secrets.token_hex(16)
    now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": form.get("Body", ""),
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
        },
        "to": form.get("To"),
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    server = _FakeTwilioServer(("127.0.0.1", 0), _TwilioHandler)
    fake = FakeTwilio(server=server)
    server.fake = fake
    # A short poll interval keeps shutdown (every teardown) from waiting half a second.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        if thread.is_alive():
            fake.stop()
        thread.join(timeout=5)


def _twilio_settings(base_url: str, **overrides: Any) -> override_settings:
    values: dict[str, Any] = {
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "TWILIO_BASE_URL": base_url,
        "TWILIO_TIMEOUT_SECONDS": 5,
    }
    values.update(overrides)
    return override_settings(**values)


@pytest.fixture
def twilio(fake_twilio: FakeTwilio) -> Iterator[FakeTwilio]:
    """Settings pointing the Twilio provider at the loopback server."""
    with _twilio_settings(fake_twilio.base_url):
        yield fake_twilio


def _send(channel: str = "sms", to: str = "+15551230001", key: str = "msg-1") -> ProviderReceipt:
    return messaging_provider().send(
        channel=channel, to=to, body="Your order A1 shipped", idempotency_key=key
    )


# --- Twilio: the happy path -----------------------------------------------------------


def test_sms_send_posts_the_messages_api_and_returns_the_sid(twilio: FakeTwilio):
    receipt = _send(key="run_abc:step-1:1")

    assert isinstance(messaging_provider(), TwilioProvider)
    assert re.fullmatch(r"SM[0-9a-f]{32}", receipt.provider_message_id)
    [request] = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.form == {
        "To": "+15551230001",
        "From": FROM_NUMBER,
        "Body": "Your order A1 shipped",
    }
    assert request.headers["Authorization"] == _basic(ACCOUNT_SID, AUTH_TOKEN)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers[IDEMPOTENCY_HEADER] == "run_abc:step-1:1"


def test_a_retried_send_carries_the_same_idempotency_token(twilio: FakeTwilio):
    twilio.answer(Reply(status=503, body=_twilio_error(503, 20503, "Service unavailable")))

    with pytest.raises(ProviderError):
        _send(key="run_abc:step-1:1")
    _send(key="run_abc:step-1:1")
    _send(key="run_abc:step-2:1")

    tokens = [request.headers[IDEMPOTENCY_HEADER] for request in twilio.requests]
    assert tokens == ["run_abc:step-1:1", "run_abc:step-1:1", "run_abc:step-2:1"]


def test_the_idempotency_token_does_not_leak_into_other_requests(twilio: FakeTwilio):
    """The key is set for one send only; a request made outside ``send`` carries none."""
    _send(key="only-this-one")
    provider = messaging_provider()
    assert isinstance(provider, TwilioProvider)

    provider._client.messages.create(to="+15551230009", from_=FROM_NUMBER, body="direct")

    assert [IDEMPOTENCY_HEADER in request.headers for request in twilio.requests] == [True, False]


def test_whatsapp_send_prefixes_to_and_from(twilio: FakeTwilio):
    receipt = _send(channel="whatsapp", to="+15551230002")

    assert receipt.provider_message_id.startswith("SM")
    [request] = twilio.requests
    assert request.form["To"] == "whatsapp:+15551230002"
    assert request.form["From"] == f"whatsapp:{WHATSAPP_FROM}"


def test_whatsapp_numbers_already_prefixed_are_not_prefixed_twice(fake_twilio: FakeTwilio):
    with _twilio_settings(fake_twilio.base_url, TWILIO_WHATSAPP_FROM=f"whatsapp:{WHATSAPP_FROM}"):
        _send(channel="whatsapp", to="whatsapp:+15551230002")

    [request] = fake_twilio.requests
    assert request.form["To"] == "whatsapp:+15551230002"
    assert request.form["From"] == f"whatsapp:{WHATSAPP_FROM}"


def test_sms_uses_the_messaging_service_when_one_is_set(fake_twilio: FakeTwilio):
    service_sid = "MG" + "0" * 31 + "2"
    with _twilio_settings(fake_twilio.base_url, TWILIO_MESSAGING_SERVICE_SID=service_sid):
        _send()

    [request] = fake_twilio.requests
    assert request.form["MessagingServiceSid"] == service_sid
    assert "From" not in request.form


def test_base_url_may_carry_a_path_prefix(fake_twilio: FakeTwilio):
    """An operator can route through an egress proxy mounted under a path."""
    with _twilio_settings(f"{fake_twilio.base_url}/twilio-egress/"):
        _send()

    [request] = fake_twilio.requests
    assert request.path == f"/twilio-egress/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


# --- Twilio: failures and whether to retry them ---------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(twilio: FakeTwilio, status: int):
    twilio.answer(Reply(status=status, body=_twilio_error(status, 20500, "Internal Server Error")))

    with pytest.raises(ProviderError) as caught:
        _send()

    assert caught.value.retryable is True
    assert caught.value.status == status


def test_rate_limit_is_retryable(twilio: FakeTwilio):
    twilio.answer(Reply(status=429, body=_twilio_error(429, 20429, "Too Many Requests")))

    with pytest.raises(ProviderError) as caught:
        _send()

    assert caught.value.retryable is True
    assert caught.value.code == 20429


def test_an_invalid_number_is_not_retryable_and_keeps_twilios_message(twilio: FakeTwilio):
    message = "The 'To' number +1555 is not a valid phone number."
    twilio.answer(Reply(status=400, body=_twilio_error(400, 21211, message)))

    with pytest.raises(ProviderError) as caught:
        _send(to="+1555")

    error = caught.value
    assert error.retryable is False
    assert (error.status, error.code) == (400, 21211)
    assert message in str(error)
    assert "\033[" not in str(error)  # never twilio's coloured terminal layout


def test_wrong_credentials_are_not_retryable(fake_twilio: FakeTwilio):
    with (
        _twilio_settings(fake_twilio.base_url, TWILIO_AUTH_TOKEN="wrong"),
        pytest.raises(ProviderError) as caught,
    ):
        _send()

    assert caught.value.retryable is False
    assert caught.value.status == 401


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (503, True)])
def test_problem_details_errors_are_mapped_too(twilio: FakeTwilio, status: int, retryable: bool):
    """Newer Twilio services answer RFC 9457 problem details; the twilio package raises a
    different exception for them, which must map the same way."""
    twilio.answer(
        Reply(
            status=status,
            body={
                "type": "https://www.twilio.com/docs/errors/60200",
                "title": "Invalid parameter",
                "status": status,
                "code": 60200,
                "detail": "To must be E.164",
            },
        )
    )

    with pytest.raises(ProviderError) as caught:
        _send()

    assert caught.value.retryable is retryable
    assert "To must be E.164" in str(caught.value)


def test_connection_refused_is_retryable(fake_twilio: FakeTwilio):
    fake_twilio.stop()

    with _twilio_settings(fake_twilio.base_url), pytest.raises(ProviderError) as caught:
        _send()

    assert caught.value.retryable is True
    assert "unreachable" in str(caught.value)


def test_a_dropped_connection_is_retryable(twilio: FakeTwilio):
    twilio.answer(Reply(hang_up=True))

    with pytest.raises(ProviderError) as caught:
        _send()

    assert caught.value.retryable is True


def test_a_slow_provider_times_out_and_is_retryable(fake_twilio: FakeTwilio):
    fake_twilio.answer(Reply(delay=1.0))

    started = time.monotonic()
    with (
        _twilio_settings(fake_twilio.base_url, TWILIO_TIMEOUT_SECONDS=0.2),
        pytest.raises(ProviderError) as caught,
    ):
        _send()

    assert time.monotonic() - started < 0.9
    assert caught.value.retryable is True
    assert "did not answer within 0.2s" in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "channel", "setting"),
    [
        ({"TWILIO_FROM_NUMBER": ""}, "sms", "TWILIO_FROM_NUMBER"),
        ({"TWILIO_WHATSAPP_FROM": ""}, "whatsapp", "TWILIO_WHATSAPP_FROM"),
        ({"TWILIO_ACCOUNT_SID": ""}, "sms", "TWILIO_ACCOUNT_SID"),
    ],
)
def test_missing_configuration_fails_without_a_request(
    fake_twilio: FakeTwilio, overrides: dict[str, str], channel: str, setting: str
):
    with (
        _twilio_settings(fake_twilio.base_url, **overrides),
        pytest.raises(ProviderError) as caught,
    ):
        _send(channel=channel)

    assert caught.value.retryable is False
    assert setting in str(caught.value)
    assert fake_twilio.requests == []


def test_an_unknown_channel_is_a_programming_error(twilio: FakeTwilio):
    with pytest.raises(ValueError, match="unknown messaging channel 'push'"):
        _send(channel="push")

    assert twilio.requests == []


def test_a_malformed_base_url_is_a_configuration_error():
    with _twilio_settings("api.twilio.com"), pytest.raises(ImproperlyConfigured):
        messaging_provider()


# --- Provider choice and the console provider -----------------------------------------


def test_console_is_the_default_provider():
    assert isinstance(messaging_provider(), ConsoleProvider)


def test_an_unknown_provider_name_is_a_configuration_error():
    with override_settings(SMS_PROVIDER="carrier-pigeon"), pytest.raises(ImproperlyConfigured):
        messaging_provider()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the console provider must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_console_provider_logs_and_returns_a_receipt(
    caplog: pytest.LogCaptureFixture, channel: str
):
    with override_settings(SMS_PROVIDER="console"), caplog.at_level("INFO", logger="delivery.sms"):
        receipt = _send(channel=channel, to="+15551230003", key="run_x:welcome:1")

    assert receipt == ProviderReceipt(provider_message_id="console-run_x:welcome:1")
    [record] = [record for record in caplog.records if record.name == "delivery.sms"]
    assert channel in record.getMessage()
    assert "+15551230003" in record.getMessage()
    assert "Your order A1 shipped" in record.getMessage()


@pytest.mark.parametrize("base_url", ["https://api.twilio.com", "https://api.twilio.com/"])
def test_twilios_own_endpoint_is_left_alone(base_url: str):
    """With the default base nothing is rewritten, so TWILIO_EDGE/TWILIO_REGION still apply."""
    assert _parsed_base_url(base_url) is None
