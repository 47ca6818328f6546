"""The embedded default's e-mail: written to the worker's log, readable.

With no ``EMAIL_URL`` nothing is sent: each e-mail is logged by the worker that would
have sent it, as a short block (sender, recipient, subject, Message-ID, the unsubscribe
headers and the body as text). Django's console backend printed the raw MIME message
instead, its body base64- or quoted-printable-encoded.
"""

import logging
from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("delivery.email")

RULE = "-" * 72


class ReadableConsoleBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            logger.info("%s", email_as_text(message))
        return len(email_messages)


def email_as_text(message: EmailMessage) -> str:
    """One e-mail as a person reads it; other parts (an HTML alternative, attachments)
    are named, not shown."""
    lines = [
        "e-mail (logged, not sent: set EMAIL_URL to send e-mail)",
        RULE,
        f"From: {message.from_email}",
        f"To: {', '.join(message.recipients())}",
        f"Subject: {message.subject}",
        f"Message-ID: {message.extra_headers.get('Message-ID', '')}",
        *(
            f"{name}: {message.extra_headers[name]}"
            for name in ("List-Unsubscribe", "List-Unsubscribe-Post")
            if name in message.extra_headers
        ),
        "",
        message.body,
    ]
    for _content, mimetype in getattr(message, "alternatives", []):
        lines.append(f"[and a {mimetype} alternative]")
    for attachment in message.attachments:
        name = attachment[0] if isinstance(attachment, tuple) else attachment.get_filename()
        lines.append(f"[attachment: {name}]")
    lines.append(RULE)
    return "\n".join(lines)
