"""The one HTTP client for every outbound call: webhook steps, webhook sends, state webhooks.

Marketers type webhook URLs into journeys, so a URL is untrusted input that runs inside
our network. Everything here exists to make "call this URL" safe and predictable:

- **SSRF.** The host is resolved once (``socket.getaddrinfo``); *every* address it
  resolves to must be a public address, or lie inside one of
  ``settings.OUTBOUND_ALLOWED_NETWORKS``. The socket is then connected to an address that
  was checked, never to the name again, so DNS rebinding between the check and the
  connection is impossible. HTTPS still verifies the certificate against the host name.
- **Redirects** are followed by hand, and every hop is resolved and checked again: a
  public URL that redirects to ``http://127.0.0.1/`` is blocked like the URL itself.
- **Bounded.** ``timeout`` is the budget of one attempt (connecting, sending and reading
  every hop); responses larger than ``max_response_bytes`` are refused while being read.
- **Nothing implicit.** No proxies from the environment (``http.client`` reads none),
  http and https only, no credentials in URLs, no compressed bodies (``Accept-Encoding:
  identity``, so no decompression bombs).
- **Idempotent retries.** An ``Idempotency-Key`` header, derived by the caller from
  (run, step, visit), is sent identically on every attempt so receivers can deduplicate.
"""

import functools
import http.client
import io
import ipaddress
import json
import random
import re
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from customers.strict_json import JSONInputError, json_loads_strict

