"""``POST /journeys/{id}/invoke``: one user into a journey, in Courier's terms.

Courier names its recipient by a user id or by a profile with contact information, and
runs a journey for anyone it can reach: a user it has never seen gets a profile. Here a
recipient is a customer: found by ``user_id`` (the external id), ``anonymousId``, the
profile's e-mail address or its phone number (in that order), and made when none is
found. The request's ``profile`` is the run's, merged over the customer's for this run
(its ``email`` receives the run's e-mails); ``profile.context.tenant_id`` gives the
run's tenant (``TenantProfile``). Then the one trigger service decides, and every way
the invocation cannot run rolls back what it made (a customer among them).
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from customers.errors import Conflict, NotFound, Unprocessable
from customers.models import Customer, Workspace
from customers.services import customer_for_channel, customer_identify
from journeys.entry.core import Outcome
from journeys.entry.selectors import CustomerNotFound
from journeys.entry.service import Audience, TriggerResult, journey_trigger
from journeys.models import Journey

#: Courier's answer when the journey's trigger conditions do not hold.
CONDITIONS_NOT_MET = "Trigger conditions not met"
#: Why an entry rule refused the user, in words.
_REFUSALS = {
    Outcome.ALREADY_ENROLLED: "the user is already in this journey",
    Outcome.RECENTLY_COMPLETED: "the user completed this journey within its re-entry cooldown",
    Outcome.MAX_ENTRIES_REACHED: "the user has completed this journey as often as it allows",
}


@dataclass(frozen=True)
class Recipient:
    """Whom an invocation names: Courier's identifiers and contact information."""

    user_id: str | None = None
    anonymous_id: str | None = None
    email: str | None = None
    phone_number: str | None = None

    @property
    def named(self) -> bool:
        return any((self.user_id, self.anonymous_id, self.email, self.phone_number))


def courier_invoke(
    *,
    workspace: Workspace,
    journey_id: str,
    recipient: Recipient,
    profile: dict[str, Any],
    data: dict[str, Any],
    tenant_id: str | None,
) -> str:
    """Start a run of the live journey ``journey_id`` for ``recipient``; its run id.

    ``NotFound`` for a journey that does not exist or was never published,
    ``Unprocessable`` for one that is archived or paused, for unmet trigger conditions
    and for an entry rule that refuses the user; ``Conflict`` for an inactive user;
    ``InvalidRequest`` for ``data`` that breaks the trigger schema (naming
    ``data.<field>``).
    """

    def trigger(audience: Audience) -> TriggerResult:
        return journey_trigger(
            workspace=workspace,
            journey_id=journey_id,
            audience=audience,
            payload=data,
            profile=profile,
            tenant_id=tenant_id,
            payload_name="data",
        )

    with transaction.atomic():
        try:
            try:
                result = trigger(_known_audience(workspace, recipient))
            except CustomerNotFound:
                customer = _customer_make(workspace, recipient)
                if customer.status != Customer.Status.ACTIVE:
                    raise Conflict(
                        "Cannot invoke a journey for an inactive user", status=customer.status
                    ) from None
                result = trigger(Audience(customer_id=customer.public_id))
        except CustomerNotFound:
            raise  # only the customer just made can be missing, and it is not
        except NotFound:
            raise _journey_not_invocable(workspace, journey_id) from None
        if result.run_id is None:
            raise _refused(result.outcome)
    return result.run_id


def _known_audience(workspace: Workspace, recipient: Recipient) -> Audience:
    """The audience of an existing customer, found by the trigger's own lookup where it
    can (external id, e-mail); by anonymous id or phone number, the customer is found
    (or made) first."""
    if recipient.user_id:
        return Audience(external_id=recipient.user_id)
    if recipient.anonymous_id or (recipient.phone_number and not recipient.email):
        return Audience(customer_id=_customer_make(workspace, recipient).public_id)
    return Audience(email=recipient.email)


def _customer_make(workspace: Workspace, recipient: Recipient) -> Customer:
    """The customer ``recipient`` names, made from its first identifier if there is none
    yet. Only the identifier is stored: the rest of the profile is this run's."""
    if recipient.user_id:
        customer, _ = customer_identify(workspace=workspace, external_id=recipient.user_id)
    elif recipient.anonymous_id:
        customer, _ = customer_identify(workspace=workspace, anonymous_id=recipient.anonymous_id)
    elif recipient.email:
        customer, _ = customer_identify(workspace=workspace, email=recipient.email)
    else:
        customer = customer_for_channel(
            workspace=workspace, channel_type="sms", channel_id=str(recipient.phone_number)
        )
    return customer


def _journey_not_invocable(workspace: Workspace, journey_id: str) -> Exception:
    """Why a journey the trigger did not find cannot be invoked, in Courier's words."""
    status = (
        Journey.objects.filter(workspace=workspace, public_id=journey_id)
        .values_list("status", flat=True)
        .first()
    )
    if status == Journey.Status.ARCHIVED:
        return Unprocessable(f"Cannot invoke archived journey {journey_id}", status=status)
    if status == Journey.Status.PAUSED:
        return Unprocessable(f"Cannot invoke paused journey {journey_id}", status=status)
    return NotFound(f"Journey {journey_id} not found", journey_id=journey_id)


def _refused(outcome: Outcome) -> Unprocessable:
    if outcome == Outcome.CONDITIONS_NOT_MET:
        return Unprocessable(CONDITIONS_NOT_MET, status=outcome.value)
    return Unprocessable(f"Entry rules: {_REFUSALS[outcome]}", status=outcome.value)
