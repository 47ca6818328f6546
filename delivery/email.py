"""E-mail through Django's e-mail backend, configured by ``EMAIL_URL`` (SMTP in production).

A worker keeps one open backend connection per thread and reuses it for every message:
opening an SMTP session (TCP, EHLO, STARTTLS, AUTH) per message would cost more than
the message. A connection that failed is dropped and the next message opens a new one.
"""

import contextlib
import smtplib
import threading
from collections.abc import Callable

from anymail.exceptions import AnymailError
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from delivery.esp import esp_error_retryable
from delivery.mime import mime_bytes

#: The metadata key under which an ESP send carries our message's id: ESPs echo a
#: message's metadata in its tracking reports (:mod:`delivery.tracking`).
METADATA_KEY = "journeys_message_id"

#: Django's SMTP backend: its messages' bytes are written by :mod:`delivery.mime`.
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

_local = threading.local()


class EmailSendError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _connection() -> tuple[BaseEmailBackend, bool]:
    """This thread's open connection for the backend configured now, and whether it was
    reused (a reused one may have been closed by the server while idle)."""
    wanted = (settings.EMAIL_BACKEND, getattr(settings, "EMAIL_HOST", None),
              getattr(settings, "EMAIL_PORT", None),
              repr(getattr(settings, "ANYMAIL", None)))  # fmt: skip
    cached = getattr(_local, "connection", None)
    if cached is not None and _local.key == wanted:
        return cached, True
    _connection_drop()
    connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
    connection.open()
    _local.connection, _local.key = connection, wanted
    return connection, False


def _connection_drop() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        # A broken connection may fail to close; it is gone either way.
        with contextlib.suppress(Exception):
            connection.close()


def email_send(
    *,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    html: str = "",
    sender: str = "",
    headers: dict[str, str] | None = None,
    our_id: str = "",
) -> str:
    """Hand one e-mail to the backend; ``message_id`` becomes its Message-ID header.
    Returns the provider's id of the message (see :func:`provider_message_id`).

    With ``html`` the e-mail is ``multipart/alternative``: ``body`` is its text part,
    ``html`` its HTML part. ``sender`` ("Name <address>") defaults to
    ``DEFAULT_FROM_EMAIL``; ``headers`` are added as given (``List-Unsubscribe``...).
    ``our_id`` (the Message's public id) goes to an ESP as metadata.

    A stable Message-ID per (run, step, visit) lets receiving systems recognise the
    rare resend after a crash between the SMTP server's acceptance and our record of it.
    """
    sender = sender or settings.DEFAULT_FROM_EMAIL
    headers = {"Message-ID": message_id, **(headers or {})}
    raw = None
    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        raw = mime_bytes(
            sender=sender, to=to, subject=subject, text=body, html=html, headers=headers
        )
    email = None
    if raw is None:
        email = EmailMultiAlternatives(
            subject=subject, body=body, from_email=sender, to=[to], headers=headers
        )
        if html:
            email.attach_alternative(html, "text/html")
        if our_id:
            email.metadata = {METADATA_KEY: our_id}  # read by anymail's backends only
    try:
        if email is None:
            _send_raw_on_cached_connection(*raw, to=to)
        else:
            _send_on_cached_connection(email)
    except AnymailError as error:
        # Before OSError: anymail's API errors are requests' HTTPErrors, hence OSErrors.
        _connection_drop()
        raise EmailSendError(str(error), retryable=esp_error_retryable(error)) from error
    except smtplib.SMTPResponseException as error:
        _connection_drop()
        # 4xx is the server saying "later"; 5xx is a refusal that will not change.
        raise EmailSendError(
            f"SMTP {error.smtp_code}: {error.smtp_error!r}", retryable=error.smtp_code < 500
        ) from error
    except smtplib.SMTPRecipientsRefused as error:
        _connection_drop()
        raise EmailSendError(f"recipient refused: {to}", retryable=False) from error
    except (smtplib.SMTPException, OSError) as error:
        _connection_drop()
        raise EmailSendError(f"SMTP connection failed: {error}", retryable=True) from error
    except ValueError as error:
        # A header Django refuses to write (a line break in the subject: BadHeaderError),
        # an address it cannot encode: this message will never go, so say why, once.
        raise EmailSendError(f"the message cannot be written: {error}", retryable=False) from error
    return provider_message_id(email, fallback=message_id) if email else message_id


def provider_message_id(email: EmailMultiAlternatives, *, fallback: str) -> str:
    """The id the provider knows a sent message by: an ESP's own (anymail's status of
    the send; its tracking webhooks name the message by it), else ``fallback``, the
    Message-ID header we gave it (SMTP)."""
    status = getattr(email, "anymail_status", None)
    if status is not None and status.message_id:
        return str(status.message_id)
    return fallback


def _on_cached_connection(send: Callable[[BaseEmailBackend], object]) -> None:
    """``send`` on this thread's open connection; if the server closed it while idle,
    once more on a fresh one, then give up."""
    connection, reused = _connection()
    try:
        send(connection)
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        if not reused:
            raise
        _connection_drop()
        connection, _ = _connection()
        send(connection)


def _send_raw_on_cached_connection(envelope: str, data: bytes, *, to: str) -> None:
    """Send prepared bytes (:mod:`delivery.mime`) on this thread's SMTP session."""
    _on_cached_connection(lambda backend: backend.connection.sendmail(envelope, [to], data))


def _send_on_cached_connection(email: EmailMultiAlternatives) -> None:
    def send(backend: BaseEmailBackend) -> object:
        email.connection = backend
        return email.send(fail_silently=False)

    _on_cached_connection(send)
