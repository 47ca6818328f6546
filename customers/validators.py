"""Rules for values that several layers check: time zone names, e-mail senders.

A sender (a step's, a journey's, a workspace's) is checked where it is written, so a
send never fails on it: an address SMTP can carry as given (ASCII; an internationalised
domain in its ``xn--`` form), a name on one line (encoded for the header when it is not
ASCII).
"""

import re
import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

SENDER_NAME_MAX_LENGTH = 100
#: One line: no control characters, no line or paragraph separators.
SENDER_NAME_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def sender_email_problem(email: object) -> str | None:
    """Why ``email`` cannot be a sender's address, or None."""
    if not isinstance(email, str) or not email.isascii() or len(email) > 254:
        return "must be an ASCII e-mail address (a domain in its xn-- form)"
    try:
        validate_email(email)
    except ValidationError:
        return "must be an e-mail address"
    return None


def sender_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a sender's name, or None."""
    if not isinstance(name, str) or len(name) > SENDER_NAME_MAX_LENGTH:
        return f"must be text of at most {SENDER_NAME_MAX_LENGTH} characters"
    if _LINE_BREAKING.search(name):
        return "must be one line, without control characters"
    return None


def validate_sender_email(value: str) -> None:
    """A model field validator (a workspace's sender)."""
    problem = sender_email_problem(value) if value else None
    if problem:
        raise ValidationError(f"The sender's address {problem}.")


def validate_sender_name(value: str) -> None:
    problem = sender_name_problem(value) if value else None
    if problem:
        raise ValidationError(f"The sender's name {problem}.")


@cache
def timezone_names() -> frozenset[str]:
    """The IANA names this server's time zone database holds: exactly the names the
    OpenAPI schema lists (``localtime`` and ``posixrules`` are files of the host, not
    zone names)."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules"})


def validate_time_zone(value: str) -> None:
    """A model field validator: an IANA zone name (a workspace's zone)."""
    if value not in timezone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone name such as Europe/Paris.")
