"""Named reads of customers: the lookups that several services and views share."""

from collections.abc import Iterable, Sequence

from django.db.models import Q, QuerySet

from customers.errors import NotFound
from customers.models import ChannelIdentity, Customer, Workspace


def active_customers(workspace: Workspace) -> QuerySet[Customer]:
    """Customers a journey may enroll: inactive ones count as not found (every seed)."""
    return Customer.objects.filter(workspace=workspace, status=Customer.Status.ACTIVE)


def customer_get(*, workspace: Workspace, customer_id: str) -> Customer:
    """The customer with this public id in this workspace.

    An id of another workspace answers exactly like one that does not exist, so a key
    learns nothing about other tenants.
    """
    customer = (
        Customer.objects.filter(workspace=workspace, public_id=customer_id)
        .prefetch_related("identities")
        .first()
    )
    if customer is None:
        raise NotFound("customer not found")
    return customer


def customers_by_identifiers(
    *, workspace: Workspace, external_ids: Iterable[str] = (), emails: Iterable[str] = ()
) -> QuerySet[Customer]:
    """Customers of the workspace matching any of the external ids or (normalised) emails.

    One query whatever the number of identifiers: both columns have unique indexes per
    workspace, so PostgreSQL answers ``= ANY(...)`` with index scans.
    """
    external_ids = list(external_ids)
    emails = list(emails)
    match = Q()
    if external_ids:
        match |= Q(external_id__in=external_ids)
    if emails:
        match |= Q(email__in=emails)
    if not match:
        return Customer.objects.none()
    return Customer.objects.filter(match, workspace=workspace)


def customer_by_channel(
    *, workspace: Workspace, channel_types: Sequence[str], channel_ids: Sequence[str]
) -> Customer | None:
    """The active customer one of these channel identities names, in one query.

    Several may match (a number known for WhatsApp and for SMS, with and without its
    ``+``): the earlier type, then the earlier id, wins.
    """
    identities = ChannelIdentity.objects.filter(
        workspace=workspace,
        channel_type__in=channel_types,
        channel_id__in=channel_ids,
        customer__status=Customer.Status.ACTIVE,
    ).select_related("customer")
    best = min(
        identities,
        key=lambda i: (channel_types.index(i.channel_type), channel_ids.index(i.channel_id)),
        default=None,
    )
    return best.customer if best else None
