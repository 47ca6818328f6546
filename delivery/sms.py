"""SMS and WhatsApp delivery behind one small provider interface.

The engine only ever calls ``messaging_provider().send(...)`` and reads back a
``ProviderReceipt`` or a ``ProviderError``; which provider answers is an operator's choice
(``SMS_PROVIDER``), never a code change:

- ``console`` (the embedded default) logs the message and touches no network, so a fresh
  install can run journeys with SMS steps before anyone has a Twilio account.
- ``twilio`` sends through the official ``twilio`` package.

``ProviderError.retryable`` is the one decision the caller needs: network failures,
timeouts, 429 and 5xx are worth another attempt later; any other 4xx (a malformed number,
an unverified sender, a blocked recipient) will fail the same way every time.

Idempotency: the caller passes a stable key (the Message row's identity, written before the
provider call). The console provider uses it as the receipt id; the Twilio provider sends it
as ``I-Twilio-Idempotency-Token``. Twilio documents that header on the webhooks *it* sends,
not as a deduplication promise of the Messages API, so the real guard against a second copy
stays on our side: the Message row keyed by (enrollment, step, visit).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

logger = logging.getLogger("delivery.sms")
#: The twilio HTTP client logs every request's headers at INFO: a bulk journey would drown
#: the worker logs, so it is quiet unless LOGGING sets this logger's level explicitly.
http_logger = logging.getLogger("delivery.sms.http")
if http_logger.level == logging.NOTSET:
    http_logger.setLevel(logging.WARNING)

#: The channels a provider accepts; a step's channel type maps onto one of these.
CHANNELS = frozenset({"sms", "whatsapp"})
#: Where the twilio package sends Messages API calls when nothing overrides it.
TWILIO_DEFAULT_BASE_URL = "https://api.twilio.com"
#: Twilio's own idempotency header name (see the module docstring for what it guarantees).
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
_WHATSAPP_PREFIX = "whatsapp:"


@dataclass(frozen=True)
class ProviderReceipt:
    """What a provider hands back once it has accepted a message: its id for the message."""

    provider_message_id: str


class ProviderError(Exception):
    """A send that did not go through; ``retryable`` tells the caller whether to try again.

    ``status`` (the provider's HTTP status) and ``code`` (Twilio's error code, e.g. 21211 for
    an invalid ``To``) are kept when known so a failed step can show why without parsing
    the message.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code


class MessagingProvider(Protocol):
    """Anything that can deliver a text on the ``sms`` or ``whatsapp`` channel."""

    def send(self, *, channel: str, to: str, body: str, idempotency_key: str) -> ProviderReceipt:
        """Hand one message to the provider; raise ``ProviderError`` when it is not accepted."""
        ...


def _check_channel(channel: str) -> None:
    """An unknown channel is a programming error, not a delivery failure: fail loudly."""
    if channel not in CHANNELS:
        raise ValueError(
            f"unknown messaging channel {channel!r}; expected one of {sorted(CHANNELS)}"
        )


class ConsoleProvider:
    """Logs each message instead of sending it: the embedded default, safe without accounts.

    The receipt id is derived from the idempotency key, so sending the same message twice
    yields the same receipt, as a deduplicating provider would.
    """

    def send(self, *, channel: str, to: str, body: str, idempotency_key: str) -> ProviderReceipt:
        _check_channel(channel)
        logger.info("%s to %s (idempotency key %s): %s", channel, to, idempotency_key, body)
        return ProviderReceipt(provider_message_id=f"console-{idempotency_key}")


# --- Twilio ---------------------------------------------------------------------------

#: The idempotency key of the send in progress. ``MessageList.create`` takes no extra
#: headers, so the provider sets this around the call and the HTTP client adds the header;
#: a context variable keeps concurrent sends (threads, tasks) from seeing each other's key.
_idempotency_key: ContextVar[str | None] = ContextVar("twilio_idempotency_key", default=None)


@contextmanager
def _idempotency_key_set(key: str) -> Iterator[None]:
    token = _idempotency_key.set(key)
    try:
        yield
    finally:
        _idempotency_key.reset(token)


class _RebasingTwilioHttpClient(TwilioHttpClient):
    """The twilio package's own HTTP client, aimed at a configurable base URL.

    Twilio's generated resources build absolute ``https://api.twilio.com/...`` URLs and the
    client applies its edge/region rules to them; rewriting scheme, host (and an optional
    path prefix) here, at the last step before the request leaves, is the one place that
    sees every URL in its final form. Tests aim it at a loopback server; an operator can
    aim it at an egress proxy. With the default base nothing is rewritten, so
    ``TWILIO_EDGE``/``TWILIO_REGION`` keep working.
    """

    def __init__(self, *, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=http_logger)
        self._base = _parsed_base_url(base_url)

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if self._base is not None:
            parts = urlsplit(url)
            url = parts._replace(
                scheme=self._base.scheme,
                netloc=self._base.netloc,
                path=self._base.path + parts.path,
            ).geturl()
        key = _idempotency_key.get()
        if key:
            headers = {**(headers or {}), IDEMPOTENCY_HEADER: key}
        return super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def _parsed_base_url(base_url: str) -> SplitResult | None:
    """``None`` for Twilio's own endpoint (no rewriting), else the validated base URL."""
    base_url = base_url.strip().rstrip("/")
    if base_url == TWILIO_DEFAULT_BASE_URL:
        return None
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"TWILIO_BASE_URL must be an http(s) URL like {TWILIO_DEFAULT_BASE_URL}, "
            f"got {base_url!r}"
        )
    return parts


