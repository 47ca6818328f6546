"""Journey definitions: normalisation, publish checks, import/export round trip."""

import copy
from typing import Any

import pytest

from customers.errors import InvalidRequest
from journeys.authoring.checks import definition_publish_problems
from journeys.authoring.definition import definition_normalize
from journeys.authoring.documents import definition_from_journey, journey_fields_from_definition
from journeys.models import Journey

EVERY_STEP_TYPE: dict[str, Any] = {
    "name": "Every step type",
    "trigger": {
        "type": "event",
        "event": "Cart Updated",
        "schema": [
            {"name": "cart_id", "type": "string"},
            {"name": "total", "type": "number"},
            {"name": "gift", "type": "boolean"},
            {"name": "trial_ends_at", "type": "datetime"},
        ],
        "conditions": {"field": "event.properties.total", "op": "gt", "value": 0},
    },
    "entry": {
        "allow_reentry": True,
        "max_entries_per_customer": 3,
        "reentry_cooldown_seconds": 3600,
        "restart_active": False,
        "conditions": {"not": {"field": "customer.status", "op": "eq", "value": "inactive"}},
    },
    "cancellation_key": "cart-{{ data.cart_id }}",
    "start": "email",
    "steps": [
        {
            "key": "email",
            "type": "send",
            "channel": "email",
            "transactional": True,
            "subject": "Your cart {{ data.cart_id }}",
            "body": "Hi {{ customer.first_name }}, trial ends {{ trial_ends_at }}",
            "next": "hook",
        },
        {
            "key": "hook",
            "type": "webhook",
            "method": "POST",
            "url": "https://api.example.com/carts/{{ data.cart_id }}",
            "headers": {"Authorization": "Bearer {{ tenant.token }}"},
            "body": {"cart": "{{ data.cart_id }}", "items": [1, "{{ run_id }}"], "gift": True},
            "next": "wait",
        },
        {
            "key": "wait",
            "type": "wait_for_event",
            "event": "Order Completed",
            "condition": {"field": "event.properties.cart_id", "op": "exists"},
            "timeout_seconds": 86400,
            "matched": None,
            "timeout": "until",
        },
        {
            "key": "until",
            "type": "delay",
            "until": "{{ trial_ends_at }}",
            "offset_seconds": -86400,
            "next": "pause",
        },
        {"key": "pause", "type": "delay", "seconds": 0, "next": "vip"},
        {
            "key": "vip",
            "type": "branch",
            "condition": {"field": "customer.plan", "op": "eq", "value": "vip"},
            "yes": "ab",
            "no": "throttle",
        },
        {
            "key": "ab",
            "type": "split",
            "paths": [{"percentage": 50, "next": "sms"}, {"percentage": 50, "next": "whatsapp"}],
        },
        {
            "key": "sms",
            "type": "send",
            "channel": "sms",
            "body": "Still there?",
            "transactional": True,
            "next": None,
        },
        {
            "key": "whatsapp",
            "type": "send",
            "channel": "whatsapp",
            "transactional": True,
            "body": "Cart {{ steps.hook.id }}",
            "next": "push",
        },
        {
            "key": "push",
            "type": "send",
            "channel": "webhook",
            "url": "https://hooks.example.com/push",
            "body": {"text": "Hi {{ profile.first_name }}"},
            "next": None,
        },
        {
            "key": "throttle",
            "type": "throttle",
            "limit": 1,
            "period_seconds": 86400,
            "scope": "customer",
            "next": "mark",
            "throttled": "done",
        },
        {
            "key": "mark",
            "type": "update_customer",
            "set": {"reminded": True, "last_cart": "{{ data.cart_id }}"},
            "next": "again",
        },
        {"key": "again", "type": "repeat", "to": "pause", "times": 2, "next": "done"},
        {"key": "done", "type": "exit"},
    ],
}


def problems_of(document: object) -> list[dict[str, Any]]:
    with pytest.raises(InvalidRequest) as raised:
        definition_normalize(document)
    assert raised.value.message == "journey definition is not valid"
    return raised.value.details["problems"]


def located(problems: list[dict[str, Any]]) -> set[tuple[str | None, str | None]]:
    return {(problem["step"], problem["field"]) for problem in problems}


