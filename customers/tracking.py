"""The event stream's writes: a batch of tracked messages (Segment's track, identify,
group, page, screen and alias) stored in a fixed number of statements, whatever its size.

- People: everyone the batch names is found or made by the rules of
  :func:`customers.services.customer_identify` (external_id, then email, then
  anonymous_id), all at once: one locking SELECT of the customers the batch can mean,
  one INSERT of the new ones, one pipelined UPDATE of the changed ones. A track from
  someone never identified makes their customer (from ``userId``, else
  ``anonymousId``). Where identify would answer 409 (an email that belongs to another
  customer), the batch keeps the email where it is and applies the rest: one person's
  conflict must not refuse everyone else's events.
- Groups: a group call's traits are merged into the customer's tenant profile for that
  group id (``TenantProfile``), one SELECT and one upsert.
- Events: one ``INSERT ... ON CONFLICT DO NOTHING``. A messageId the workspace already
  stored (a client's retry) is a duplicate and is skipped. Events a live journey may be
  triggered by are stored with ``matched_at`` NULL: the journeys app matches them
  (``journeys.entry.events.matching``); the others are stored as matched already.

Concurrent batches naming the same people serialise on the customers' rows (locked in
primary-key order, so two batches never deadlock); an INSERT that loses a race against
a concurrent one for the same external_id or email is replayed, as identify does.
"""

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, Q, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from customers.db import in_values, rows_update
from customers.errors import Conflict
from customers.models import Customer, Event, TenantProfile, Workspace
from customers.services import MAX_IDENTIFY_ATTEMPTS, _merge_attributes
from customers.signals import customers_changed


class MessageType(StrEnum):
    """Segment's message types (its HTTP tracking API's endpoints)."""

    TRACK = "track"
    IDENTIFY = "identify"
    GROUP = "group"
    PAGE = "page"
    SCREEN = "screen"
    ALIAS = "alias"


@dataclass(slots=True)
class TrackedMessage:
    """One message, as parsed from its Segment shape. (Not frozen: a batch makes 10,000
    of these, and a frozen dataclass's ``__init__`` takes three times as long.)

    ``event`` is the name of the event it stores (track, page and screen; None for the
    others). ``email`` is an identify's ``traits.email``, normalised, and ``traits`` the
    other traits. An alias is an identify without traits: its ``previousId`` is read as
    the anonymous id that ``userId`` now names.

    ``customer_pk`` names the customer by primary key instead, for the events the
    product records itself (an e-mail opened): the customer, whom the caller vouches
    is the workspace's, is neither looked up nor changed, and the ids are not read.
    """

    type: MessageType
    user_id: str | None = None
    anonymous_id: str | None = None
    event: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    #: ``properties`` as JSON text, when the reader has made it (to check its size).
    properties_json: str | None = None
    email: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    group_id: str | None = None
    timestamp: datetime | None = None
    message_id: str | None = None
    customer_pk: int | None = None


@dataclass(frozen=True)
class StoredBatch:
    """What storing a batch did."""

    received: int
    #: Events inserted, and those skipped because their messageId was stored before.
    events: int = 0
    duplicates: int = 0
    customers_created: int = 0
    #: Events stored for matching (a live journey may be triggered by their name).
    pending: int = 0
    #: The customer each message was filed under, by the message's index.
    customer_pks: tuple[int, ...] = ()