@dataclass(frozen=True)
class TwilioConfig:
    """The Twilio settings, frozen so a configured provider can be cached by its config."""

    account_sid: str
    auth_token: str
    from_number: str = ""
    whatsapp_from: str = ""
    messaging_service_sid: str = ""
    base_url: str = TWILIO_DEFAULT_BASE_URL
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls) -> TwilioConfig:
        return cls(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            from_number=settings.TWILIO_FROM_NUMBER,
            whatsapp_from=settings.TWILIO_WHATSAPP_FROM,
            messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID,
            base_url=settings.TWILIO_BASE_URL,
            timeout_seconds=float(settings.TWILIO_TIMEOUT_SECONDS),
        )


def _whatsapp_address(number: str) -> str:
    """Twilio addresses WhatsApp as ``whatsapp:+E164``; accept numbers with or without it."""
    number = number.strip()
    return number if number.startswith(_WHATSAPP_PREFIX) else f"{_WHATSAPP_PREFIX}{number}"


class TwilioProvider:
    """Sends through Twilio's Messages API (``POST /2010-04-01/Accounts/{sid}/Messages.json``).

    No HTTP-level retries: a POST retried blindly after a lost response could send twice,
    so retrying is left to the caller, which knows whether the Message is still unsent.
    """

    def __init__(self, config: TwilioConfig) -> None:
        self.config = config
        if config.timeout_seconds <= 0:
            raise ImproperlyConfigured("TWILIO_TIMEOUT_SECONDS must be positive")
        self._client = Client(
            username=config.account_sid,
            password=config.auth_token,
            account_sid=config.account_sid,
            http_client=_RebasingTwilioHttpClient(
                base_url=config.base_url, timeout=config.timeout_seconds
            ),
        )

    def send(self, *, channel: str, to: str, body: str, idempotency_key: str) -> ProviderReceipt:
        _check_channel(channel)
        if not (self.config.account_sid and self.config.auth_token):
            raise ProviderError(
                "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
                retryable=False,
            )
        addressing = self._addressing(channel, to)
        try:
            with _idempotency_key_set(idempotency_key):
                message = self._client.messages.create(body=body, **addressing)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _rest_error(exc) from exc
        except requests.Timeout as exc:
            raise ProviderError(
                f"Twilio did not answer within {self.config.timeout_seconds:g}s "
                f"({type(exc).__name__})",
                retryable=True,
            ) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise ProviderError(f"Twilio unreachable: {exc}", retryable=True) from exc
        except (requests.RequestException, TwilioException, ValueError) as exc:
            # A bad URL or an unreadable success answer: another attempt would fail the same
            # way, and after an unreadable 2xx it could even send a second copy.
            raise ProviderError(f"Twilio send failed: {exc}", retryable=False) from exc
        if not message.sid:
            raise ProviderError("Twilio accepted the message but returned no sid", retryable=False)
        logger.info("%s to %s sent via Twilio as %s (%s)", channel, to, message.sid, message.status)
        return ProviderReceipt(provider_message_id=message.sid)

    def _addressing(self, channel: str, to: str) -> dict[str, str]:
        """The To/From (or MessagingServiceSid) parameters for one channel."""
        if channel == "whatsapp":
            if not self.config.whatsapp_from:
                raise ProviderError(
                    "WhatsApp is not configured: set TWILIO_WHATSAPP_FROM", retryable=False
                )
            return {
                "to": _whatsapp_address(to),
                "from_": _whatsapp_address(self.config.whatsapp_from),
            }
        if self.config.messaging_service_sid:
            # The service picks the sender from its pool (and handles geo-matching).
            return {"to": to.strip(), "messaging_service_sid": self.config.messaging_service_sid}
        if not self.config.from_number:
            raise ProviderError(
                "SMS is not configured: set TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID",
                retryable=False,
            )
        return {"to": to.strip(), "from_": self.config.from_number}


def _rest_error(exc: TwilioRestException | TwilioServiceException) -> ProviderError:
    """Map Twilio's error answer to a ProviderError, keeping Twilio's own explanation.

    The message is built here rather than with ``str(exc)``, which switches to a coloured
    multi-line layout whenever stderr is a terminal.
    """
    status = int(exc.status)
    if isinstance(exc, TwilioServiceException):
        explanation = f"{exc.title}: {exc.detail}" if exc.detail else exc.title
    else:
        explanation = exc.msg
    # 408 is a timeout on the provider's side, 429 a rate limit, 5xx the provider's fault.
    retryable = status in (408, 429) or status >= 500
    code = exc.code if isinstance(exc.code, int) else None
    code_text = f", error {code}" if code is not None else ""
    return ProviderError(
        f"Twilio answered HTTP {status}{code_text}: {explanation}",
        retryable=retryable,
        status=status,
        code=code,
    )


@lru_cache(maxsize=8)
def _twilio_provider(config: TwilioConfig, pid: int) -> TwilioProvider:
    """One provider (and so one pooled HTTP session) per configuration and process.

    Keyed by config so a settings change (``override_settings`` in tests) builds a new one,
    and by pid so a forked worker never reuses sockets its parent opened.
    """
    return TwilioProvider(config)


_CONSOLE = ConsoleProvider()


def messaging_provider() -> MessagingProvider:
    """The provider chosen by ``settings.SMS_PROVIDER`` (``console`` or ``twilio``)."""
    name = settings.SMS_PROVIDER.strip().lower()
    if name == "console":
        return _CONSOLE
    if name == "twilio":
        return _twilio_provider(TwilioConfig.from_settings(), os.getpid())
    raise ImproperlyConfigured(f"SMS_PROVIDER must be 'console' or 'twilio', got {name!r}")
