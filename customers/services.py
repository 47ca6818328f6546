"""Customer services: identify (the upsert every entry point shares), update and erase.

Identify must be safe under concurrency: SDKs and dialects call it in parallel for the
same person all the time (a sign-up fires several requests at once). Rather than
check-then-insert, it relies on the unique indexes on ``(workspace, external_id)`` and
``(workspace, email)``: an insert that loses a race raises ``IntegrityError`` inside a
savepoint, and the attempt is replayed, now finding the winner's row and updating it.
"""

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone as django_timezone

from customers.errors import Conflict, InvalidRequest
from customers.models import ApiKey, ChannelIdentity, Customer, Workspace, normalize_email
from customers.signals import customers_changed
from customers.validators import timezone_names

#: An insert can lose a race at most once per unique index it touches (external_id,
#: email); one more attempt covers a customer that is changed again meanwhile.
MAX_IDENTIFY_ATTEMPTS = 3

IDENTIFIER_FIELDS = ("external_id", "email", "anonymous_id")


class _Unset(enum.Enum):
    """Marks "not given" where ``None`` means "clear it" (PATCH semantics)."""

    UNSET = enum.auto()


UNSET = _Unset.UNSET
Unset = Literal[_Unset.UNSET]


def validate_timezone(value: str) -> str:
    """An IANA zone name (``Europe/Paris``) or ``""`` for "unknown"; anything else is a 400.

    Delays and quiet hours compute local times from it, so a typo must fail at the door
    rather than in a worker months later.
    """
    if value != "" and value not in timezone_names():
        raise InvalidRequest(
            f"timezone: unknown time zone {value!r}; use an IANA name such as 'Europe/Paris'",
            field="timezone",
        )
    return value


def _validate_status(value: str) -> str:
    if value not in Customer.Status.values:
        raise InvalidRequest(
            f"status: must be one of {', '.join(Customer.Status.values)}", field="status"
        )
    return value


def _clean_identifier(value: str | None) -> str | None:
    """External and anonymous ids are opaque; only an empty string is read as "none"."""
    if value is None or value == "":
        return None
    return value


def _clean_channels(channels: Iterable[Mapping[str, str]] | None) -> list[tuple[str, str]]:
    """``[{"type": "sms", "id": "+1555..."}]`` as de-duplicated ``(type, id)`` pairs."""
    pairs: dict[tuple[str, str], None] = {}
    for index, channel in enumerate(channels or ()):
        channel_type = str(channel.get("type") or "").strip().lower()
        channel_id = str(channel.get("id") or "").strip()
        if not channel_type or not channel_id:
            raise InvalidRequest(
                f"channels[{index}]: both 'type' and 'id' are required", field="channels"
            )
        pairs[(channel_type, channel_id)] = None
    return list(pairs)


def _merge_attributes(current: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Shallow merge where the request wins and a ``null`` value removes the attribute."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _channels_attach(
    *, workspace: Workspace, customer: Customer, channels: list[tuple[str, str]]
) -> None:
    """Upsert channel identities in one statement; an address moves to the newest claimant.

    Phone numbers get recycled: when a request says this number is this customer's, the
    request wins over what was known before (``ON CONFLICT DO UPDATE``).
    """
    if not channels:
        return
    ChannelIdentity.objects.bulk_create(
        [
            ChannelIdentity(
                workspace=workspace, customer=customer, channel_type=kind, channel_id=value
            )
            for kind, value in channels
        ],
        update_conflicts=True,
        unique_fields=["workspace", "channel_type", "channel_id"],
        update_fields=["customer"],
    )


def _email_owner(*, workspace: Workspace, email: str, exclude: Customer) -> Customer | None:
    return Customer.objects.filter(workspace=workspace, email=email).exclude(pk=exclude.pk).first()