def with_steps(document: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document["steps"] = list(steps)
    document["start"] = steps[0]["key"] if steps else None
    return document


# --- normalisation --------------------------------------------------------------------


def test_canonical_document_normalizes_to_itself(journey_document):
    assert definition_normalize(journey_document) == journey_document
    assert definition_normalize(EVERY_STEP_TYPE) == EVERY_STEP_TYPE


def test_normalize_fills_every_default_of_a_minimal_document():
    document = {
        "name": "Minimal",
        "steps": [
            {"key": "hello", "type": "send", "channel": "sms", "body": "Hi"},
            {"key": "hook", "type": "webhook", "url": "https://example.com", "method": "post"},
            {"key": "later", "type": "delay", "until": "{{ data.at }}"},
            {"key": "gate", "type": "throttle", "limit": 5, "period_seconds": 60},
            {"key": "wait", "type": "wait_for_event", "event": "Paid", "timeout_seconds": 60},
            {"key": "ab", "type": "split", "paths": [{"percentage": 100}]},
        ],
    }

    canonical = definition_normalize(document)

    assert canonical == {
        "name": "Minimal",
        "trigger": {"type": "api", "event": None, "schema": [], "conditions": None},
        "entry": {
            "allow_reentry": False,
            "max_entries_per_customer": None,
            "reentry_cooldown_seconds": 0,
            "restart_active": True,
            "conditions": None,
        },
        "cancellation_key": None,
        "start": "hello",
        "steps": [
            {"key": "hello", "type": "send", "channel": "sms", "body": "Hi", "next": None},
            {
                "key": "hook",
                "type": "webhook",
                "method": "POST",
                "url": "https://example.com",
                "headers": {},
                "body": None,
                "next": None,
            },
            {
                "key": "later",
                "type": "delay",
                "until": "{{ data.at }}",
                "offset_seconds": 0,
                "next": None,
            },
            {
                "key": "gate",
                "type": "throttle",
                "limit": 5,
                "period_seconds": 60,
                "scope": "customer",
                "next": None,
                "throttled": None,
            },
            {
                "key": "wait",
                "type": "wait_for_event",
                "event": "Paid",
                "condition": None,
                "timeout_seconds": 60,
                "matched": None,
                "timeout": None,
            },
            {"key": "ab", "type": "split", "paths": [{"percentage": 100, "next": None}]},
        ],
    }


def test_normalize_is_idempotent():
    document = {"name": "x", "steps": [{"key": "a", "type": "delay", "seconds": 5}]}

    once = definition_normalize(document)

    assert definition_normalize(once) == once
    assert definition_normalize(definition_normalize(EVERY_STEP_TYPE)) == EVERY_STEP_TYPE


def test_normalize_does_not_modify_its_input():
    document = {"name": "x", "steps": [{"key": "a", "type": "exit"}]}
    before = copy.deepcopy(document)

    definition_normalize(document)

    assert document == before


def test_normalize_turns_empty_strings_and_nulls_of_other_variants_into_canonical_nulls():
    document = {
        "name": "x",
        "trigger": {"type": "api", "event": ""},
        "cancellation_key": "",
        "start": "",
        "steps": [
            {"key": "a", "type": "send", "channel": "sms", "body": "b", "subject": None},
            {"key": "b", "type": "delay", "seconds": 1, "until": None, "offset_seconds": None},
        ],
    }

    canonical = definition_normalize(document)

    assert canonical["trigger"]["event"] is None
    assert canonical["cancellation_key"] is None
    assert canonical["start"] == "a"
    assert canonical["steps"][0] == {
        "key": "a",
        "type": "send",
        "channel": "sms",
        "body": "b",
        "next": None,
    }
    assert canonical["steps"][1] == {"key": "b", "type": "delay", "seconds": 1, "next": None}


@pytest.mark.parametrize("document", [[], "journey", None, 42])
def test_normalize_rejects_a_document_that_is_not_an_object(document):
    problems = problems_of(document)

    assert problems == [
        {"step": None, "field": None, "message": "a journey definition must be a JSON object"}
    ]


def test_normalize_lists_every_structural_problem_at_once():
    document = {
        "trigger": {"type": "sms", "schema": [{"name": "total", "type": "integer"}]},
        "entry": {"allow_reentry": "yes", "max_entries_per_customer": 0},
        "steps": [
            {"key": "a", "type": "send", "channel": "email", "body": "x"},
            {"key": "a", "type": "exit"},
            {"key": "c", "type": "sned"},
            {"key": "d", "type": "delay", "seconds": "soon"},
            {"key": "e", "type": "branch", "yes": 3},
            {"type": "exit"},
        ],
        "colour": "blue",
    }

    problems = problems_of(document)

    assert located(problems) >= {
        (None, "name"),
        (None, "trigger.type"),
        (None, "trigger.schema[0].type"),
        (None, "entry.allow_reentry"),
        (None, "entry.max_entries_per_customer"),
        (None, "colour"),
        ("a", "subject"),
        ("a", "key"),
        ("c", "type"),
        ("d", "seconds"),
        ("e", "condition"),
        ("e", "yes"),
        (None, "steps[5].key"),
    }
    messages = {problem["message"] for problem in problems}
    assert "name is required" in messages
    assert "duplicate step key 'a' (steps[0] and steps[1])" in messages
    assert any("unknown step type 'sned'" in message for message in messages)
    assert "subject is required" in messages


def test_normalize_rejects_steps_that_are_not_a_list():
    assert located(problems_of({"name": "x", "steps": {"a": {}}})) == {(None, "steps")}
    assert located(problems_of({"name": "x"})) == {(None, "steps")}


def test_normalize_rejects_fields_of_another_channel_and_unknown_fields():
    document = {
        "name": "x",
        "steps": [
            {"key": "a", "type": "send", "channel": "sms", "body": "b", "subject": "s"},
            {"key": "b", "type": "exit", "nxt": "a"},
        ],
    }

    problems = problems_of(document)

    assert problems == [
        {"step": "a", "field": "subject", "message": "subject does not apply to the sms channel"},
        {"step": "b", "field": "nxt", "message": "unknown field 'nxt'"},
    ]


def test_normalize_requires_the_fields_of_each_send_channel():
    document = {
        "name": "x",
        "steps": [
            {"key": "mail", "type": "send", "channel": "email"},
            {"key": "text", "type": "send", "channel": "whatsapp"},
            {"key": "hook", "type": "send", "channel": "webhook"},
            {"key": "nope", "type": "send", "channel": "pigeon", "body": "x"},
        ],
    }

    assert located(problems_of(document)) == {
        ("mail", "subject"),
        ("mail", "body"),
        ("text", "body"),
        ("hook", "url"),
        ("nope", "channel"),
    }


def test_delay_takes_seconds_or_until_but_not_both():
    both = {"name": "x", "steps": [{"key": "d", "type": "delay", "seconds": 5, "until": "x"}]}
    neither = {"name": "x", "steps": [{"key": "d", "type": "delay"}]}
    negative = {"name": "x", "steps": [{"key": "d", "type": "delay", "seconds": -1}]}
    offset = {
        "name": "x",
        "steps": [{"key": "d", "type": "delay", "seconds": 5, "offset_seconds": 9}],
    }

    assert located(problems_of(both)) == {("d", "seconds")}
    assert problems_of(neither)[0]["message"] == "seconds is required"
    assert problems_of(negative)[0]["message"] == "seconds must be at least 0"
    assert problems_of(offset)[0]["message"] == "offset_seconds applies only to delays with until"


def test_normalize_checks_trigger_shape():
    document = {
        "name": "x",
        "trigger": {
            "type": "api",
            "event": "Signed Up",
            "schema": [{"name": "a", "type": "string"}, {"name": "a", "type": "number"}, "b"],
            "conditions": "total > 5",
        },
        "steps": [],
    }

    assert located(problems_of(document)) == {
        (None, "trigger.event"),
        (None, "trigger.schema[1].name"),
        (None, "trigger.schema[2]"),
        (None, "trigger.conditions"),
    }


def test_normalize_checks_numbers_and_limits_of_every_step_type():
    document = {
        "name": "x",
        "steps": [
            {"key": "t", "type": "throttle", "limit": 0, "period_seconds": True, "scope": "all"},
            {"key": "r", "type": "repeat", "to": None, "times": 0},
            {"key": "s", "type": "split", "paths": [{"percentage": 101, "next": "t"}]},
            {"key": "u", "type": "update_customer", "set": ["plan"]},
            {"key": "w", "type": "wait_for_event", "event": "", "timeout_seconds": -5},
            {"key": "h", "type": "webhook", "url": "https://x", "method": "TRACE", "headers": []},
            {"key": "bad key!", "type": "exit"},
        ],
    }

    assert located(problems_of(document)) == {
        ("t", "limit"),
        ("t", "period_seconds"),
        ("t", "scope"),
        ("r", "to"),
        ("r", "times"),
        ("s", "paths[0].percentage"),
        ("u", "set"),
        ("w", "event"),
        ("w", "timeout_seconds"),
        ("h", "method"),
        ("h", "headers"),
        ("bad key!", "key"),
    }


# --- publish problems -----------------------------------------------------------------


def test_valid_documents_have_no_publish_problems(journey_document):
    assert definition_publish_problems(journey_document) == ([], [])
    assert definition_publish_problems(EVERY_STEP_TYPE) == ([], [])


def test_a_send_that_is_neither_transactional_nor_of_a_topic_warns_it_is_marketing():
    document = {"name": "x", "steps": [
        {"key": "mail", "type": "send", "channel": "email", "subject": "s", "body": "b",
         "next": "receipt"},
        {"key": "receipt", "type": "send", "channel": "email", "subject": "s", "body": "b",
         "transactional": True, "next": "hook"},
        {"key": "hook", "type": "send", "channel": "webhook", "url": "https://x.test/"},
    ]}  # fmt: skip

    errors, warnings = definition_publish_problems(definition_normalize(document))

    assert errors == []
    assert located(warnings) == {("mail", "transactional")}
    assert "sent as marketing" in warnings[0]["message"]


def test_publish_problems_name_unknown_targets_unreachable_steps_bad_liquid_and_roots(
    journey_document,
):
    document = with_steps(
        journey_document,
        {
            "key": "confirm",
            "type": "send",
            "channel": "email",
            "transactional": True,
            "subject": "Hi {{ custmer.name }}",
            "body": "Order {% if %}",
            "next": "wiat",
        },
        {"key": "orphan", "type": "exit"},
    )

    errors, warnings = definition_publish_problems(document)

    assert located(errors) == {
        ("confirm", "next"),
        ("confirm", "subject"),
        ("confirm", "body"),
        ("orphan", None),
    }
    messages = {(e["step"], e["field"]): e["message"] for e in errors}
    assert messages[("confirm", "next")] == "next points to unknown step 'wiat'"
    assert "not reachable" in messages[("orphan", None)]
    assert messages[("confirm", "body")].startswith("Liquid does not parse")
    assert messages[("confirm", "subject")].startswith("unknown variable 'custmer.name'")
    assert warnings == []


def test_payload_variables_outside_the_schema_only_warn(journey_document):
    document = with_steps(
        journey_document,
        {
            "key": "confirm",
            "type": "send",
            "channel": "email",
            "transactional": True,
            "subject": "{{ api.payload.order_id }} {{ api.properties.total }} {{ order_id }}",
            "body": "{{ data.coupon }} {{ api.payload.gift.name }}",
            "next": None,
        },
    )

    errors, warnings = definition_publish_problems(document)

    assert errors == []
    assert [(w["step"], w["field"]) for w in warnings] == [("confirm", "body")] * 2
    assert {w["message"] for w in warnings} == {
        "api.payload.gift is not declared in the trigger schema; a run whose payload lacks "
        "'gift' fails at this step",
        "data.coupon is not declared in the trigger schema; a run whose payload lacks "
        "'coupon' fails at this step",
    }


def test_an_undeclared_field_with_a_fallback_everywhere_is_no_warning(journey_document):
    document = with_steps(
        journey_document,
        {
            "key": "confirm",
            "type": "send",
            "channel": "email",
            "transactional": True,
            "subject": "{{ data.key1 | default: '-' }} {{ data['key1'] |default:'x' }}",
            "body": "{{ api.payload.gift.name | default: 'a gift' | upcase }} {{ data.coupon }}"
            " {% if data.late %}{{ data.late | default: 1 }}{% endif %}",
            "next": None,
        },
    )

    _, warnings = definition_publish_problems(document)

    # data.late is also read without a fallback (the if): a run without it fails there.
    assert sorted(w["message"].split(" is not")[0] for w in warnings) == [
        "data.coupon",
        "data.late",
    ]


def test_top_level_names_must_be_schema_fields(journey_document):
    document = with_steps(
        journey_document,
        {"key": "a", "type": "send", "channel": "sms", "body": "{{ total }} {{ coupon }}"},
    )

    errors, _ = definition_publish_problems(document)

    assert [(e["step"], e["field"]) for e in errors] == [("a", "body")]
    assert errors[0]["message"].startswith("unknown variable 'coupon'")


def test_locals_and_every_context_root_are_accepted(journey_document):
    body = (
        "{% assign first = customer.first_name %}{{ first }}"
        "{% for item in event.properties.items %}{{ item.sku }}{% endfor %}"
        "{{ profile.x }}{{ tenant.y }}{{ journey.name }}{{ run_id }}{{ api.payload }}{{ data }}"
    )
    document = with_steps(
        journey_document,
        {"key": "a", "type": "send", "channel": "sms", "body": body, "transactional": True},
    )

    assert definition_publish_problems(document) == ([], [])


def test_api_root_has_only_payload_and_properties(journey_document):
    document = with_steps(
        journey_document, {"key": "a", "type": "send", "channel": "sms", "body": "{{ api.body.x }}"}
    )

    errors, _ = definition_publish_problems(document)

    assert (
        errors[0]["message"] == "unknown variable 'api.body.x': api has only payload and properties"
    )


def test_steps_variables_must_name_a_webhook_step(journey_document):
    document = with_steps(
        journey_document,
        {"key": "call", "type": "webhook", "url": "https://example.com", "next": "tell"},
        {
            "key": "tell",
            "type": "send",
            "channel": "sms",
            "transactional": True,
            "body": "{{ steps.call.status }} {{ steps.tell.x }} {{ steps.nope.y }}",
        },
    )

    errors, _ = definition_publish_problems(document)

    assert [e["message"].split(":")[0] for e in errors] == [
        "unknown variable 'steps.nope.y'",
        "unknown variable 'steps.tell.x'",
    ]
    assert {(e["step"], e["field"]) for e in errors} == {("tell", "body")}


def test_liquid_is_checked_in_every_templated_field(journey_document):
    document = with_steps(
        journey_document,
        {
            "key": "call",
            "type": "webhook",
            "url": "https://x/{{ nope1 }}",
            "headers": {"X-Token": "{{ nope2 }}"},
            "body": {"a": ["{{ nope3 }}"]},
            "next": "later",
        },
        {"key": "later", "type": "delay", "until": "{{ nope4 }}", "next": "mark"},
        {"key": "mark", "type": "update_customer", "set": {"plan": "{{ nope5 }}", "n": 1}},
    )
    document["cancellation_key"] = "order-{{ nope6 }}"

    errors, _ = definition_publish_problems(document)

    assert located(errors) == {
        ("call", "url"),
        ("call", "headers.X-Token"),
        ("call", "body.a[0]"),
        ("later", "until"),
        ("mark", "set.plan"),
        (None, "cancellation_key"),
    }


def test_invalid_conditions_are_publish_errors_located_in_the_condition(journey_document):
    document = copy.deepcopy(journey_document)
    document["steps"][2]["condition"] = {"all": [{"field": "customer.plan", "op": "equals"}]}
    document["trigger"]["conditions"] = {"any": []}
    document["entry"]["conditions"] = {"field": "custmer.plan", "op": "exists"}

    errors, _ = definition_publish_problems(document)

    assert located(errors) == {
        ("vip", "condition.all[0].op"),
        (None, "trigger.conditions.any"),
        (None, "entry.conditions.field"),
    }


def test_split_percentages_must_add_up_to_100(journey_document):
    document = with_steps(
        journey_document,
        {
            "key": "ab",
            "type": "split",
            "paths": [{"percentage": 60, "next": None}, {"percentage": 30, "next": None}],
        },
    )

    errors, _ = definition_publish_problems(document)

    assert errors == [
        {
            "step": "ab",
            "field": "paths",
            "message": "split percentages must add up to 100 (they add up to 90)",
        }
    ]


def test_event_trigger_needs_an_event_name(journey_document):
    document = copy.deepcopy(journey_document)
    document["trigger"]["type"] = "event"

    errors, _ = definition_publish_problems(document)

    assert located(errors) == {(None, "trigger.event")}


def test_a_journey_without_steps_cannot_be_published(journey_document):
    errors, _ = definition_publish_problems(with_steps(journey_document))

    assert located(errors) == {(None, "steps")}


def test_unknown_start_step_is_an_error(journey_document):
    document = copy.deepcopy(journey_document)
    document["start"] = "nowhere"

    errors, _ = definition_publish_problems(document)

    assert (None, "start") in located(errors)


def test_loops_without_a_pause_are_errors_but_delays_and_repeats_bound_them(journey_document):
    busy = with_steps(
        journey_document,
        {"key": "a", "type": "send", "channel": "sms", "body": "x", "topic": "tips", "next": "b"},
        {
            "key": "b",
            "type": "branch",
            "condition": {"field": "customer.x", "op": "exists"},
            "yes": "a",
            "no": None,
        },
    )
    paused = copy.deepcopy(busy)
    paused["steps"][1]["yes"] = "nap"
    paused["steps"].append({"key": "nap", "type": "delay", "seconds": 60, "next": "a"})
    repeated = copy.deepcopy(busy)
    repeated["steps"][1]["yes"] = "again"
    repeated["steps"].append({"key": "again", "type": "repeat", "to": "a", "times": 3})

    errors, _ = definition_publish_problems(busy)

    assert errors == [
        {
            "step": "a",
            "field": None,
            "message": "steps loop without waiting (a -> b -> a); put a delay, wait_for_event "
            "or repeat step in the loop",
        }
    ]
    assert definition_publish_problems(paused) == ([], [])
    assert definition_publish_problems(repeated) == ([], [])


def test_static_webhook_urls_must_be_http(journey_document):
    document = with_steps(
        journey_document, {"key": "h", "type": "webhook", "url": "file:///etc/passwd"}
    )

    errors, _ = definition_publish_problems(document)

    assert errors == [
        {"step": "h", "field": "url", "message": "url must be an http:// or https:// URL"}
    ]


def test_schema_fields_shadowed_by_a_root_warn(journey_document):
    document = copy.deepcopy(journey_document)
    document["trigger"]["schema"].append({"name": "customer", "type": "string"})

    errors, warnings = definition_publish_problems(document)

    assert errors == []
    assert located(warnings) == {(None, "trigger.schema[2].name")}


def test_publish_problems_of_a_structurally_invalid_document_raise():
    with pytest.raises(InvalidRequest):
        definition_publish_problems({"name": "x", "steps": "none"})


# --- import / export ------------------------------------------------------------------


def test_journey_fields_map_the_document_onto_the_model_columns(journey_document):
    journey_document["cancellation_key"] = "order-{{ data.order_id }}"

    fields = journey_fields_from_definition(journey_document)

    assert fields == {
        "name": "Order confirmation",
        "trigger_type": "api",
        "trigger_event": "",
        "trigger_schema": journey_document["trigger"]["schema"],
        "trigger_conditions": None,
        "trigger_options": {},
        "allow_reentry": False,
        "max_entries_per_customer": None,
        "reentry_cooldown_seconds": 0,
        "restart_active": True,
        "entry_conditions": None,
        "cancellation_key": "order-{{ data.order_id }}",
        "controls": {},
        "start_step": "confirm",
        "steps": journey_document["steps"],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("document", ["fixture", EVERY_STEP_TYPE], ids=["small", "every-step"])
def test_definition_round_trips_through_the_database_unchanged(
    workspace, journey_document, document
):
    if document == "fixture":
        document = journey_document
    journey = Journey.objects.create(
        workspace=workspace, **journey_fields_from_definition(copy.deepcopy(document))
    )

    # Read back from PostgreSQL: jsonb reorders keys, so compare as dicts.
    exported = definition_from_journey(Journey.objects.get(pk=journey.pk))

    assert exported == document
    assert definition_normalize(exported) == exported


WEBHOOK_TRIGGER = {
    "type": "webhook",
    "event": None,
    "schema": [],
    "conditions": None,
    "identify": {"email": "data.object.customer_email"},
    "signature": "stripe",
    "create_customers": False,
}


@pytest.mark.django_db
def test_a_webhook_trigger_round_trips_and_other_triggers_stay_as_they_were(
    workspace, journey_document
):
    journey_document["trigger"] = dict(WEBHOOK_TRIGGER)
    journey = Journey.objects.create(
        workspace=workspace, **journey_fields_from_definition(copy.deepcopy(journey_document))
    )

    exported = definition_from_journey(Journey.objects.get(pk=journey.pk))

    assert exported == journey_document
    assert journey.webhook_token  # its secret URL, made with it
    assert definition_normalize({"name": "x", "steps": [], "trigger": {"type": "webhook"}})[
        "trigger"
    ] == {**WEBHOOK_TRIGGER, "identify": None, "signature": None, "create_customers": True}


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"type": "webhook", "identify": {"phone": "data.p"}}, "'phone' is not an identifier"),
        (
            {"type": "webhook", "identify": {"email": "object.email"}},
            "trigger.identify.email must be a path in the body such as",
        ),
        (
            {"type": "webhook", "identify": {"email": "data.a", "external_id": "data.b"}},
            "trigger.identify must name one identifier",
        ),
        ({"type": "webhook", "signature": "hmac"}, "trigger.signature must be standard, stripe"),
        ({"type": "webhook", "create_customers": "yes"}, "trigger.create_customers must be true"),
        ({"type": "api", "identify": {"email": "data.e"}}, "trigger.identify applies only to"),
        ({"type": "webhook", "event": "Paid"}, "trigger.event applies only to event triggers"),
    ],
)
def test_a_webhook_triggers_fields_are_checked(trigger, message):
    with pytest.raises(InvalidRequest) as raised:
        definition_normalize({"name": "x", "steps": [], "trigger": trigger})

    assert any(message in problem["message"] for problem in raised.value.details["problems"])


