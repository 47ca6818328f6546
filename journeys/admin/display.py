"""What the journey admin pages share: JSON shown readably, publish problems as text,
and read-only pages for history."""

import json
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def pretty_json(value: Any) -> SafeString:
    return format_html(
        '<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2, sort_keys=False)
    )


#: Runs move in seconds: their times are shown to the second, in the site's time zone.
SECONDS = "Y-m-d H:i:s"


def to_the_second(value: datetime | None) -> str:
    """A time as ``2026-12-01 21:34:05`` (``-`` for none)."""
    if value is None:
        return "-"
    return date_format(timezone.localtime(value) if timezone.is_aware(value) else value, SECONDS)


def problem_text(problem: dict[str, Any]) -> str:
    where = " ".join(
        part
        for part in (
            f"step {problem['step']}" if problem.get("step") else "",
            problem.get("field") or "",
        )
        if part
    )
    return f"{where}: {problem['message']}" if where else problem["message"]


def problem_list(problems: list[dict[str, Any]]) -> SafeString:
    return format_html(
        "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((problem_text(p),) for p in problems))
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is not edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