def _identify_once(
    *,
    workspace: Workspace,
    external_id: str | None,
    email: str | None,
    anonymous_id: str | None,
    attributes: Mapping[str, Any],
    timezone: str | None,
    status: str | None,
) -> tuple[Customer, bool]:
    """One attempt at the upsert; raises IntegrityError when it loses a race."""
    locked = Customer.objects.select_for_update().filter(workspace=workspace)
    customer: Customer | None = None

    if external_id is not None:
        customer = locked.filter(external_id=external_id).first()
        if customer is not None and email is not None and customer.email != email:
            other = _email_owner(workspace=workspace, email=email, exclude=customer)
            if other is not None:
                raise Conflict(
                    f"email {email!r} already belongs to another customer; "
                    f"external_id {external_id!r} cannot take it",
                    field="email",
                    customer_id=other.public_id,
                )

    if customer is None and email is not None:
        customer = locked.filter(email=email).first()
        if customer is not None and external_id is not None and customer.external_id:
            # Not the same person as far as we can tell: merging would be a guess.
            raise Conflict(
                f"email {email!r} belongs to a customer with a different external_id "
                f"({customer.external_id!r}), not {external_id!r}",
                field="email",
                customer_id=customer.public_id,
            )

    if customer is None and anonymous_id is not None:
        # A known visitor who now tells us who they are (Segment's identify). Only a
        # profile that is not already someone else's can be claimed.
        candidates = locked.filter(anonymous_id=anonymous_id)
        if external_id is not None:
            candidates = candidates.filter(external_id__isnull=True)
        if email is not None:
            candidates = candidates.filter(email__isnull=True)
        customer = candidates.order_by("-updated_at", "-pk").first()

    if customer is None:
        customer = Customer(
            workspace=workspace,
            external_id=external_id,
            email=email,
            anonymous_id=anonymous_id,
            attributes=_merge_attributes({}, attributes),
            status=status or Customer.Status.ACTIVE,
            timezone=timezone or "",
        )
        customer.save(force_insert=True)
        return customer, True

    changes: dict[str, Any] = {}
    if external_id is not None and customer.external_id != external_id:
        changes["external_id"] = external_id
    if email is not None and customer.email != email:
        changes["email"] = email
    if anonymous_id is not None and customer.anonymous_id != anonymous_id:
        changes["anonymous_id"] = anonymous_id
    if attributes:
        merged = _merge_attributes(customer.attributes, attributes)
        if merged != customer.attributes:
            changes["attributes"] = merged
    if status is not None and customer.status != status:
        changes["status"] = status
    if timezone is not None and customer.timezone != timezone:
        changes["timezone"] = timezone
    if changes:
        for field, value in changes.items():
            setattr(customer, field, value)
        customer.save(update_fields=[*changes, "updated_at"])
    return customer, False


@transaction.atomic
def customer_identify(
    *,
    workspace: Workspace,
    external_id: str | None = None,
    email: str | None = None,
    anonymous_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    timezone: str | None = None,
    status: str | None = None,
    channels: Iterable[Mapping[str, str]] | None = None,
) -> tuple[Customer, bool]:
    """Create or update the customer these identifiers name; returns ``(customer, created)``.

    Matching goes by external_id, then email, then anonymous_id. A new external_id with
    a known email attaches to that customer when it has no external_id yet, and
    conflicts (409) when it has another one: two people, or a typo, and guessing which
    would merge strangers. Attributes merge shallowly (request wins, ``null`` removes).
    """
    external_id = _clean_identifier(external_id)
    email = normalize_email(email)
    anonymous_id = _clean_identifier(anonymous_id)
    if external_id is None and email is None and anonymous_id is None:
        raise InvalidRequest.one_of_required(IDENTIFIER_FIELDS)
    if timezone is not None:
        validate_timezone(timezone)
    if status is not None:
        _validate_status(status)
    channel_pairs = _clean_channels(channels)

    for attempt in range(MAX_IDENTIFY_ATTEMPTS):
        try:
            with transaction.atomic():
                customer, created = _identify_once(
                    workspace=workspace,
                    external_id=external_id,
                    email=email,
                    anonymous_id=anonymous_id,
                    attributes=attributes or {},
                    timezone=timezone,
                    status=status,
                )
                _channels_attach(workspace=workspace, customer=customer, channels=channel_pairs)
        except IntegrityError:
            # Another request inserted the same external_id/email since we looked; its
            # row is committed now, so the next attempt finds and updates it.
            if attempt == MAX_IDENTIFY_ATTEMPTS - 1:
                raise Conflict(
                    "the customer was changed concurrently by another request; retry"
                ) from None
            continue
        customers_changed.send(Customer, workspace_id=workspace.pk, customer_ids=[customer.pk])
        return customer, created
    raise AssertionError("unreachable")  # pragma: no cover