__all__ = [
    "BlockedDestination",
    "OutboundError",
    "OutboundResponse",
    "check_address",
    "http_request",
    "http_request_with_retries",
    "non_public_reason",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

USER_AGENT = "journey-engine/0.1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
READ_CHUNK_BYTES = 64 * 1024

#: Framing and routing headers the client owns: a caller's value would at best be redundant
#: and at worst smuggle a second request (Content-Length, Transfer-Encoding) or aim a
#: virtual host the address check never saw (Host).
CLIENT_OWNED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
#: Credentials that must not follow a redirect to another origin.
ORIGIN_BOUND_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
#: Headers that describe a body; dropped when a redirect turns the request into a GET.
BODY_HEADERS = frozenset({"content-type", "content-encoding", "content-language"})

#: Ranges that are not public although some Python versions call them ``is_global``.
EXTRA_NON_PUBLIC_NETWORKS: tuple[tuple[IPNetwork, str], ...] = (
    (ipaddress.ip_network("100.64.0.0/10"), "shared address space (CGNAT, 100.64.0.0/10)"),
    (ipaddress.ip_network("192.0.0.0/24"), "reserved for IETF protocol assignments"),
    (ipaddress.ip_network("64:ff9b:1::/48"), "a local-use NAT64 address (64:ff9b:1::/48)"),
    (ipaddress.ip_network("fec0::/10"), "a site-local IPv6 address (fec0::/10)"),
)
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


# --- Public types ------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundResponse:
    """What came back: status, lower-cased headers, the (bounded) body and the final URL."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON (webhook outputs are optional).

        Raises :class:`UnstorableJSON` for JSON the product cannot keep (a NUL, a number
        beyond a float, nesting deeper than 64): stored in a run's context it would fail
        the commit of every batch the run is in.
        """
        if not self.body.strip():
            return None
        try:
            return json_loads_strict(self.body)
        except JSONInputError as error:
            if not _decodes(self.body):
                return None  # not JSON at all, or not UTF-8
            raise UnstorableJSON(str(error)) from None


class UnstorableJSON(ValueError):
    """An answer in JSON that cannot be stored; the message says where and why."""


def _decodes(body: bytes) -> bool:
    """Whether Python's own decoder reads ``body`` (nesting past its recursion limit, even
    if well-formed, counts as unreadable: such an answer has no output, as before)."""
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


class OutboundError(Exception):
    """A call that did not produce a usable answer; the message goes into run timelines.

    ``retryable`` is True for network errors, timeouts and 5xx answers (trying again may
    succeed), False for everything a retry would only repeat. ``status`` is the HTTP status
    when the server answered; ``response`` is that answer (e.g. a 5xx body), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        status: int | None = None,
        response: OutboundResponse | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.response = response


class BlockedDestination(OutboundError):
    """The URL points at an address outbound calls may not reach (never retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


# --- Address policy ----------------------------------------------------------------------


def non_public_reason(address: IPAddress | str) -> str | None:
    """Why ``address`` is not a public internet address, or None when it is one.

    ``ipaddress``'s ``is_global`` alone is not enough: depending on the Python version it
    calls multicast, NAT64, site-local or IPv4-mapped addresses global. Addresses that
    embed an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by the embedded one too,
    since that is where a packet may end up.
    """
    address = _as_address(address)
    if isinstance(address, ipaddress.IPv6Address):
        embedded_reason = _embedded_ipv4_reason(address)
        if embedded_reason:
            return embedded_reason
    for network, reason in EXTRA_NON_PUBLIC_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    return _flag_reason(address)


def _embedded_ipv4_reason(address: ipaddress.IPv6Address) -> str | None:
    """The verdict on IPv6 forms that carry an IPv4 address inside them."""
    if address.ipv4_mapped is not None:
        inner = non_public_reason(address.ipv4_mapped) or "public"
        return f"an IPv4-mapped IPv6 address (embeds {address.ipv4_mapped}, {inner})"
    if address in NAT64_NETWORK:
        inner_address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        inner = non_public_reason(inner_address) or "public"
        return f"a NAT64 address (64:ff9b::/96, embeds {inner_address}, {inner})"
    if address.sixtofour is not None:
        inner = non_public_reason(address.sixtofour)
        if inner:
            return f"a 6to4 address embedding {address.sixtofour} ({inner})"
    return None


def _flag_reason(address: IPAddress) -> str | None:
    """The ``ipaddress`` flags, most specific first so the message names the real cause."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address in METADATA_ADDRESSES:
        return "the cloud metadata service (link-local)"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and address in _ULA_NETWORK:
        return "an IPv6 unique-local address (fc00::/7)"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a globally reachable address"
    return None


_ULA_NETWORK = ipaddress.ip_network("fc00::/7")


def check_address(
    address: IPAddress | str, allowed_networks: Iterable[IPNetwork | str] | None = None
) -> None:
    """Raise BlockedDestination unless ``address`` is public or inside an allowed network.

    ``allowed_networks`` defaults to ``settings.OUTBOUND_ALLOWED_NETWORKS``, read now (not
    at import) so operators' settings and tests' ``override_settings`` both apply.
    """
    address = _as_address(address)
    networks = (
        _allowed_networks() if allowed_networks is None else _parse_networks(allowed_networks)
    )
    if any(address.version == net.version and address in net for net in networks):
        return
    reason = non_public_reason(address)
    if reason:
        raise BlockedDestination(
            f"destination {address} is blocked: {reason}; outbound calls may only reach "
            "public addresses or OUTBOUND_ALLOWED_NETWORKS"
        )


def _as_address(address: IPAddress | str) -> IPAddress:
    """Accept an address object or its text (with an optional IPv6 zone, as getaddrinfo gives)."""
    if isinstance(address, str):
        return ipaddress.ip_address(address)
    return address


def _allowed_networks() -> tuple[IPNetwork, ...]:
    """The operator's exceptions to the public-only rule, from settings."""
    configured = getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", None) or ()
    return _parse_networks(configured)


def _parse_networks(networks: Iterable[IPNetwork | str]) -> tuple[IPNetwork, ...]:
    """CIDR strings to networks; a typo is a configuration error, not a silent "allow none"."""
    return _parse_network_texts(tuple(str(network).strip() for network in networks))


@functools.lru_cache(maxsize=32)
def _parse_network_texts(texts: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Parsed once per distinct setting: every outbound call reads it."""
    try:
        return tuple(ipaddress.ip_network(text, strict=False) for text in texts if text)
    except ValueError as error:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {error}") from error


# --- Requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """One URL, split into what the connection needs."""

    scheme: str
    host: str
    port: int
    request_target: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


@dataclass(frozen=True)
class _Request:
    """One hop's request; redirects derive the next hop's request from it."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


class _Destination(NamedTuple):
    """A resolved, checked address, in the form ``socket.connect`` takes."""

    family: int
    sockaddr: tuple[Any, ...]
    address: IPAddress


class _Deadline:
    """The time budget of one attempt, shared by connect, TLS, send and every read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._expires_at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; raises TimeoutError once spent so no operation starts late."""
        left = self._expires_at - time.monotonic()
        if left <= 0:
            raise TimeoutError("time budget spent")
        return left


def http_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    idempotency_key: str | None = None,
    timeout: float = 10.0,
    max_response_bytes: int = 1_000_000,
    max_redirects: int = 3,
) -> OutboundResponse:
    """One attempt at an outbound call, redirects included.

    Returns the final response for 2xx, 4xx and 3xx answers that are not followable
    redirects (the caller decides what they mean). Raises BlockedDestination for addresses
    outside the policy and OutboundError for network errors, timeouts, over-size bodies,
    too many redirects and 5xx answers (those retryable).
    """
    _check_limits(timeout, max_response_bytes, max_redirects)
    deadline = _Deadline(timeout)
    request = _Request(
        method=_normalise_method(method),
        url=url,
        headers=_initial_headers(headers, idempotency_key),
        body=body.encode() if isinstance(body, str) else body,
    )
    for _hop in range(max_redirects + 1):
        response = _exchange(request, deadline, max_response_bytes)
        location = _redirect_location(response)
        if location is None:
            return response
        request = _follow(request, response.status, urljoin(request.url, location))
    raise OutboundError(
        f"{method.upper()} {_display_url(url)}: more than {max_redirects} redirects"
    )


def http_request_with_retries(
    *, attempts: int = 3, backoff_seconds: float = 0.5, **kwargs: Any
) -> OutboundResponse:
    """``http_request`` again after retryable failures, with exponential backoff and jitter.

    The keyword arguments, the ``Idempotency-Key`` among them, are the same on every
    attempt, so a receiver that saw a timed-out attempt can recognise the repeat.
    Answers below 500 (4xx included) are returned at once; non-retryable errors (blocked
    address, bad URL, over-size body) are raised at once.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return http_request(**kwargs)
        except OutboundError as error:
            if not error.retryable or attempt == attempts:
                raise
        time.sleep(_backoff_delay(backoff_seconds, attempt))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _backoff_delay(backoff_seconds: float, attempt: int) -> float:
    """Exponential backoff with "equal jitter": retries of many runs do not hit in lockstep."""
    ceiling = backoff_seconds * 2 ** (attempt - 1)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _check_limits(timeout: float, max_response_bytes: int, max_redirects: int) -> None:
    """Programming errors fail loudly instead of turning into odd network behaviour."""
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if max_response_bytes < 0 or max_redirects < 0:
        raise ValueError("max_response_bytes and max_redirects must not be negative")


def _normalise_method(method: str) -> str:
    """Upper-case token; journeys may store "post"."""
    normalised = method.strip().upper()
    if not normalised.isascii() or not normalised.isalpha():
        raise OutboundError(f"invalid HTTP method {method!r}")
    return normalised


def _initial_headers(
    headers: Mapping[str, str] | None, idempotency_key: str | None
) -> dict[str, str]:
    """The caller's headers minus client-owned ones, plus User-Agent and Idempotency-Key."""
    ignored = CLIENT_OWNED_HEADERS | ({"idempotency-key"} if idempotency_key else set())
    result = {
        str(name): str(value)
        for name, value in (headers or {}).items()
        if str(name).lower() not in ignored
    }
    if not any(name.lower() == "user-agent" for name in result):
        result["User-Agent"] = USER_AGENT
    if idempotency_key:
        result["Idempotency-Key"] = idempotency_key
    result["Connection"] = "close"
    return result


def _parse_target(url: str) -> _Target:
    """Split and validate a URL: http(s) only, a host, no credentials, a valid port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise OutboundError(f"invalid URL {_display_url(url)!r}: {error}") from error
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OutboundError(f"only http and https URLs are allowed, not {_display_url(url)!r}")
    if not parts.hostname:
        raise OutboundError(f"URL {_display_url(url)!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise OutboundError("credentials in URLs are not supported; send an Authorization header")
    path = parts.path or "/"
    return _Target(
        scheme=scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        request_target=f"{path}?{parts.query}" if parts.query else path,
    )


def _resolve(target: _Target) -> list[_Destination]:
    """Resolve the host exactly once and check every address; the result is all we connect to.

    A literal IP in the URL is checked before resolving; odd spellings (``2130706433``,
    ``0177.0.0.1``) are not literals to ``ipaddress`` but getaddrinfo turns them into the
    address they mean, which is then checked like any other.
    """
    allowed = _allowed_networks()
    literal = _literal_address(target.host)
    if literal is not None:
        check_address(literal, allowed)
    try:
        infos = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except socket.gaierror as error:
        raise OutboundError(
            f"cannot resolve {target.host}: {error.strerror}",
            retryable=error.errno == socket.EAI_AGAIN,
        ) from error
    except (UnicodeError, ValueError) as error:
        raise OutboundError(f"invalid host {target.host!r}: {error}") from error
    destinations = _destinations(infos)
    if not destinations:
        raise OutboundError(f"{target.host} resolved to no usable address")
    for destination in destinations:
        check_address(destination.address, allowed)
    return destinations


def _literal_address(host: str) -> IPAddress | None:
    """The host as an IP address when the URL spells one in standard notation."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _destinations(infos: Iterable[tuple[Any, ...]]) -> list[_Destination]:
    """getaddrinfo results as unique IPv4/IPv6 destinations, in the resolver's order."""
    seen: set[tuple[Any, ...]] = set()
    destinations = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6) or sockaddr in seen:
            continue
        seen.add(sockaddr)
        destinations.append(_Destination(family, sockaddr, _sockaddr_address(family, sockaddr)))
    return destinations


def _sockaddr_address(family: int, sockaddr: tuple[Any, ...]) -> IPAddress:
    """The address of a sockaddr, with the IPv6 zone dropped (it does not change the rules)."""
    host = str(sockaddr[0]).split("%", 1)[0]
    return ipaddress.IPv4Address(host) if family == socket.AF_INET else ipaddress.IPv6Address(host)


# --- One hop on the wire -----------------------------------------------------------------


def _exchange(request: _Request, deadline: _Deadline, max_response_bytes: int) -> OutboundResponse:
    """Send one request to a checked address and read its answer; errors become OutboundError."""
    target = _parse_target(request.url)
    destinations = _resolve(target)
    connection: _PinnedConnection | None = None
    try:
        connection = _PinnedConnection(target, destinations, deadline)
        connection.request(
            request.method, target.request_target, body=request.body, headers=request.headers
        )
        return _read_response(connection.getresponse(), request, max_response_bytes)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise _classify(error, request, deadline) from error
    finally:
        if connection is not None:
            connection.release()


def _read_response(
    raw: http.client.HTTPResponse, request: _Request, max_response_bytes: int
) -> OutboundResponse:
    """Headers always; the body unless this answer is a redirect we are about to follow."""
    headers = _header_dict(raw.getheaders())
    if raw.status in REDIRECT_STATUSES and headers.get("location"):
        return OutboundResponse(status=raw.status, headers=headers, body=b"", url=request.url)
    body, complete = _read_capped(raw, max_response_bytes, headers)
    response = OutboundResponse(status=raw.status, headers=headers, body=body, url=request.url)
    if raw.status >= 500:
        raise OutboundError(
            f"{_describe(request)} answered {raw.status} {raw.reason}".rstrip(),
            retryable=True,
            status=raw.status,
            response=response,
        )
    if not complete:
        raise OutboundError(
            f"{_describe(request)}: response larger than {max_response_bytes} bytes",
            status=raw.status,
        )
    return response


def _read_capped(
    raw: http.client.HTTPResponse, limit: int, headers: Mapping[str, str]
) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes; report whether the body fit, without reading the rest.

    A declared Content-Length over the limit fails before any body byte is read; bodies of
    unknown length are cut off as soon as one byte more than the limit has arrived.
    """
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", False
    buffer = bytearray()
    while len(buffer) <= limit:
        chunk = raw.read(min(READ_CHUNK_BYTES, limit + 1 - len(buffer)))
        if not chunk:
            return bytes(buffer), True
        buffer += chunk
    return bytes(buffer[:limit]), False


def _header_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with ", " as HTTP allows."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _classify(
    error: OSError | http.client.HTTPException | ValueError, request: _Request, deadline: _Deadline
) -> OutboundError:
    """Name what went wrong and whether trying again can help."""
    where = _describe(request)
    if isinstance(error, TimeoutError):
        return OutboundError(f"{where} timed out after {deadline.seconds:g} s", retryable=True)
    if isinstance(error, ssl.SSLCertVerificationError):
        return OutboundError(f"{where}: TLS certificate rejected: {error.verify_message}")
    if isinstance(error, http.client.InvalidURL):
        return OutboundError(f"{where}: invalid URL: {error}")
    if isinstance(error, OSError | http.client.HTTPException):
        detail = str(error) or type(error).__name__
        return OutboundError(f"{where} failed: {detail}", retryable=True)
    return OutboundError(f"{where}: invalid request: {error}")  # e.g. an illegal header value


def _describe(request: _Request) -> str:
    """Method and URL for messages."""
    return f"{request.method} {_display_url(request.url)}"


def _display_url(url: str) -> str:
    """The URL for run timelines and logs: without query, fragment or credentials.

    Webhook URLs often carry tokens in their query string; error messages are shown to
    marketers and logged, so they name the endpoint, not its secrets.
    """
    without_query = url.split("#", 1)[0].split("?", 1)[0]
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/]*@", r"\1", without_query)


def _redirect_location(response: OutboundResponse) -> str | None:
    """Where a followable redirect points, or None for a final answer."""
    if response.status in REDIRECT_STATUSES:
        return response.headers.get("location") or None
    return None


def _follow(previous: _Request, status: int, next_url: str) -> _Request:
    """The next hop's request, by the rules browsers and RFC 9110 follow.

    303 turns anything but HEAD into GET; 301/302 turn POST into GET (what every client
    does); 307/308 repeat the method and body. Credentials stay with their origin.
    """
    next_url = next_url.split("#", 1)[0]
    headers = dict(previous.headers)
    method, body = previous.method, previous.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        headers = _without(headers, BODY_HEADERS)
    if _parse_target(next_url).origin != _parse_target(previous.url).origin:
        headers = _without(headers, ORIGIN_BOUND_HEADERS)
    return replace(previous, method=method, url=next_url, headers=headers, body=body)


def _without(headers: Mapping[str, str], names: frozenset[str]) -> dict[str, str]:
    """A copy of ``headers`` without the given (lower-case) names."""
    return {name: value for name, value in headers.items() if name.lower() not in names}


# --- Connections pinned to checked addresses ---------------------------------------------


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The system's default verification (certificates and host names); built once."""
    return ssl.create_default_context()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to an address chosen from the checked list, never re-resolved.

    ``http.client`` still believes it talks to the URL's host, so the Host header is the
    original one; TLS uses the host name for SNI and certificate checks.
    """

    def __init__(
        self, target: _Target, destinations: list[_Destination], deadline: _Deadline
    ) -> None:
        super().__init__(target.host, target.port, timeout=deadline.seconds)
        self.default_port = DEFAULT_PORTS[target.scheme]
        self._target = target
        self._destinations = destinations
        self._deadline = deadline
        self._kept_sockets: list[socket.socket] = []
        self.response_class = functools.partial(_DeadlineResponse, deadline=deadline)

    def connect(self) -> None:
        """Connect to the first checked address that answers, then TLS if https."""
        sock = _connect_any(self._destinations, self._deadline)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._target.scheme == "https":
                sock.settimeout(self._deadline.remaining())
                sock = _tls_context().wrap_socket(sock, server_hostname=self._target.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def close(self) -> None:
        """Keep the socket open until :meth:`release`.

        ``http.client`` closes the connection as soon as a response announces
        ``Connection: close``, before its body is read, trusting ``socket.makefile``'s
        reference counting to keep the socket alive; our deadline reader reads the socket
        directly, so the socket is closed once the whole exchange is over instead.
        """
        if self.sock is not None:
            self._kept_sockets.append(self.sock)
            self.sock = None
        super().close()

    def release(self) -> None:
        """Close everything this connection opened."""
        self.close()
        while self._kept_sockets:
            self._kept_sockets.pop().close()

    def send(self, data: Any) -> None:
        """Sending shares the attempt's budget (``sendall`` honours one timeout in total)."""
        if self.sock is not None:
            self.sock.settimeout(self._deadline.remaining())
        super().send(data)


def _connect_any(destinations: list[_Destination], deadline: _Deadline) -> socket.socket:
    """Try the checked addresses in resolver order, like ``socket.create_connection``."""
    last_error: OSError | None = None
    for destination in destinations:
        sock = socket.socket(destination.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(destination.sockaddr)
            return sock
        except TimeoutError:
            sock.close()
            raise
        except OSError as error:
            sock.close()
            last_error = error
    assert last_error is not None  # _resolve never returns an empty list
    raise last_error


class _DeadlineReader(io.RawIOBase):
    """Socket reads that never wait past the attempt's deadline.

    A per-read timeout alone lets a server drip one byte just inside it forever; giving
    every read only the time left bounds the whole answer, headers and body alike.
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What ``HTTPResponse`` needs from its socket: a reader bound to the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineResponse(http.client.HTTPResponse):
    """An ``HTTPResponse`` reading through :class:`_DeadlineReader`."""

    def __init__(self, sock: socket.socket, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(_DeadlineSocket(sock, deadline), *args, **kwargs)  # type: ignore[arg-type]