@transaction.atomic
def tracked_messages_store(
    *,
    workspace: Workspace,
    messages: Sequence[TrackedMessage],
    pending_names: Collection[str] | None = None,
    now: datetime | None = None,
) -> StoredBatch:
    """Store ``messages``: their people, their groups and their events, all or nothing.

    ``pending_names``: the event names that live journeys are triggered by; events of
    other names are stored as matched (None: every event waits to be matched).
    """
    now = now or timezone.now()
    if not messages:
        return StoredBatch(received=0)
    people = _People(messages)
    created = customers_identify_many(workspace=workspace, people=people)
    customer_pks = tuple(people.customer_pk(index) for index in range(len(messages)))
    groups: dict[tuple[int, str], dict[str, Any]] = defaultdict(dict)
    for message, customer_pk in zip(messages, customer_pks, strict=True):
        if message.type == MessageType.GROUP and message.group_id is not None:
            groups[(customer_pk, message.group_id)].update(message.traits)
    _tenant_profiles_merge(workspace=workspace, groups=groups)
    rows = [
        (customer_pk, message, pending_names is None or message.event in pending_names)
        for message, customer_pk in zip(messages, customer_pks, strict=True)
        if message.event is not None
    ]
    inserted = _events_insert(workspace=workspace, rows=rows, now=now)
    pending = sum(1 for _, _, waits in rows if waits)
    return StoredBatch(
        received=len(messages),
        events=inserted,
        duplicates=len(rows) - inserted,
        customers_created=created,
        # An upper bound when some were duplicates; the matching counts what it finds.
        pending=pending,
        customer_pks=customer_pks,
    )


# --- People ---------------------------------------------------------------------------


@dataclass
class _Person:
    """Everything a batch says about one person, merged in the batch's order."""

    user_id: str | None
    anonymous_id: str | None
    email: str | None = None
    #: Attribute changes: later traits win, a null removes the attribute.
    changes: dict[str, Any] = field(default_factory=dict)
    customer: "_Row | None" = None
    #: Named by primary key (``TrackedMessage.customer_pk``): ``customer`` is given.
    by_pk: bool = False


class _People:
    """The people of a batch: one per userId, and one per anonymousId never seen with a
    userId in the batch (a message with both tells that they are one person)."""

    def __init__(self, messages: Sequence[TrackedMessage]) -> None:
        named: dict[str, str] = {}
        for message in messages:
            if message.user_id is not None and message.anonymous_id is not None:
                named.setdefault(message.anonymous_id, message.user_id)
        self.by_key: dict[tuple[str, str], _Person] = {}
        self.keys: list[tuple[str, str]] = []
        for message in messages:
            if message.customer_pk is not None:
                key = ("pk", str(message.customer_pk))
                if key not in self.by_key:
                    row = _Row(message.customer_pk, None, None, None, None, None)
                    self.by_key[key] = _Person(None, None, customer=row, by_pk=True)
                self.keys.append(key)
                continue
            user_id = message.user_id
            if user_id is None and message.anonymous_id in named:
                user_id = named[message.anonymous_id]
            key = ("user", user_id) if user_id is not None else ("anonymous", message.anonymous_id)
            person = self.by_key.get(key)
            if person is None:
                person = self.by_key[key] = _Person(user_id=user_id, anonymous_id=None)
            if message.anonymous_id is not None:
                person.anonymous_id = message.anonymous_id
            if message.type in _IDENTIFYING:
                if message.email is not None:
                    person.email = message.email
                person.changes.update(message.traits)
            self.keys.append(key)

    def __iter__(self) -> Iterator[_Person]:
        return iter(self.by_key.values())

    def customer_pk(self, index: int) -> int:
        return self.by_key[self.keys[index]].customer.pk

    @property
    def may_change_customers(self) -> bool:
        """Whether the batch may change a known customer; a batch that only names
        people by one id each (tracks, pages) only reads them."""
        return any(
            person.changes
            or person.email is not None
            or (person.user_id is not None and person.anonymous_id is not None)
            for person in self
        )


_IDENTIFYING = (MessageType.IDENTIFY, MessageType.ALIAS)


