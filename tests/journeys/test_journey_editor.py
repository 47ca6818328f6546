"""The journey editor's forms: every canonical document reads into the editor's shape and
back unchanged, and the editor's shape reads the way a marketer writes it."""

import copy
import json

import pytest

from journeys.admin.editor import (
    END_MARK,
    condition_from_editor,
    condition_to_editor,
    controls_from_editor,
    controls_to_editor,
    steps_from_editor,
    steps_to_editor,
    trigger_schema_from_editor,
    trigger_schema_to_editor,
)
from journeys.authoring.definition import definition_normalize
from journeys.models import Journey

EVERY_FORM_STEP = [
    {"key": "welcome", "type": "send", "channel": "email", "subject": "Hi {{ data.name }}",
     "html": "<p>Hi</p>", "topic": "news", "next": "wait"},
    {"key": "wait", "type": "delay", "seconds": 2 * 86400, "next": "plan"},
    {"key": "plan", "type": "branch",
     "condition": {"all": [{"field": "data.plan", "op": "eq", "value": "pro"},
                           {"field": "data.total", "op": "gt", "value": 100},
                           {"field": "data.vip", "op": "eq", "value": True},
                           {"field": "data.tags", "op": "in", "value": ["a", "b"]},
                           {"field": "event.properties.cart", "op": "eq",
                            "value_from": "data.cart"},
                           {"field": "customer.email", "op": "exists"}]},
     "yes": "sms", "no": None},
    {"key": "sms", "type": "send", "channel": "sms", "body": "Thanks", "transactional": True,
     "next": "until"},
    {"key": "until", "type": "delay", "until": "{{ data.ends_at }}", "offset_seconds": -3600,
     "next": "split"},
    {"key": "split", "type": "split",
     "paths": [{"percentage": 50, "next": "hook"}, {"percentage": 50, "next": None}]},
    {"key": "hook", "type": "webhook", "method": "POST", "url": "https://x.test/{{ run_id }}",
     "headers": {"Authorization": "Bearer {{ tenant.token }}"}, "body": {"run": "{{ run_id }}"},
     "next": "ping"},
    {"key": "ping", "type": "send", "channel": "webhook", "url": "https://x.test/ping",
     "body": "plain {{ run_id }}", "next": "tag"},
    {"key": "tag", "type": "update_customer", "set": {"vip": True, "tier": "gold", "n": 3},
     "next": "waitopen"},
    {"key": "waitopen", "type": "wait_for_event", "event": "email.opened",
     "condition": {"field": "event.properties.step", "op": "eq", "value": "welcome"},
     "timeout_seconds": 3 * 3600, "matched": "cap", "timeout": "done"},
    {"key": "cap", "type": "throttle", "limit": 5, "period_seconds": 60, "scope": "journey",
     "next": "again", "throttled": None},
    {"key": "again", "type": "repeat", "to": "wait", "times": 2, "next": "done"},
    {"key": "done", "type": "exit"},
]  # fmt: skip


def canonical_steps(steps):
    return definition_normalize({"name": "x", "steps": steps})["steps"]


def test_every_step_form_reads_back_into_the_same_canonical_steps():
    steps = canonical_steps(EVERY_FORM_STEP)

    rows = steps_to_editor(copy.deepcopy(steps))

    assert rows is not None
    assert canonical_steps(steps_from_editor(json.loads(json.dumps(rows)))) == steps


def test_a_next_step_left_empty_is_the_step_below_and_end_ends_the_run():
    rows = [
        {"kind": "email", "key": "a", "subject": "s", "body": "b", "next": ""},
        {"kind": "delay", "key": "b", "wait": {"amount": 90, "unit": "minutes"}, "next": END_MARK},
        {"kind": "sms", "key": "c", "body": "x", "next": ""},
    ]

    steps = canonical_steps(steps_from_editor(rows))

    assert [(step["key"], step["next"]) for step in steps] == [("a", "b"), ("b", None), ("c", None)]
    assert steps[1]["seconds"] == 5400
    assert steps_to_editor(steps)[0]["next"] == "" and steps_to_editor(steps)[2]["next"] == ""


def test_conditions_keep_their_value_types_and_none_is_no_rules():
    condition = {"any": [{"field": "data.code", "op": "eq", "value": "0042"},
                         {"field": "data.total", "op": "gte", "value": 9.5}]}  # fmt: skip

    editor = condition_to_editor(condition)

    assert editor["match"] == "any"
    assert [rule["value_type"] for rule in editor["rules"]] == ["text", "number"]
    assert condition_from_editor(json.loads(json.dumps(editor))) == condition
    assert condition_from_editor(condition_to_editor(None)) is None


