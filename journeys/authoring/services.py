"""Journey lifecycle: import, edit, publish, pause, archive; a webhook trigger's URL
and signing secret.

The Journey row is the draft a marketer edits; a JourneyVersion is what runs. Each
function that changes a journey's status locks its row first, so two concurrent
publishes queue up and get distinct version numbers, and a pause cannot interleave
with a publish.
"""

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from customers.errors import Conflict, InvalidRequest
from customers.models import Workspace
from customers.problems import problem_entry
from delivery.models import Topic
from delivery.services import webhook_events_record
from journeys.authoring.checks import definition_publish_problems
from journeys.authoring.definition import definition_normalize
from journeys.authoring.documents import definition_from_journey, journey_fields_from_definition
from journeys.engine.exits import runs_exit
from journeys.engine.tasks import runs_sweep
from journeys.entry.segment_entries import segment_watch_start
from journeys.models import Enrollment, Journey, JourneyVersion, webhook_token_new
from segments.models import Segment

#: Why the runs of an archived journey ended (``exit_reason``, and their events).
ARCHIVED_REASON = "journey archived"


def _locked(journey: Journey) -> Journey:
    return Journey.objects.select_for_update().get(pk=journey.pk)


def _refresh(journey: Journey) -> Journey:
    """Bring the caller's instance up to date, so it never holds a stale status."""
    journey.refresh_from_db()
    return journey


@transaction.atomic
def journey_import(*, workspace: Workspace, document: object) -> Journey:
    """Create a draft journey from a definition document.

    A draft only needs a valid structure; graph, Liquid and condition checks wait for
    publishing so that unfinished work can be saved.
    """
    fields = journey_fields_from_definition(definition_normalize(document))
    journey_name_check(workspace_id=workspace.pk, name=fields["name"])
    try:
        with transaction.atomic():
            return Journey.objects.create(
                workspace=workspace, status=Journey.Status.DRAFT, **fields
            )
    except IntegrityError as error:  # a concurrent import took the name first
        raise _name_taken(fields["name"]) from error


@transaction.atomic
def journey_update(*, journey: Journey, document: object) -> Journey:
    """Replace the draft definition. A live journey keeps running its published version
    until it is published again; an archived journey cannot be edited."""
    fields = journey_fields_from_definition(definition_normalize(document))
    locked = _locked(journey)
    if locked.status == Journey.Status.ARCHIVED:
        raise Conflict("journey is archived and cannot be edited")
    journey_name_check(workspace_id=locked.workspace_id, name=fields["name"], journey=locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    try:
        with transaction.atomic():
            locked.save(update_fields=[*fields, "updated_at"])
    except IntegrityError as error:  # a concurrent import or rename took the name first
        raise _name_taken(fields["name"]) from error
    return _refresh(journey)


def journey_name_check(*, workspace_id: int, name: str, journey: Journey | None = None) -> None:
    """Refuse (``Conflict``, 409) a name another journey of the workspace has: names are
    how marketers tell journeys apart (the ``journey_name_unique`` constraint holds it)."""
    others = Journey.objects.filter(workspace_id=workspace_id, name=name)
    if journey is not None and journey.pk is not None:
        others = others.exclude(pk=journey.pk)
    if others.exists():
        raise _name_taken(name)


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"name: a journey named {name!r} already exists in this workspace; choose another name",
        field="name",
    )


@transaction.atomic
def journey_publish(*, journey: Journey) -> JourneyVersion:
    """Validate the draft and make it the live version; a paused journey resumes.

    Any error refuses the publish with every problem listed (``InvalidRequest`` with
    ``problems`` and ``warnings``). When the draft is unchanged since the live version,
    that version stays live rather than a duplicate being made, so re-publishing (or
    resuming a paused journey) is idempotent.
    """
    locked = _locked(journey)
    if locked.status == Journey.Status.ARCHIVED:
        raise Conflict("journey is archived and cannot be published")
    try:
        definition = definition_normalize(definition_from_journey(locked))
    except InvalidRequest as error:
        # Only a hand-edited row can get here: the importer and the admin normalise.
        raise InvalidRequest(
            "journey cannot be published", problems=error.details["problems"], warnings=[]
        ) from error
    errors, warnings = definition_publish_problems(definition)
    errors += _workspace_problems(locked, definition)
    if errors:
        raise InvalidRequest("journey cannot be published", problems=errors, warnings=warnings)

    segment_id = definition["trigger"].get("segment_id")
    if definition["trigger"]["type"] == Journey.TriggerType.SEGMENT and segment_id:
        # Before it goes live: those in the segment now are members, not joiners.
        segment_watch_start(journey=locked, segment_id=segment_id)
    exit_segment = (definition.get("exit") or {}).get("segment_id")
    if exit_segment:
        # Likewise: only those who join it later leave the journey by joining.
        segment_watch_start(journey=locked, segment_id=exit_segment)
    live = locked.live_version
    if live is not None and live.definition == definition:
        version = live
    else:
        previous = locked.versions.aggregate(number=Max("number"))["number"] or 0
        version = JourneyVersion.objects.create(
            journey=locked, number=previous + 1, definition=definition
        )
    locked.live_version = version
    locked.status = Journey.Status.LIVE
    locked.save(update_fields=["live_version", "status", "updated_at"])
    _journey_event(locked, "journey.published")
    _refresh(journey)
    if Enrollment.objects.filter(journey=locked, state=Enrollment.State.ACTIVE).exists():
        # Resumed: runs held while paused are due again; wake the sweep now.
        transaction.on_commit(runs_sweep.delay, robust=True)
    return version