class _Row:
    """A customer as the batch sees it: a row read, or one to insert (pk None).

    Attributes are read as JSON text and decoded only for the people whose traits
    change them: a batch of tracks never decodes them."""

    __slots__ = (
        "_attributes",
        "anonymous_id",
        "attributes_json",
        "email",
        "external_id",
        "pk",
        "updated_at",
    )

    def __init__(self, pk, external_id, email, anonymous_id, attributes_json, updated_at) -> None:
        self.pk: int | None = pk
        self.external_id: str | None = external_id
        self.email: str | None = email
        self.anonymous_id: str | None = anonymous_id
        self.attributes_json: str | None = attributes_json
        self._attributes: dict[str, Any] | None = None
        self.updated_at: datetime | None = updated_at

    @property
    def attributes(self) -> dict[str, Any]:
        if self._attributes is None:
            value = json.loads(self.attributes_json) if self.attributes_json else {}
            self._attributes = value if isinstance(value, dict) else {}
        return self._attributes

    @attributes.setter
    def attributes(self, value: dict[str, Any]) -> None:
        self._attributes = value


#: An email a change in the batch has freed (see ``_Known.forget_email``).
_FREED: Any = object()


class _Known:
    """The workspace's customers that a batch can mean, indexed as identify looks."""

    def __init__(self, rows: Iterable[_Row]) -> None:
        self.by_external: dict[str, _Row] = {}
        self.by_email: dict[str, _Row] = {}
        #: Most recently updated first, as identify prefers them.
        self.by_anonymous: dict[str, list[_Row]] = defaultdict(list)
        rows = list(rows)
        anonymous = [row for row in rows if row.anonymous_id is not None]
        anonymous.sort(key=lambda row: (row.updated_at, row.pk), reverse=True)  # type: ignore[arg-type]
        for row in rows:
            if row.external_id is not None:
                self.by_external[row.external_id] = row
            if row.email is not None:
                self.by_email[row.email] = row
        for row in anonymous:
            self.by_anonymous[row.anonymous_id].append(row)

    def add(self, row: _Row) -> None:
        """A row made or changed by the batch: first in every index."""
        if row.external_id is not None:
            self.by_external[row.external_id] = row
        if row.email is not None:
            self.by_email[row.email] = row
        if row.anonymous_id is not None:
            self.by_anonymous[row.anonymous_id].insert(0, row)

    def forget_email(self, row: _Row) -> None:
        """The row's old email, which a change is replacing, is nobody's for the rest
        of the batch: giving it to another row in the same statements could meet the
        unique index before the change that frees it. (An anonymous id the row had
        stays known: a later message of the batch from that device is still theirs.)"""
        if self.by_email.get(row.email) is row:
            self.by_email[row.email] = _FREED

    def match(self, person: _Person) -> tuple[_Row | None, str | None, bool]:
        """The customer ``person`` is (None: a new one), the email they may take, and
        whether they were found by their anonymous id: identify's order of lookups,
        where a conflict keeps the email off instead of failing (module docstring)."""
        email = person.email
        if email is not None and self.by_email.get(email) is _FREED:
            email = None
        if person.user_id is not None:
            row = self.by_external.get(person.user_id)
            if row is not None:
                owner = self.by_email.get(email) if email else None
                return row, email if owner is None or owner is row else None, False
        if email is not None:
            owner = self.by_email.get(email)
            if owner is not None:
                if person.user_id is None or owner.external_id is None:
                    return owner, email, False
                email = None  # another person's address
        for candidate in self.by_anonymous.get(person.anonymous_id, ()):
            if person.user_id is not None and candidate.external_id is not None:
                continue
            if email is not None and candidate.email is not None:
                continue
            return candidate, email, True
        return None, email, False


#: What an identify may change of a known customer.
_IDENTIFY_FIELDS = ("external_id", "email", "anonymous_id", "attributes", "updated_at")