def test_nested_groups_have_no_form_and_stay_json():
    nested = {"all": [{"any": [{"field": "data.a", "op": "exists"}]}]}

    assert condition_to_editor(nested) is None
    assert condition_from_editor(nested) == nested  # JSON typed into the advanced view


def test_trigger_fields_and_controls_read_back_unchanged():
    schema = [{"name": "plan", "type": "string", "required": True},
              {"name": "total", "type": "number"}]  # fmt: skip
    controls = {
        "sender": {"name": "Acme", "email": "hello@acme.test"},
        "send_window": {"days": ["mon", "fri"], "start": "09:00", "end": "17:00",
                        "outside": "skip"},
        "exit": {"events": [{"event": "Order Completed",
                             "condition": {"field": "event.properties.cart", "op": "eq",
                                           "value_from": "data.cart"}},
                            {"event": "Unsubscribed"}],
                 "segment_id": "seg_1"},
        "goal": {"event": "Upgraded", "within_seconds": 604800,
                 "condition": {"field": "event.properties.plan", "op": "eq", "value": "pro"}},
    }  # fmt: skip

    assert trigger_schema_from_editor(trigger_schema_to_editor(schema)) == schema
    document = {"name": "x", "steps": [], **controls_from_editor(controls_to_editor(controls))}
    assert {key: definition_normalize(document)[key] for key in controls} == (
        {key: definition_normalize({"name": "x", "steps": [], **controls})[key] for key in controls}
    )


@pytest.mark.django_db
def test_a_marketer_saves_a_journey_written_in_the_forms(admin_client, workspace):
    rows = [
        {"kind": "email", "key": "welcome", "subject": "Welcome", "body": "Hi", "html": "",
         "topic": "", "transactional": True, "next": ""},
        {"kind": "delay", "key": "wait", "wait": {"amount": 1, "unit": "days"}, "next": ""},
        {"kind": "branch", "key": "plan", "yes": "pro", "no": "",
         "condition": {"match": "all", "rules": [{"field": "data.plan", "op": "eq",
                       "value": "pro", "value_type": "text", "value_from": ""}]}},
        {"kind": "email", "key": "pro", "subject": "Pro tips", "body": "Tips", "html": "",
         "topic": "", "transactional": False, "next": ""},
    ]  # fmt: skip
    form = {
        "workspace": workspace.pk, "name": "Welcome series", "trigger_type": "api",
        "trigger_event": "", "trigger_options": "{}", "max_entries_per_customer": "",
        "reentry_cooldown_seconds": "0", "restart_active": "on", "cancellation_key": "",
        "start_step": "",
        "trigger_schema": json.dumps([{"name": "plan", "type": "string", "required": True}]),
        "trigger_conditions": json.dumps({"match": "all", "rules": []}),
        "entry_conditions": json.dumps({"match": "all", "rules": []}),
        "controls": json.dumps(controls_to_editor({})),
        "steps": json.dumps(rows),
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    }  # fmt: skip

    response = admin_client.post("/admin/journeys/journey/add/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    journey = Journey.objects.get(name="Welcome series")
    assert [(s["key"], s.get("next", s.get("yes"))) for s in journey.steps] == [
        ("welcome", "wait"),
        ("wait", "plan"),
        ("plan", "pro"),
        ("pro", None),
    ]
    assert journey.steps[1]["seconds"] == 86400
    assert journey.trigger_schema == [{"name": "plan", "type": "string", "required": True}]
    assert journey.trigger_conditions is None and journey.controls == {}
    page = admin_client.get(f"/admin/journeys/journey/{journey.pk}/change/").content.decode()
    assert "jsonform" in page
    assert "Steps: welcome, wait, plan, pro." in page  # every "go to" names the keys


@pytest.mark.parametrize(
    "options",
    [
        {"identify": {"email": "data.object.email"}, "signature": "stripe",
         "create_customers": False, "segment_id": None},
        {"identify": None, "signature": None, "create_customers": True, "segment_id": "seg_9"},
    ],
)  # fmt: skip
def test_the_triggers_own_fields_read_back_unchanged(options):
    from journeys.admin.editor import trigger_options_from_editor, trigger_options_to_editor

    editor = trigger_options_to_editor(options)

    assert trigger_options_from_editor(json.loads(json.dumps(editor))) == options
