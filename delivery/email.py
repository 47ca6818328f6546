"""E-mail through Django's e-mail backend, configured by ``EMAIL_URL`` (SMTP in production)."""

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection


class EmailSendError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def email_send(*, to: str, subject: str, body: str, message_id: str) -> None:
    """Hand one e-mail to the backend; ``message_id`` becomes its Message-ID header.

    A stable Message-ID per (run, step, visit) lets receiving systems recognise the
    rare resend after a crash between the SMTP server's acceptance and our record of it.
    """
    email = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": message_id},
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPResponseException as error:
        # 4xx is the server saying "later"; 5xx is a refusal that will not change.
        raise EmailSendError(
            f"SMTP {error.smtp_code}: {error.smtp_error!r}", retryable=error.smtp_code < 500
        ) from error
    except smtplib.SMTPRecipientsRefused as error:
        raise EmailSendError(f"recipient refused: {to}", retryable=False) from error
    except (smtplib.SMTPException, OSError) as error:
        raise EmailSendError(f"SMTP connection failed: {error}", retryable=True) from error
