"""The SMTP path's own message bytes (delivery.mime) read back exactly as Django's do."""

import email
import email.policy
from email.utils import formataddr

from django.core.mail import EmailMultiAlternatives
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.mime import mime_bytes

HEADERS = {
    "Message-ID": "<run_1.mail.1@journeys>",
    "List-Unsubscribe": "<https://journeys.example.com/u/msg_0123456789abcdef:SIGNATURE-xyz_>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


def parsed(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def django_bytes(*, sender, to, subject, text, html) -> bytes:
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=sender, to=[to], headers=dict(HEADERS)
    )
    if html:
        message.attach_alternative(html, "text/html")
    return message.message().as_bytes(linesep="\r\n")


def reading(message: email.message.EmailMessage) -> dict:
    """What a mail client shows of a message: its headers decoded, each part's text."""
    parts = [message] if not message.is_multipart() else list(message.iter_parts())
    return {
        "from": str(message["From"]),
        "to": str(message["To"]),
        "subject": str(message["Subject"]),
        "type": message.get_content_type(),
        "headers": {name: " ".join(str(message[name]).split()) for name in HEADERS},
        # Quoted-printable text reads back with CRLF line ends: what a client shows.
        "parts": [
            (part.get_content_type(), part.get_content().replace("\r\n", "\n")) for part in parts
        ],
    }


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n.é€😀"),
    max_size=300,
).map(lambda text: text.replace("\r", ""))
subjects = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=120
).filter(lambda subject: subject.strip() == subject and "  " not in subject)


@settings(max_examples=300, deadline=None)
@given(
    subject=subjects,
    text=texts,
    html=st.one_of(st.just(""), texts.map(lambda text: f"<p>{text}</p>")),
    name=st.one_of(st.just(""), st.sampled_from(["Acme", "Café Ünïcode", 'Quote "Me"'])),
    long_line=st.booleans(),
)
def test_a_message_reads_as_djangos_does(subject, text, html, name, long_line):
    if long_line:
        text += "\n" + "x" * 1200
    sender = formataddr((name, "news@acme.example"))
    built = mime_bytes(
        sender=sender, to="ada@example.com", subject=subject, text=text, html=html,
        headers=dict(HEADERS),
    )  # fmt: skip

    assert built is not None
    envelope, data = built
    assert envelope == "news@acme.example"
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only: smtplib sends bytes as given
    ours = reading(parsed(data))
    djangos = reading(
        parsed(django_bytes(sender=sender, to="ada@example.com", subject=subject, text=text,
                            html=html))
    )  # fmt: skip
    # The subject reads back as written (Django's own folding can add a space to it).
    assert ours.pop("subject") == subject
    djangos.pop("subject")
    assert ours == djangos, (data, ours, djangos)
    if text:
        assert ours["parts"][0][1].rstrip("\n") == text.rstrip("\n")


def test_what_it_cannot_write_exactly_is_left_to_the_general_path():
    common = {"sender": "news@acme.example", "to": "ada@example.com", "text": "x"}

    assert mime_bytes(subject="Hi\r\nBcc: everyone@example.com", **common) is None
    assert mime_bytes(**{**common, "to": "ädä@example.com"}, subject="Hi") is None
    assert mime_bytes(**{**common, "sender": "Café <news@acme.example>"}, subject="Hi") is None
    assert mime_bytes(subject="Hi", headers={"X-Note": "a\nb"}, **common) is None
    assert mime_bytes(subject="Hi", **common) is not None
