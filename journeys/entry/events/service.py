"""Ingesting tracked messages: every events endpoint, native or Segment's, ends here.

Storing is synchronous and matching is not: the request stores the batch (its people,
groups and events, all or nothing) and answers; the events that a live journey may be
triggered by, or a run may be waiting for, wait with ``matched_at`` NULL for
:mod:`.matching`, which a task runs
right after the commit and beat runs again every few seconds. An accepted event is
therefore never lost, and a batch of 10,000 answers in the time it takes to store it.
"""

from collections.abc import Sequence

from django.db import transaction

from customers.models import Workspace
from customers.tracking import StoredBatch, TrackedMessage, tracked_messages_store
from journeys.engine.event_waits import awaited_event_names
from journeys.entry import tasks
from journeys.entry.selectors import event_journeys_live


def event_names_awaited(*, workspace: Workspace) -> set[str]:
    """The event names that the workspace's live journeys are triggered by, or that its
    runs may be waiting for (``wait_for_event``): the events matching must see."""
    journeys = event_journeys_live(workspace_ids=[workspace.pk]).get(workspace.pk, ())
    triggers = {target.version.spec.trigger.event for target in journeys}
    return triggers | awaited_event_names(workspace_ids=[workspace.pk]).get(workspace.pk, set())


def events_ingest(*, workspace: Workspace, messages: Sequence[TrackedMessage]) -> StoredBatch:
    """Store ``messages`` and, once committed, start matching the events that wait."""
    with transaction.atomic():
        stored = tracked_messages_store(
            workspace=workspace,
            messages=messages,
            pending_names=event_names_awaited(workspace=workspace),
        )
        if stored.pending:
            # ``robust``: with the broker down the events are stored all the same, and
            # beat's next match finds them.
            transaction.on_commit(tasks.events_match.delay, robust=True)
    return stored
