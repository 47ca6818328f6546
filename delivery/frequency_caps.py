"""A workspace's frequency caps: at most so many marketing messages per customer, per
channel and period, counted across every journey (:mod:`delivery.send_gate` applies them)."""

from django.db import transaction

from customers.errors import Conflict, InvalidRequest, NotFound
from customers.models import Workspace
from customers.problems import problem_entry
from delivery.models import CAP_MAX_LIMIT as MAX_LIMIT
from delivery.models import CAP_MAX_PERIOD_SECONDS as MAX_PERIOD_SECONDS
from delivery.models import CAPPED_CHANNELS, FrequencyCap

MAX_CAPS_PER_WORKSPACE = 20


def frequency_cap_list(*, workspace: Workspace) -> list[FrequencyCap]:
    return list(FrequencyCap.objects.filter(workspace=workspace).order_by("channel", "id"))


@transaction.atomic
def frequency_cap_create(
    *, workspace: Workspace, channel: str, limit: int, period_seconds: int
) -> FrequencyCap:
    """A new cap. Several caps on one channel all apply ("3 a week and 1 a day")."""
    problems = []
    if channel not in CAPPED_CHANNELS:
        problems.append(("channel", f"must be one of {', '.join(CAPPED_CHANNELS)}"))
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(("limit", f"must be from 1 to {MAX_LIMIT:,}"))
    if not 1 <= period_seconds <= MAX_PERIOD_SECONDS:
        problems.append(("period_seconds", f"must be from 1 to {MAX_PERIOD_SECONDS:,}"))
    if problems:
        field, message = problems[0]
        raise InvalidRequest(
            f"{field}: {message}",
            problems=[problem_entry(f"{name}: {text}", field=name) for name, text in problems],
        )
    Workspace.objects.select_for_update(no_key=True).filter(pk=workspace.pk).first()
    if FrequencyCap.objects.filter(workspace=workspace).count() >= MAX_CAPS_PER_WORKSPACE:
        raise Conflict(f"a workspace has at most {MAX_CAPS_PER_WORKSPACE} frequency caps")
    return FrequencyCap.objects.create(
        workspace=workspace, channel=channel, limit=limit, period_seconds=period_seconds
    )


def frequency_cap_delete(*, workspace: Workspace, cap_id: str) -> None:
    deleted, _ = FrequencyCap.objects.filter(workspace=workspace, public_id=cap_id).delete()
    if not deleted:
        raise NotFound("frequency cap not found")
