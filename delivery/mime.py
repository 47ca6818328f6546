"""The bytes of an e-mail, written directly for the SMTP path.

Django's ``EmailMessage`` builds a tree of ``email.mime`` objects and has the stdlib's
generator fold and encode every header again on the way out: about a quarter of a
worker's CPU per e-mail in ``bench/sends.py``. The messages a journey sends have one
shape (one recipient, a text part, maybe an HTML part, a few headers), so this module
writes that shape's bytes in one pass, with the same encodings Django chooses: ``7bit``
for ASCII text, ``8bit`` for UTF-8, quoted-printable when a line is longer than the 998
characters SMTP allows; RFC 2047 for a non-ASCII subject.

It only takes what it can write exactly: an address or a header it would have to
rewrite (a non-ASCII address, a line break in a value) makes :func:`mime_bytes`
answer None, and the caller builds the message the general way, which also refuses
header injection.
"""

import secrets
from email.charset import QP, Charset
from email.header import Header
from email.utils import formatdate, parseaddr

#: RFC 5322's hard limit on a line, without its CRLF.
MAX_LINE = 998

_QP_UTF8 = Charset("utf-8")
_QP_UTF8.body_encoding = QP


def mime_bytes(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    headers: dict[str, str] | None = None,
) -> tuple[str, bytes] | None:
    """``(envelope sender, message bytes)`` for one e-mail, or None when a value needs
    the general path (see the module docstring)."""
    envelope = _plain_address(sender)
    if envelope is None or _plain_address(to) != to:
        return None
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Date: {formatdate(localtime=False)}",
        "MIME-Version: 1.0",
    ]
    encoded_subject = _header_value(subject)
    if encoded_subject is None:
        return None
    lines.append(f"Subject: {encoded_subject}")
    for name, value in (headers or {}).items():
        if not value.isascii() or _breaks_line(value) or len(name) + len(value) > MAX_LINE - 2:
            return None
        lines.append(f"{name}: {value}")
    if html:
        boundary = f"==============={secrets.randbelow(10**19):019d}=="
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        lines.append("")
        # Without text, the HTML alone (as Django writes it too).
        alternatives = [("text/plain", text)] if text else []
        for mimetype, content in (*alternatives, ("text/html", html)):
            lines.append(f"--{boundary}")
            lines.extend(_part(mimetype, content))
        lines.append(f"--{boundary}--")
        lines.append("")
    else:
        lines.extend(_part("text/plain", text))
    return envelope, "\r\n".join(lines).encode("utf-8")


def _plain_address(value: str) -> str | None:
    """The bare ASCII address in ``value`` ("Name <a@b>" or "a@b"), or None when it is
    not one this module may write as given."""
    if not value.isascii() or _breaks_line(value):
        return None
    _, address = parseaddr(value)
    if not address or "@" not in address or " " in address:
        return None
    return address


def _header_value(value: str) -> str | None:
    if _breaks_line(value):
        return None
    if value.isascii():
        return value if len(value) <= MAX_LINE - 10 else None
    return Header(value, "utf-8").encode(linesep="\r\n")


def _breaks_line(value: str) -> bool:
    return "\r" in value or "\n" in value


def _part(mimetype: str, content: str) -> list[str]:
    """A text part's headers, blank line and body, as Django would encode it."""
    body = content.replace("\r\n", "\n").replace("\r", "\n")
    long_lines = any(len(line) > MAX_LINE for line in body.split("\n"))
    if long_lines:
        encoding, body = "quoted-printable", _QP_UTF8.body_encode(body)
    elif body.isascii():
        encoding = "7bit"
    else:
        encoding = "8bit"
    return [
        f'Content-Type: {mimetype}; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
        "",
        *body.split("\n"),
    ]