def customers_identify_many(*, workspace: Workspace, people: _People) -> int:
    """Find or make every person of a batch (``person.customer`` is set); returns how
    many customers were made.

    A batch that may change known customers locks them (in primary-key order) until the
    caller's transaction ends; one that only names them (tracks of known people) reads
    them without a lock, which would cost a write per row.
    """
    wanted = Q()
    for column, values in (
        ("external_id", {p.user_id for p in people if p.user_id is not None}),
        ("email", {p.email for p in people if p.email is not None}),
        ("anonymous_id", {p.anonymous_id for p in people if p.anonymous_id is not None}),
    ):
        if values:
            wanted |= in_values(Customer, column, sorted(values))
    if all(person.by_pk for person in people):
        return 0  # everyone is named by primary key: nothing to look up
    customers = Customer.objects.filter(wanted, workspace=workspace).order_by("pk")
    changes = people.may_change_customers
    if changes:
        customers = customers.select_for_update()
    # Only identify's choice among customers of one anonymous id reads when they changed;
    # emails and attributes matter only to a batch that may change them.
    has_anonymous = any(p.anonymous_id is not None for p in people)
    columns = customers.values_list(
        "pk",
        "external_id",
        "email" if changes else Value(None, output_field=TextField()),
        "anonymous_id",
        Cast("attributes", TextField()) if changes else Value(None, output_field=TextField()),
        "updated_at" if has_anonymous else Value(None, output_field=DateTimeField()),
    )
    for attempt in range(MAX_IDENTIFY_ATTEMPTS):
        try:
            with transaction.atomic():
                known = _Known(_Row(*values) for values in columns.all())
                new, changed = _people_resolve(people, known)
                _customers_write(workspace, new, changed)
                if new or changed:
                    customers_changed.send(
                        Customer,
                        workspace_id=workspace.pk,
                        customer_ids=[row.pk for row in (*new, *changed)],
                    )
        except IntegrityError:
            # A concurrent request made one of these people since we looked; its row
            # is committed now, and the next attempt finds it.
            if attempt == MAX_IDENTIFY_ATTEMPTS - 1:
                raise Conflict(
                    "customers of this batch were changed concurrently by another request; retry"
                ) from None
            continue
        return len(new)
    raise AssertionError("unreachable")  # pragma: no cover


def _people_resolve(people: _People, known: _Known) -> tuple[list[_Row], list[_Row]]:
    """Each person's customer, in the batch's order: the new rows and the changed ones."""
    now = timezone.now()
    new: list[_Row] = []
    changed: dict[int, _Row] = {}
    for person in people:
        if person.by_pk:
            continue
        row, email, by_anonymous_id = known.match(person)
        if row is None:
            row = _Row(None, person.user_id, email, person.anonymous_id, None, now)
            row.attributes = _merge_attributes({}, person.changes)
            new.append(row)
            known.add(row)
            person.customer = row
            continue
        updates: dict[str, Any] = {}
        if person.user_id is not None and row.external_id != person.user_id:
            updates["external_id"] = person.user_id
        if email is not None and row.email != email:
            updates["email"] = email
        # Found by an anonymous id the batch has already replaced: keep the newer one.
        anonymous_id = None if by_anonymous_id and person.user_id is None else person.anonymous_id
        if anonymous_id is not None and row.anonymous_id != anonymous_id:
            updates["anonymous_id"] = anonymous_id
        if person.changes:
            merged = _merge_attributes(row.attributes, person.changes)
            if merged != row.attributes:
                updates["attributes"] = merged
        if updates:
            if "email" in updates:
                known.forget_email(row)
            for name, value in updates.items():
                setattr(row, name, value)
            row.updated_at = now
            known.add(row)
            if row.pk is not None:
                changed[row.pk] = row
        person.customer = row
    return new, list(changed.values())


def _customers_write(workspace: Workspace, new: list[_Row], changed: list[_Row]) -> None:
    """One INSERT of the new customers (their pks set on the rows), one pipelined UPDATE
    of the changed ones."""
    if new:
        made = Customer.objects.bulk_create(
            [
                Customer(
                    workspace=workspace,
                    external_id=row.external_id,
                    email=row.email,
                    anonymous_id=row.anonymous_id,
                    attributes=row.attributes,
                    status=Customer.Status.ACTIVE,
                    timezone="",
                )
                for row in new
            ]
        )
        for row, customer in zip(new, made, strict=True):
            row.pk = customer.pk
    if changed:
        rows_update(
            [
                Customer(
                    pk=row.pk,
                    external_id=row.external_id,
                    email=row.email,
                    anonymous_id=row.anonymous_id,
                    attributes=row.attributes,
                    updated_at=row.updated_at,
                )
                for row in changed
            ],
            _IDENTIFY_FIELDS,
        )