def test_publishing_a_webhook_trigger_needs_to_know_who_the_body_names(journey_document):
    journey_document["trigger"] = {"type": "webhook"}

    errors, _ = definition_publish_problems(journey_document)

    assert [e["field"] for e in errors] == ["trigger.identify"]


@pytest.mark.parametrize(
    ("path", "condition", "unknown"),
    [
        ("trigger", {"field": "customer.plan", "op": "eq", "value": "vip"}, "customer.plan"),
        ("entry", {"field": "event.properties.x", "op": "exists"}, "event.properties.x"),
        ("entry", {"field": "steps.call.ok", "op": "eq", "value": True}, "steps.call.ok"),
        ("trigger", {"field": "profile.plan", "op": "eq", "value": "vip"}, "profile.plan"),
    ],
)
def test_conditions_checked_at_entry_may_only_read_what_entry_knows(
    journey_document, path, condition, unknown
):
    document = copy.deepcopy(journey_document)
    document[path]["conditions"] = condition

    errors, _ = definition_publish_problems(document)

    assert [e["field"] for e in errors] == [f"{path}.conditions.field"]
    assert errors[0]["message"].startswith(f"{unknown!r} is not known when {path}.conditions")


def test_entry_conditions_may_read_customer_payload_and_schema_fields(journey_document):
    document = copy.deepcopy(journey_document)
    document["entry"]["conditions"] = {
        "all": [
            {"field": "customer.plan", "op": "eq", "value": "vip"},
            {"field": "api.payload.order_id", "op": "exists"},
            {"field": "data.order_id", "op": "exists"},
            {"field": "order_id", "op": "exists"},
        ]
    }

    assert definition_publish_problems(document)[0] == []


