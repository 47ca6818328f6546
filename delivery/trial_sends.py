"""Test sends: one e-mail a marketer sends to themself from the journey editor.

A test send is not a message of any run: no Message row is written, so the send gate,
the frequency caps and the run timelines never see it. It goes through the same
e-mail backend as every message, with its own Message-ID and an ``X-Journeys-Test``
header, and its subject says it is a test (the caller prefixes it).
"""

from delivery.email import EmailSendError, email_send
from delivery.messages import SendError

TEST_HEADER = "X-Journeys-Test"


def message_send_test(
    *, to: str, subject: str, body: str, message_id: str, html: str = "", sender: str = ""
) -> str:
    """Send one test e-mail now; the provider's id of it. Raises ``SendError``."""
    try:
        return email_send(
            to=to,
            subject=subject,
            body=body,
            message_id=message_id,
            html=html,
            sender=sender,
            headers={TEST_HEADER: "true"},
        )
    except EmailSendError as error:
        raise SendError(str(error), retryable=error.retryable) from error