# --- Groups ---------------------------------------------------------------------------


def _tenant_profiles_merge(
    *, workspace: Workspace, groups: dict[tuple[int, str], dict[str, Any]]
) -> None:
    """Merge each (customer, group id)'s traits into that tenant profile: one SELECT,
    locking the profiles that exist, and one upsert."""
    if not groups:
        return
    customer_pks = {customer_pk for customer_pk, _ in groups}
    group_ids = {group_id for _, group_id in groups}
    current = {
        (profile.customer_id, profile.tenant_id): profile.profile
        for profile in TenantProfile.objects.select_for_update()
        .filter(customer_id__in=customer_pks, tenant_id__in=group_ids)
        .order_by("pk")
    }
    TenantProfile.objects.bulk_create(
        [
            TenantProfile(
                workspace=workspace,
                customer_id=customer_pk,
                tenant_id=group_id,
                profile=_merge_attributes(current.get((customer_pk, group_id)) or {}, traits),
            )
            for (customer_pk, group_id), traits in groups.items()
        ],
        update_conflicts=True,
        unique_fields=["customer", "tenant_id"],
        update_fields=["profile", "updated_at"],
    )


# --- Events ---------------------------------------------------------------------------

_EVENT_COLUMNS = (
    "workspace_id, customer_id, name, properties, timestamp, received_at, message_id, matched_at"
)
#: The arbiter: the partial unique index ``event_unique_message_id``.
_ON_DUPLICATE = "ON CONFLICT (workspace_id, message_id) WHERE message_id IS NOT NULL DO NOTHING"


def _events_insert(
    *, workspace: Workspace, rows: list[tuple[int, TrackedMessage, bool]], now: datetime
) -> int:
    """Insert the events of ``(customer pk, message, pending)`` rows; returns how many
    were new (the others' messageId was stored before, or earlier in the batch)."""
    if not rows:
        return 0
    table = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement whose rows are one JSON parameter: array parameters would be
            # quoted element by element in Python, the JSON text is made and read in C.
            cursor.execute(
                f"INSERT INTO {table} ({_EVENT_COLUMNS}) SELECT %s, (r->>0)::bigint, r->>1,"
                " r->2, COALESCE((r->>3)::timestamptz, %s), %s, r->>4,"
                " CASE WHEN (r->>5)::boolean THEN NULL ELSE %s END"
                f" FROM jsonb_array_elements(%s::jsonb) AS r {_ON_DUPLICATE}",
                [workspace.pk, now, now, now, _events_json(rows)],
            )
            return cursor.rowcount
        adapt = connection.ops.adapt_datetimefield_value
        received = adapt(now)
        cursor.executemany(
            f"INSERT INTO {table} ({_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            f" {_ON_DUPLICATE}",
            [
                (
                    workspace.pk,
                    customer_pk,
                    message.event,
                    message.properties_json or json.dumps(message.properties),
                    adapt(message.timestamp or now),
                    received,
                    message.message_id,
                    None if pending else received,
                )
                for customer_pk, message, pending in rows
            ],
        )
        return cursor.rowcount


def _events_json(rows: list[tuple[int, TrackedMessage, bool]]) -> str:
    """``[[customer pk, name, properties, timestamp, message id, pending], ...]``."""
    dumps = json.dumps
    return (
        "["
        + ",".join(
            f"[{customer_pk},{dumps(message.event)},"
            f"{message.properties_json or dumps(message.properties)},"
            f"{dumps(message.timestamp.isoformat() if message.timestamp else None)},"
            f"{dumps(message.message_id)},{'true' if pending else 'false'}]"
            for customer_pk, message, pending in rows
        )
        + "]"
    )
