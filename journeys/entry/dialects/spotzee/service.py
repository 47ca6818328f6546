"""Spotzee's journeys, read and triggered: the dialect's rules, over the product's services.

A trigger names up to :data:`MAX_USERS` users, each an entrance with data of its own.
It goes in three steps, and only the first can refuse the whole call:

1. the journey: unknown is a 404, draft or off a 409 (checked before anything is
   written, so a call to a journey that is not live leaves no contact behind);
2. the contacts: each user is matched to a customer by external_id, else email, else
   anonymous_id (the product's identify rules), and upserted when that changes
   something. "Enough to create one" is an external_id or an email: an anonymous_id
   alone only finds a contact the workspace already has;
3. the entrances: one call of the trigger service with every contact's data
   (``Audience.customer_payloads``), which enters them all in one statement.

Whatever stops one user (no such contact, a conflict between identifiers, data that
breaks the journey's trigger schema, an entry rule) is that user's error in the answer;
the others enter.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q

from customers.errors import Conflict, InvalidRequest, NotFound
from customers.models import Customer, Workspace
from customers.services import customer_identify
from journeys.entry.core import Outcome
from journeys.entry.selectors import journey_for_trigger
from journeys.entry.service import (
    INVALID_PAYLOAD,
    NOT_FOUND,
    Audience,
    CustomerEntry,
    journey_trigger,
)
from journeys.models import Journey

#: Users one trigger may name.
MAX_USERS = 1000
#: Journeys a page of the list holds: by default, and at most.
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

#: The product's statuses in Spotzee's words: a paused journey is "off", and so is an
#: archived one (it takes no entrances and never will again).
SPOTZEE_STATUS = {
    Journey.Status.DRAFT: "draft",
    Journey.Status.LIVE: "live",
    Journey.Status.PAUSED: "off",
    Journey.Status.ARCHIVED: "off",
}

#: Why a user did not enter, by the ``code`` the answer gives.
MESSAGES = {
    "contact_not_found": "contact not found and not enough information to create one: an "
    "anonymous_id alone only finds a known contact; give an external_id or an email",
    "contact_inactive": "contact is inactive: inactive contacts do not enter journeys",
    "duplicate_user": "names the same contact as users[{first}]: a contact enters once a call",
    Outcome.ALREADY_ENROLLED.value: "contact is already in this journey",
    Outcome.RECENTLY_COMPLETED.value: "contact completed this journey inside its re-entry cooldown",
    Outcome.MAX_ENTRIES_REACHED.value: "contact has completed this journey as many times "
    "as it allows",
    Outcome.CONDITIONS_NOT_MET.value: "the journey's trigger or entry conditions are not met",
}


# --- listing --------------------------------------------------------------------------


@dataclass(frozen=True)
class JourneyPage:
    journeys: list[Journey]
    #: The last journey's id when more follow: the next page starts after it.
    next_cursor: str | None


def spotzee_journeys_page(
    *, workspace: Workspace, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
) -> JourneyPage:
    """The workspace's journeys, newest first (public ids are time-ordered), ``limit``
    of them after the journey ``cursor`` names (it need not exist any more)."""
    journeys = Journey.objects.filter(workspace=workspace).order_by("-public_id")
    if cursor is not None:
        journeys = journeys.filter(public_id__lt=cursor)
    page = list(
        journeys.only("public_id", "name", "status", "created_at", "updated_at")[: limit + 1]
    )
    more = len(page) > limit
    page = page[:limit]
    return JourneyPage(journeys=page, next_cursor=page[-1].public_id if more else None)


# --- triggering -----------------------------------------------------------------------


@dataclass(frozen=True)
class SpotzeeUser:
    """One entry of ``users``, as the view parsed it (blank identifiers as None)."""

    external_id: str | None = None
    anonymous_id: str | None = None
    email: str | None = None
    timezone: str | None = None
    #: Every other field of the user: merged into the contact's attributes.
    traits: dict[str, Any] = field(default_factory=dict)
    #: The entrance's data: ``{{ data.x }}`` and ``{{ x }}`` in the journey's templates.
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def identifiers(self) -> dict[str, str]:
        given = {
            "external_id": self.external_id,
            "email": self.email,
            "anonymous_id": self.anonymous_id,
        }
        return {name: value for name, value in given.items() if value is not None}


@dataclass(frozen=True)
class UserError:
    index: int
    code: str
    message: str


@dataclass(frozen=True)
class SpotzeeTriggerResult:
    entrances_created: int
    errors: list[UserError]


def spotzee_journey_trigger(
    *, workspace: Workspace, journey_id: str, users: Sequence[SpotzeeUser]
) -> SpotzeeTriggerResult:
    """Enter each of ``users`` into the live journey ``journey_id`` (module docstring).

    Raises ``NotFound`` (unknown journey), ``Conflict`` (draft or off) and
    ``InvalidRequest`` (an event-triggered journey, too many users).
    """
    if len(users) > MAX_USERS:
        raise InvalidRequest(
            f"users: {len(users):,} users; the maximum is {MAX_USERS:,} a call", field="users"
        )
    _journey_live_check(workspace, journey_id)
    with transaction.atomic():
        contacts, errors = _contacts_upsert(workspace, users)
        payloads = {pk: users[index].data for index, pk in contacts.items()}
        result = journey_trigger(
            workspace=workspace,
            journey_id=journey_id,
            audience=Audience(customer_payloads=payloads),
            payload={},
        )
    for index, pk in contacts.items():
        error = _entry_error(index, result.customers[pk])
        if error is not None:
            errors.append(error)
    errors.sort(key=lambda error: error.index)
    return SpotzeeTriggerResult(entrances_created=result.entry.enrolled_count, errors=errors)


def _journey_live_check(workspace: Workspace, journey_id: str) -> None:
    """A live API-triggered journey passes; another status of a journey the workspace
    has is a 409 in Spotzee's words, anything else the trigger service's error."""
    try:
        journey_for_trigger(workspace=workspace, journey_id=journey_id)
    except NotFound:
        status = (
            Journey.objects.filter(workspace=workspace, public_id=journey_id)
            .values_list("status", flat=True)
            .first()
        )
        if status is None or status == Journey.Status.LIVE:
            raise
        spotzee_status = SPOTZEE_STATUS[status]
        raise Conflict(
            f"journey is {spotzee_status}: only live journeys accept entrances",
            code="journey_not_live",
            status=spotzee_status,
        ) from None


def _entry_error(index: int, entry: CustomerEntry) -> UserError | None:
    if entry.status == Outcome.ENROLLED:
        return None
    if entry.status == INVALID_PAYLOAD:
        # The trigger service speaks of the payload; Spotzee calls it the user's data.
        messages = [p["message"].replace("payload.", "data.", 1) for p in entry.problems]
        return UserError(index, "invalid_data", "; ".join(messages))
    code = "contact_inactive" if entry.status == NOT_FOUND else entry.status
    return UserError(index, code, MESSAGES[code])


def _contacts_upsert(
    workspace: Workspace, users: Sequence[SpotzeeUser]
) -> tuple[dict[int, int], list[UserError]]:
    """Each user's customer pk by index, and the users who have none (or name a contact
    an earlier user named).

    One read finds the contacts users name. A user whose contact is known, with every
    identifier it gives, and who brings nothing to change, costs nothing more; the
    others go through ``customer_identify`` (the upsert every entry point shares, safe
    under concurrent requests), in the order of their identifiers, so that two calls
    naming the same contacts lock them in one order.
    """
    known = _KnownContacts(workspace, users)
    contacts: dict[int, int] = {}
    errors: list[UserError] = []
    writes: list[int] = []
    for index, user in enumerate(users):
        contact = known.match(user)
        if contact is None and user.external_id is None and user.email is None:
            errors.append(UserError(index, "contact_not_found", MESSAGES["contact_not_found"]))
        elif contact is None or _changes(contact, user):
            writes.append(index)
        else:
            contacts[index] = contact.pk
    for index in sorted(writes, key=lambda i: sorted(users[i].identifiers.items())):
        user = users[index]
        try:
            customer, _created = customer_identify(
                workspace=workspace,
                **user.identifiers,
                attributes=user.traits,
                timezone=user.timezone,
            )
        except Conflict as error:
            errors.append(UserError(index, "contact_conflict", error.message))
            continue
        contacts[index] = customer.pk
    first_of: dict[int, int] = {}
    for index in sorted(contacts):
        pk = contacts[index]
        if pk in first_of:
            del contacts[index]
            message = MESSAGES["duplicate_user"].format(first=first_of[pk])
            errors.append(UserError(index, "duplicate_user", message))
        else:
            first_of[pk] = index
    return contacts, errors


def _changes(contact: Customer, user: SpotzeeUser) -> bool:
    """Whether identify would write: an identifier the contact lacks, a trait, a zone."""
    return (
        bool(user.traits)
        or any(getattr(contact, name) != value for name, value in user.identifiers.items())
        or (user.timezone is not None and user.timezone != contact.timezone)
    )


class _KnownContacts:
    """The workspace's customers that users name, read in one query, by identifier."""

    def __init__(self, workspace: Workspace, users: Sequence[SpotzeeUser]) -> None:
        wanted = Q()
        for name in ("external_id", "email", "anonymous_id"):
            values = {getattr(user, name) for user in users} - {None}
            if values:
                wanted |= Q(**{f"{name}__in": values})
        customers = (
            Customer.objects.filter(wanted, workspace=workspace)
            .only("id", "external_id", "email", "anonymous_id", "timezone")
            .order_by("updated_at", "pk")
            if wanted
            else []
        )
        self.by: dict[str, dict[str, Customer]] = {
            "external_id": {},
            "email": {},
            "anonymous_id": {},
        }
        for customer in customers:
            for name, index in self.by.items():
                value = getattr(customer, name)
                if value is not None:
                    # The most recently updated last: it wins an anonymous_id, as in
                    # identify (the other two are unique).
                    index[value] = customer

    def match(self, user: SpotzeeUser) -> Customer | None:
        """The contact identify would start from: by external_id, else email, else
        anonymous_id (only the most direct identifier given is looked at)."""
        for name, value in user.identifiers.items():
            return self.by[name].get(value)
        return None