def test_a_schema_field_may_be_required_and_only_true_is_written():
    document = copy.deepcopy(EVERY_STEP_TYPE)
    document["trigger"]["schema"] = [
        {"name": "plan", "type": "string", "required": True},
        {"name": "total", "type": "number", "required": False},
    ]

    schema = definition_normalize(document)["trigger"]["schema"]

    assert schema == [
        {"name": "plan", "type": "string", "required": True},
        {"name": "total", "type": "number"},
    ]


@pytest.mark.parametrize("value", [1, "yes", [], {}])
def test_a_schema_fields_required_flag_must_be_a_boolean(value):
    document = copy.deepcopy(EVERY_STEP_TYPE)
    document["trigger"]["schema"] = [{"name": "plan", "type": "string", "required": value}]

    messages = [problem["message"] for problem in problems_of(document)]

    assert "trigger.schema[0].required must be true or false" in messages


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"type": "delay", "seconds": 10**12, "next": None}, "seconds"),
        ({"type": "delay", "until": "{{ data.at }}", "offset_seconds": -(10**12), "next": None},
         "offset_seconds"),
        ({"type": "wait_for_event", "event": "e", "timeout_seconds": 10**12, "matched": None,
          "timeout": None}, "timeout_seconds"),
        ({"type": "throttle", "limit": 10**12, "period_seconds": 60, "next": None,
          "throttled": None}, "limit"),
    ],
)  # fmt: skip
def test_durations_and_counts_have_a_ceiling(step, field):
    document = {"name": "x", "steps": [{"key": "s", **step}]}

    problems = problems_of(document)

    assert located(problems) == {("s", field)}
    assert "must be" in problems[0]["message"]


