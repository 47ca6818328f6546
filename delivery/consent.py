"""Consent: a workspace's subscription topics, its customers' choices, unsubscribe links.

Every marketing message names a topic (or none: the workspace's marketing in general)
and reaches a customer only while they are subscribed to it (:mod:`delivery.send_gate`
decides). A customer's choice for a topic is a :class:`Subscription` row; without one,
the topic's default applies (opt-out topics reach everyone, opt-in topics nobody). The
pseudo-topic ``all`` stands for every marketing message: unsubscribed from ``all``,
a customer receives transactional messages only.

Unsubscribe links (``List-Unsubscribe``, RFC 8058) carry a signed token naming the
message they came with: the link needs no login, cannot be forged for another
customer, and unsubscribes from that message's topic.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from customers.errors import Conflict, InvalidRequest, NotFound
from customers.models import Customer, Workspace
from customers.problems import problem_entry
from delivery.models import ALL_TOPICS, TOPIC_KEY_PATTERN, Message, Subscription, Topic

TOPIC_KEY_MAX_LENGTH = 100
MAX_TOPICS_PER_WORKSPACE = 200

_SIGNER = signing.Signer(salt="delivery.unsubscribe")


# --- topics -------------------------------------------------------------------------------


def topic_list(*, workspace: Workspace) -> list[Topic]:
    return list(Topic.objects.filter(workspace=workspace).order_by("key"))


def topic_key_problem(key: object) -> str | None:
    """Why ``key`` cannot be a topic's key, or None."""
    if not isinstance(key, str) or not TOPIC_KEY_PATTERN.fullmatch(key):
        return (
            "must be a topic key: lower-case letters, digits, '_', '.' or '-' "
            f"(at most {TOPIC_KEY_MAX_LENGTH} characters)"
        )
    if key == ALL_TOPICS:
        return f"{key!r} is reserved (it means every marketing message)"
    return None


@transaction.atomic
def topic_create(
    *, workspace: Workspace, key: str, name: str, default_subscribed: bool = True
) -> Topic:
    """A new topic; its key is what send steps name (``"topic": "newsletter"``)."""
    problem = topic_key_problem(key)
    if problem:
        raise InvalidRequest(
            f"key {problem}", problems=[problem_entry(f"key {problem}", field="key")]
        )
    # Serialise creations per workspace: the count below and the insert are one decision.
    Workspace.objects.select_for_update(no_key=True).filter(pk=workspace.pk).first()
    if Topic.objects.filter(workspace=workspace, key=key).exists():
        raise Conflict(f"a topic {key!r} exists already")
    if Topic.objects.filter(workspace=workspace).count() >= MAX_TOPICS_PER_WORKSPACE:
        raise Conflict(f"a workspace has at most {MAX_TOPICS_PER_WORKSPACE} topics")
    return Topic.objects.create(
        workspace=workspace, key=key, name=name, default_subscribed=default_subscribed
    )


# --- subscriptions ----------------------------------------------------------------------


def subscriptions_of(*, customer: Customer) -> dict[str, bool]:
    """The customer's choice for ``all`` and for every topic of the workspace: their
    own where they made one, else the topic's default."""
    chosen = dict(Subscription.objects.filter(customer=customer).values_list("topic", "subscribed"))
    answer = {ALL_TOPICS: chosen.get("", True)}
    for key, default in Topic.objects.filter(workspace_id=customer.workspace_id).values_list(
        "key", "default_subscribed"
    ):
        answer[key] = chosen.get(key, default)
    return dict(sorted(answer.items()))


@transaction.atomic
def subscriptions_update(
    *, customer: Customer, changes: Mapping[str, Any], source: str = "api"
) -> dict[str, bool]:
    """Set the customer's choice for each topic named (``all`` included): all or
    nothing, refused as a whole if a topic is unknown or a value is not a boolean."""
    if not isinstance(changes, Mapping):
        raise InvalidRequest('expected an object of topic to true or false, e.g. {"news": false}')
    if len(changes) > MAX_TOPICS_PER_WORKSPACE + 1:
        raise InvalidRequest(
            f"at most {MAX_TOPICS_PER_WORKSPACE + 1} topics at once (a workspace has at most "
            f"{MAX_TOPICS_PER_WORKSPACE}, and all)"
        )
    known = set(
        Topic.objects.filter(workspace_id=customer.workspace_id, key__in=list(changes)).values_list(
            "key", flat=True
        )
    )
    problems = []
    for key, value in changes.items():
        if key != ALL_TOPICS and key not in known:
            problems.append(problem_entry(f"no topic {key!r} in this workspace", field=key))
        elif not isinstance(value, bool):
            problems.append(problem_entry(f"{key}: must be true or false", field=key))
    if problems:
        raise InvalidRequest(problems[0]["message"], problems=problems)
    _choices_write(
        customer,
        {("" if key == ALL_TOPICS else key): value for key, value in changes.items()},
        source,
    )
    return subscriptions_of(customer=customer)


def _choices_write(customer: Customer, choices: Mapping[str, bool], source: str) -> None:
    Subscription.objects.bulk_create(
        [
            Subscription(
                workspace_id=customer.workspace_id,
                customer=customer,
                topic=topic,
                subscribed=subscribed,
                source=source,
            )
            for topic, subscribed in choices.items()
        ],
        update_conflicts=True,
        unique_fields=["customer", "topic"],
        update_fields=["subscribed", "source", "updated_at"],
    )


# --- unsubscribe links ---------------------------------------------------------------------


def unsubscribe_token(message_public_id: str) -> str:
    """The signed token of a message's unsubscribe link."""
    return _SIGNER.sign(message_public_id)


def unsubscribe_url(message_public_id: str) -> str:
    """The link in a marketing message's ``List-Unsubscribe`` header (and its
    ``{{ unsubscribe_url }}``)."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/u/{unsubscribe_token(message_public_id)}"


def unsubscribe_message(token: str) -> Message:
    """The message an unsubscribe token was made for; NotFound for a forged, mangled or
    stale token (the message was erased with its customer)."""
    try:
        public_id = _SIGNER.unsign(token)
    except signing.BadSignature as error:
        raise NotFound("this unsubscribe link is not valid") from error
    message = (
        Message.objects.select_related("customer", "workspace").filter(public_id=public_id).first()
    )
    if message is None:
        raise NotFound("this unsubscribe link is no longer valid")
    return message


@transaction.atomic
def unsubscribe(*, token: str, everything: bool = False) -> Message:
    """Unsubscribe the customer a link was sent to from that message's topic (or, with
    ``everything``, from all marketing). Idempotent: a second click changes nothing."""
    message = unsubscribe_message(token)
    topic = "" if everything else message.topic
    _choices_write(message.customer, {topic: False}, "unsubscribe_link")
    Message.objects.filter(pk=message.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=timezone.now()
    )
    return message


def topic_names(*, workspace_id: int, keys: Iterable[str]) -> dict[str, str]:
    return dict(
        Topic.objects.filter(workspace_id=workspace_id, key__in=list(keys)).values_list(
            "key", "name"
        )
    )
