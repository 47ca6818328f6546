"""``Idempotency-Key`` for trigger endpoints: one execution per key, replayed answers.

The record is claimed with an INSERT in the same transaction as the work it guards and
completed before that transaction commits. A concurrent duplicate's INSERT waits on the
unique index until the first transaction ends, then finds the finished record and
replays its answer, so two requests with one key never both execute. If the work
fails, its transaction (and the claim) rolls back and a retry executes afresh.
"""

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from customers.errors import InvalidRequest, Unprocessable
from customers.models import Workspace
from journeys.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
#: Printable ASCII, 1 to 255 characters, no space at either end: what HTTP carries
#: unchanged and the record's column holds (a NUL would be a database error). The
#: OpenAPI schema states the same pattern.
KEY_PATTERN = rf"^[\x21-\x7e]([\x20-\x7e]{{0,{MAX_KEY_LENGTH - 2}}}[\x21-\x7e])?$"


def request_fingerprint(request: Request) -> str:
    """Method, path and the body as parsed JSON: whitespace and key order don't matter."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    material = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass
class IdempotencyGuard:
    """What :func:`idempotency_guard` found: an answer to replay, or a request to execute
    (then :meth:`complete` stores its answer under the key)."""

    replay: Response | None = None
    record: IdempotencyRecord | None = None

    def complete(self, response: Response) -> Response:
        if self.record is not None:
            self.record.response_status = response.status_code
            self.record.response_body = response.data
            self.record.save(update_fields=["response_status", "response_body"])
        return response


def _expired(now: datetime) -> Q:
    """Records past their lifetime: their own expiry, else the default one."""
    default_cutoff = now - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    return Q(expires_at__isnull=True, created_at__lt=default_cutoff) | Q(expires_at__lte=now)


def idempotency_key_get(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, or None without one; a malformed key is a 400
    (also on a dry run, which ignores the key: the same request must not be refused
    only once it is meant)."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not re.fullmatch(KEY_PATTERN, key):
        raise InvalidRequest(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters", field=HEADER
        )
    return key


@contextlib.contextmanager
def idempotency_guard(
    *,
    request: Request,
    workspace: Workspace,
    expires_at: datetime | None = None,
    key: str | None = None,
) -> Iterator[IdempotencyGuard]:
    """One execution per ``Idempotency-Key``; its answer replayed for 24 hours, or until
    ``expires_at`` when the request set its key's expiry (kept from the first request:
    a later one cannot change it while the key lives).

    ``key`` is the caller's own key for the request (a webhook's delivery id) instead of
    the header. Without a key the guard does nothing. With it, the body of the ``with`` runs in
    the transaction that claimed the key, so its writes and the stored answer commit
    together, and an error rolls both back (a retry then executes afresh)::

        with idempotency_guard(request=request, workspace=workspace) as guard:
            if guard.replay:
                return guard.replay
            return guard.complete(Response(...))
    """
    key = key if key is not None else idempotency_key_get(request)
    if key is None:
        yield IdempotencyGuard()
        return
    fingerprint = request_fingerprint(request)
    now = timezone.now()
    with transaction.atomic():
        IdempotencyRecord.objects.filter(_expired(now), workspace=workspace, key=key).delete()
        record, created = IdempotencyRecord.objects.get_or_create(
            workspace=workspace,
            key=key,
            defaults={
                "request_fingerprint": fingerprint,
                "created_at": now,
                "expires_at": expires_at,
            },
        )
        if created:
            yield IdempotencyGuard(record=record)
            return
        if record.request_fingerprint != fingerprint:
            raise Unprocessable(
                f"{HEADER} '{key}' was already used with a different request; "
                "use a new key for a new request",
            )
        replay = Response(record.response_body, status=record.response_status)
        replay["Idempotent-Replayed"] = "true"
        yield IdempotencyGuard(replay=replay)


def idempotency_records_purge(*, now=None) -> int:
    """Delete records past their lifetime; the beat schedule calls this hourly."""
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(_expired(now)).delete()
    return deleted