def test_a_delay_of_years_is_still_allowed():
    ten_years = 10 * 365 * 86400
    document = {"name": "x", "steps": [{"key": "d", "type": "delay", "seconds": ten_years}]}

    assert definition_normalize(document)["steps"][0]["seconds"] == ten_years


def test_entry_rules_have_a_ceiling_too():
    document = {"name": "x", "entry": {"reentry_cooldown_seconds": 10**12}, "steps": []}

    assert problems_of(document)[0]["message"] == (
        "entry.reentry_cooldown_seconds must be at most 1,576,800,000"
    )


def test_a_step_key_ending_in_a_newline_is_refused():
    document = copy.deepcopy(EVERY_STEP_TYPE)
    document["steps"][0]["key"] = "email\n"

    assert ("email\n", "key") in located(problems_of(document))


@pytest.mark.parametrize(
    ("method", "accepted"), [("post", True), ("Put", True), ("po\u017ft", False)]
)
def test_a_webhook_method_is_read_in_any_ascii_case_only(method, accepted):
    document = copy.deepcopy(EVERY_STEP_TYPE)
    document["steps"][1]["method"] = method

    if accepted:
        assert definition_normalize(document)["steps"][1]["method"] == method.upper()
    else:
        assert ("hook", "method") in located(problems_of(document))


