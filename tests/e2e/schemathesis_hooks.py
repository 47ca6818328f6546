"""Schemathesis hooks (schemathesis.toml): what the schema cannot say, said here.

Two kinds, both narrow:

- A positive trigger names the workspace's segment in ``segment_ids`` (an unknown one
  fails the whole trigger, the seed's 400 "Error resolving segments"), and a positive
  trigger of any kind (native, Spotzee, enroll, Sprinklr) gets an ``Idempotency-Key``
  of its own (a key reused with another body is the documented 422). The enroll API
  names the workspace's list in ``list_email_addresses`` (an unknown one is the seed's
  422), and Sprinklr's trigger, given the customer's address as ``snId``, says it is an
  ``EMAIL`` one. Other ids that exist are set in the config file.
- A valid-looking request refused for a rule OpenAPI 3.0 cannot state is not a
  failure, provided the answer names that rule and nothing else: unique step keys,
  unique schema field names, header and attribute names that are not blank (OpenAPI
  3.0 has no ``propertyNames``), a subscription to a topic the workspace does not
  have, rules across fields (a send window's end after its start, an e-mail's text or
  HTML body, a transactional send without a topic), and publishing a draft whose
  content does not pass the publish checks. The schema says so in words. Likewise a
  webhook trigger's body that lacks the customer where the journey's
  ``trigger.identify`` looks (a 422).
"""

import itertools
import os

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

#: Publishing answers 400 with this error when the draft's *meaning* is wrong (a next
#: that names no step, Liquid that does not parse): a property of the stored draft, which
#: a request without a body cannot be valid or invalid about.
UNPUBLISHABLE = "journey cannot be published"
#: Problems of a journey definition that JSON Schema (OpenAPI 3.0) cannot express.
UNSTATABLE_PROBLEMS = (
    "duplicate step key",
    "duplicate schema field",
    "header names must not be empty",
    "attribute names must not be empty",
    # Subscriptions are by the workspace's own topics, which no schema can list.
    "no topic ",
    # Rules across a send window's or a send step's fields.
    "end must be later than start",
    "body or html is required",
    "a transactional message belongs to no topic",
    # An address Django's validator takes is narrower than JSON Schema's format: email
    # (it wants a top-level domain of two letters or more, e.g. "0@0.a" is refused).
    "email must be an e-mail address",
)


#: A webhook trigger's answer to a body without the customer where the journey says.
WEBHOOK_NAMES_NOBODY = "the body names no customer"

_KEY_NUMBERS = itertools.count(1)
#: Operations that take an ``Idempotency-Key``: each positive call gets a key of its own.
TRIGGERS = (
    "journey_trigger",
    "spotzee_journey_trigger",
    "courier_journeys_invoke",
    "courier_journeys_cancel",
    "enroll_journey",
    "sprinklr_trigger",
    "sprinklr_trigger_with_new_profile",
)


def _is_positive(case: schemathesis.Case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def _operation_id(context: schemathesis.HookContext) -> str | None:
    return context.operation.definition.raw.get("operationId") if context.operation else None


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    operation_id = _operation_id(context)
    if operation_id not in TRIGGERS or not _is_positive(case):
        return case
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"schemathesis-{next(_KEY_NUMBERS)}"
    if not isinstance(case.body, dict):
        return case
    if operation_id == "journey_trigger":
        for name in ("segment_ids", "segmentIds"):
            if case.body.get(name):
                case.body[name] = [os.environ["ST_SEGMENT_ID"]]
    elif operation_id == "enroll_journey" and case.body.get("list_email_addresses"):
        case.body["list_email_addresses"] = [os.environ["ST_LIST_EMAIL"]]
    elif operation_id == "sprinklr_trigger" and case.body.get("snId") == os.environ["ST_EMAIL"]:
        case.body["snType"] = "EMAIL"
    return case


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except a positive request refused only for unstatable rules."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code not in (400, 422):
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    if response.status_code == 422:
        # A webhook body is any JSON object; where it names the customer is the
        # journey's own setting (trigger.identify), which no schema of the URL states.
        return not (
            _operation_id(context) == "webhook_trigger"
            and str(body.get("error", "")).startswith(WEBHOOK_NAMES_NOBODY)
        )
    if _operation_id(context) == "journeys_publish" and body.get("error") == UNPUBLISHABLE:
        return False
    messages = [problem.get("message", "") for problem in body.get("problems") or []]
    unstatable = [m for m in messages if any(rule in m for rule in UNSTATABLE_PROBLEMS)]
    return not (messages and len(unstatable) == len(messages))