@transaction.atomic
def customer_for_channel(*, workspace: Workspace, channel_type: str, channel_id: str) -> Customer:
    """The customer reached at this address (an SMS number...), made now if nobody is.

    For callers that know a person only by an address that is no identifier of its own
    (Courier's profile with just a ``phone_number``). Concurrent calls for one address
    make one customer: the identity's unique index decides, as in :func:`customer_identify`.
    """
    for _attempt in range(MAX_IDENTIFY_ATTEMPTS):
        identity = (
            ChannelIdentity.objects.select_related("customer")
            .filter(workspace=workspace, channel_type=channel_type, channel_id=channel_id)
            .first()
        )
        if identity is not None:
            return identity.customer
        try:
            with transaction.atomic():
                customer = Customer.objects.create(workspace=workspace)
                ChannelIdentity.objects.create(
                    workspace=workspace,
                    customer=customer,
                    channel_type=channel_type,
                    channel_id=channel_id,
                )
        except IntegrityError:
            continue  # another request claimed the address meanwhile: it is theirs
        return customer
    raise Conflict("the customer was changed concurrently by another request; retry")


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    email: str | Unset | None = UNSET,
    external_id: str | Unset | None = UNSET,
    attributes: Mapping[str, Any] | None = None,
    status: str | None = None,
    timezone: str | None = None,
) -> Customer:
    """Apply a partial update; ``None`` clears email/external_id, absent leaves them.

    The row is re-read under a lock so that two concurrent attribute merges both land.
    Taking an email or external_id that another customer holds is a 409.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    changes: dict[str, Any] = {}
    if email is not UNSET:
        email = normalize_email(email)
        if email != locked.email:
            changes["email"] = email
    if external_id is not UNSET:
        external_id = _clean_identifier(external_id)
        if external_id != locked.external_id:
            changes["external_id"] = external_id
    if attributes:
        merged = _merge_attributes(locked.attributes, attributes)
        if merged != locked.attributes:
            changes["attributes"] = merged
    if status is not None and status != locked.status:
        changes["status"] = _validate_status(status)
    if timezone is not None and timezone != locked.timezone:
        changes["timezone"] = validate_timezone(timezone)

    for field in ("email", "external_id"):
        value = changes.get(field)
        if value is None:
            continue
        taken = (
            Customer.objects.filter(Q(**{field: value}), workspace_id=locked.workspace_id)
            .exclude(pk=locked.pk)
            .first()
        )
        if taken is not None:
            raise Conflict(
                f"{field} {value!r} already belongs to another customer",
                field=field,
                customer_id=taken.public_id,
            )

    if changes:
        for field, value in changes.items():
            setattr(locked, field, value)
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changes, "updated_at"])
        except IntegrityError:
            # Lost a race against a concurrent insert of the same email/external_id.
            raise Conflict("email or external_id already belongs to another customer") from None
        customers_changed.send(Customer, workspace_id=locked.workspace_id, customer_ids=[locked.pk])
    return locked


@transaction.atomic
def customer_erase(*, customer: Customer) -> dict[str, int]:
    """Delete the customer and everything that hangs off them (the right to be forgotten).

    Identities, tenant profiles, events, segment memberships and enrollments (with their
    step runs) go by ``ON DELETE CASCADE`` semantics in Django's collector. Returns the
    number of rows deleted per model, for audit logs.
    """
    _total, per_model = customer.delete()
    return per_model


def api_keys_revoke(*, keys: QuerySet[ApiKey]) -> int:
    """Revoke these keys (those not revoked yet); returns how many were. A revoked key
    answers 401 from its next request on: authentication reads ``revoked_at``."""
    return keys.filter(revoked_at__isnull=True).update(revoked_at=django_timezone.now())