def test_the_definition_schema_documents_every_field_of_every_step():
    from journeys.authoring.definition import DELAY_FIELDS, SEND_FIELDS, STEP_FIELDS
    from journeys.authoring.definition_schema import step_json_schema

    documented = {}
    for branch in step_json_schema()["oneOf"]:
        step_type = branch["properties"]["type"]["enum"][0]
        documented.setdefault(step_type, set()).update(branch["properties"])

    tables = {"send": SEND_FIELDS, "delay": DELAY_FIELDS}
    for step_type, variants in tables.items():
        fields = {field.name for fields in variants.values() for field in fields}
        assert fields <= documented[step_type], step_type
    for step_type, fields in STEP_FIELDS.items():
        assert {field.name for field in fields} <= documented[step_type], step_type
    assert documented["split"] == {"key", "type", "paths"}


# --- messaging and controls -------------------------------------------------------------


CONTROLLED = {
    "name": "Controlled",
    "sender": {"name": "Acme", "email": "hello@acme.test"},
    "send_window": {"days": ["fri", "mon"], "start": "09:00", "end": "17:30"},
    "exit": {"events": [{"event": "Order Completed"}]},
    "goal": {"event": "Upgraded", "within_seconds": 604800},
    "steps": [
        {"key": "mail", "type": "send", "channel": "email", "subject": "Hi",
         "html": "<p>Hi {{ customer.first_name }}</p>", "topic": "news", "next": "sms"},
        {"key": "sms", "type": "send", "channel": "sms", "body": "Your code",
         "transactional": True, "send_window": {"start": "08:00", "end": "24:00",
                                                "outside": "skip"}},
    ],
}  # fmt: skip