def _workspace_problems(journey: Journey, definition: dict[str, Any]) -> list[dict[str, Any]]:
    """What only the journey's workspace can say: the segments a segment trigger or the
    exit criteria name exist, and so do the topics its sends name."""
    problems = []
    segments = []
    trigger = definition["trigger"]
    if trigger["type"] == Journey.TriggerType.SEGMENT and trigger.get("segment_id"):
        segments.append(("trigger.segment_id", trigger["segment_id"]))
    exit_segment = (definition.get("exit") or {}).get("segment_id")
    if exit_segment:
        segments.append(("exit.segment_id", exit_segment))
    for field, segment_id in segments:
        if not Segment.objects.filter(
            workspace_id=journey.workspace_id, public_id=segment_id
        ).exists():
            message = f"{field}: no segment {segment_id!r} in this workspace"
            problems.append(problem_entry(message, field=field))
    named = {
        step["key"]: step["topic"] for step in definition["steps"] if step.get("topic") is not None
    }
    known = set(
        Topic.objects.filter(workspace_id=journey.workspace_id, key__in=named.values()).values_list(
            "key", flat=True
        )
    )
    for key, topic in named.items():
        if topic not in known:
            message = f"topic: no topic {topic!r} in this workspace (create it under topics)"
            problems.append(problem_entry(message, field="topic", step=key))
    return problems


@transaction.atomic
def journey_pause(*, journey: Journey) -> Journey:
    """Stop new entries into a live journey and hold its runs where they are (the sweep
    passes them over); publishing it again resumes both."""
    locked = _locked(journey)
    if locked.status != Journey.Status.LIVE:
        raise Conflict(
            f"only a live journey can be paused; this journey is {locked.status}",
            status=locked.status,
        )
    locked.status = Journey.Status.PAUSED
    locked.save(update_fields=["status", "updated_at"])
    _journey_event(locked, "journey.paused")
    return _refresh(journey)


@transaction.atomic
def journey_archive(*, journey: Journey) -> Journey:
    """Retire a journey for good: it takes no new entries, can no longer be edited or
    published, and its active runs exit (one UPDATE, however many there are, and one
    INSERT of their ``run.exited`` events when endpoints listen). Its versions stay,
    because enrollments point at them.
    """
    locked = _locked(journey)
    if locked.status == Journey.Status.ARCHIVED:
        raise Conflict("journey is already archived", status=locked.status)
    locked.status = Journey.Status.ARCHIVED
    locked.save(update_fields=["status", "updated_at"])
    active = Enrollment.objects.filter(journey=locked, state=Enrollment.State.ACTIVE)
    exited = runs_exit(
        journey=locked, runs=active, reason=ARCHIVED_REASON, finished_at=timezone.now()
    )
    _journey_event(locked, "journey.archived", runs_exited=exited)
    return _refresh(journey)


def _journey_event(journey: Journey, event_type: str, **data: Any) -> None:
    """Tell the workspace's webhook endpoints, in the transaction of the change."""
    webhook_events_record(
        workspace=journey.workspace,
        event_type=event_type,
        payload={
            "journey_id": journey.public_id,
            "name": journey.name,
            "status": journey.status,
            "version": journey.live_version.number if journey.live_version else None,
            **data,
        },
    )


def journey_publish_check(*, journey: Journey) -> dict[str, Any]:
    """What publishing would say now, without publishing: ``{"errors", "warnings"}``."""
    try:
        definition = definition_normalize(definition_from_journey(journey))
        errors, warnings = definition_publish_problems(definition)
    except InvalidRequest as error:
        errors, warnings = error.details["problems"], []
    else:
        errors += _workspace_problems(journey, definition)
    return {"errors": errors, "warnings": warnings}


#: A webhook signing secret: what senders hand out (``whsec_...``), printable, no spaces.
WEBHOOK_SECRET_PATTERN = r"^[\x21-\x7e]{1,200}$"


@transaction.atomic
def journey_webhook_rotate(*, journey: Journey) -> Journey:
    """Give the journey's webhook trigger a new secret URL; the old one answers 404 from
    this commit on."""
    locked = _locked(journey)
    if locked.trigger_type != Journey.TriggerType.WEBHOOK:
        raise Conflict("only a journey with a webhook trigger has a webhook URL")
    locked.webhook_token = webhook_token_new()
    locked.save(update_fields=["webhook_token", "updated_at"])
    return _refresh(journey)


@transaction.atomic
def journey_webhook_secret_set(*, journey: Journey, secret: str | None) -> None:
    """Set (or, with None, remove) the secret the webhook's sender signs with."""
    if secret is not None and not re.fullmatch(WEBHOOK_SECRET_PATTERN, secret):
        raise InvalidRequest(
            "secret: 1 to 200 printable ASCII characters without spaces, as the sender "
            "gives it (e.g. whsec_...)",
            field="secret",
        )
    locked = _locked(journey)
    if locked.trigger_type != Journey.TriggerType.WEBHOOK:
        raise Conflict("only a journey with a webhook trigger has a webhook secret")
    locked.webhook_secret = secret or ""
    locked.save(update_fields=["webhook_secret", "updated_at"])