def test_controls_normalise_to_their_canonical_form_and_only_when_set():
    canonical = definition_normalize(CONTROLLED)

    assert canonical["send_window"] == {
        "days": ["mon", "fri"], "start": "09:00", "end": "17:30", "outside": "wait"
    }  # fmt: skip
    assert canonical["exit"] == {"events": [{"event": "Order Completed", "condition": None}],
                                 "segment_id": None}  # fmt: skip
    assert canonical["goal"] == {"event": "Upgraded", "condition": None, "within_seconds": 604800}
    mail, sms = canonical["steps"]
    assert "body" not in mail and "transactional" not in mail and mail["topic"] == "news"
    assert sms["transactional"] is True and sms["send_window"]["days"][0] == "mon"
    assert definition_normalize(canonical) == canonical
    assert definition_publish_problems(canonical)[0] == []
    # A document without controls gains none of their keys.
    plain = definition_normalize({"name": "x", "steps": [dict(mail, topic=None)]})
    assert set(plain) == {"name", "trigger", "entry", "cancellation_key", "start", "steps"}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"sender": {"email": "not an address"}}, (None, "sender")),
        ({"sender": {"email": "a@b.test", "name": "two\nlines"}}, (None, "sender")),
        ({"send_window": {"start": "17:00", "end": "09:00"}}, (None, "send_window")),
        ({"send_window": {"start": "9:00", "end": "17:00"}}, (None, "send_window")),
        ({"send_window": {"days": ["monday"], "start": "09:00", "end": "17:00"}},
         (None, "send_window")),
        ({"send_window": {"start": "09:00", "end": "17:00", "outside": "drop"}},
         (None, "send_window")),
        ({"exit": {"events": [{"condition": None}]}}, (None, "exit.events[0].event")),
        ({"exit": {"segment_id": 5}}, (None, "exit.segment_id")),
        ({"goal": {"event": "x", "within_seconds": 0}}, (None, "goal.within_seconds")),
        ({"goal": "Upgraded"}, (None, "goal")),
    ],
)  # fmt: skip
def test_bad_controls_are_located(change, where):
    document = {**copy.deepcopy(CONTROLLED), **change}

    assert where in located(problems_of(document))


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"body": None, "html": None}, ("mail", "body")),
        ({"topic": "all"}, ("mail", "topic")),
        ({"topic": "News"}, ("mail", "topic")),
        ({"transactional": True}, ("mail", "topic")),
        ({"transactional": "yes", "topic": None}, ("mail", "transactional")),
    ],
)
def test_bad_send_controls_are_located(fields, where):
    document = copy.deepcopy(CONTROLLED)
    document["steps"][0].update(fields)

    assert where in located(problems_of(document))


def test_exit_and_goal_conditions_are_checked_at_publish():
    document = copy.deepcopy(CONTROLLED)
    document["goal"]["condition"] = {"field": "event.properties.plan", "op": "between"}

    errors, _ = definition_publish_problems(definition_normalize(document))

    assert {problem["field"] for problem in errors} == {"goal.condition.op"}
