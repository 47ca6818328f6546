"""The journey editor's forms: steps, conditions, the trigger's fields and the controls
as form fields instead of JSON.

Each editable JSON column of a journey is edited through `django-jsonform`'s widget,
driven by a JSON Schema written for people (titles, help, choices), over an *editor
shape* of the value that reads the way a marketer thinks: a delay is an amount and a
unit, conditions are "all"/"any" of rules, a step's next step defaults to the one
below it. :class:`EditorField` translates between that shape and the canonical
document (:mod:`journeys.authoring.definition`), both ways, and accepts the canonical
JSON as well, so the advanced JSON view and imports keep working; the form then stores
only what ``definition_normalize`` makes of it, as before.
"""

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django_jsonform.widgets import JSONFormWidget

from customers.admin_fields import StrictJSONFormField
from segments.conditions import OPERATORS

# --- choices shown to people ------------------------------------------------------------

OPERATOR_TITLES = {
    "eq": "is", "ne": "is not", "gt": "is more than", "gte": "is at least",
    "lt": "is less than", "lte": "is at most", "contains": "contains",
    "not_contains": "does not contain", "starts_with": "starts with", "in": "is one of",
    "not_in": "is none of", "exists": "is set", "not_exists": "is not set",
}  # fmt: skip
UNITS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
#: The editor's word for "no next step": the run completes there.
END = ""


def _choices(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"title": title, "value": value} for value, title in pairs.items()]


def _text(title: str, help_text: str = "", **extra: Any) -> dict[str, Any]:
    schema = {"type": "string", "title": title, **extra}
    if help_text:
        schema["helpText"] = help_text
    return schema


def _target(title: str, help_text: str = "") -> dict[str, Any]:
    schema = _text(
        title,
        help_text
        or "The key of the step to go to; empty: the next step in the list "
        "(the run completes after the last one); (end): the run completes here.",
    )
    schema[_TARGET_MARK] = True
    return schema


#: Marks the fields that name a step, whose help then lists the journey's step keys.
_TARGET_MARK = "targetsStep"


def _with_step_keys(schema: Any, keys: list[str]) -> Any:
    """``schema`` with the journey's step keys named in the help of every "go to" field."""
    if isinstance(schema, list):
        return [_with_step_keys(item, keys) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copied = {name: _with_step_keys(value, keys) for name, value in schema.items()}
    if copied.pop(_TARGET_MARK, False) and keys:
        copied["helpText"] = f"{copied.get('helpText', '')} Steps: {', '.join(keys)}."
    return copied


def _duration(title: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": {
            "amount": {"type": "integer", "title": "Amount", "minimum": 0},
            "unit": {"type": "string", "title": "Unit", "choices": list(UNITS), "default": "days"},
        },
    }


_CONDITION_LEAF = {
    "type": "object",
    "title": "A rule",
    "properties": {
        "field": _text("Field", "e.g. customer.plan, data.total, event.properties.cart_id"),
        "op": {
            "type": "string",
            "title": "Operator",
            "choices": _choices({op: OPERATOR_TITLES.get(op, op) for op in OPERATORS}),
            "default": "eq",
        },
        "value": _text("Value", "For 'is one of': values separated by commas"),
        "value_type": {
            "type": "string",
            "title": "The value is",
            "default": "text",
            "choices": ["text", "number", "true/false", "list"],
        },
        "value_from": _text("…or the value at", "A path such as data.cart_id (not customer.*)"),
    },
}
CONDITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Conditions",
    "properties": {
        "match": {
            "type": "string",
            "title": "Match",
            "choices": _choices({"all": "all of the rules", "any": "any of the rules"}),
            "default": "all",
        },
        "rules": {"type": "array", "title": "Rules", "items": _CONDITION_LEAF},
    },
}

_KIND = {"type": "string", "title": "Step", "readonly": True}


def _step(kind: str, title: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": {
            "kind": {**_KIND, "const": kind, "default": kind},
            "key": _text("Key", "A short name, unique in the journey (letters, digits, _ and -)"),
            **properties,
        },
    }


_MESSAGE_CONTROLS = {
    "transactional": {"type": "boolean", "title": "Transactional (a receipt, not marketing)"},
    "topic": _text("Topic", "The subscription topic of a marketing message (its key)"),
}

STEP_SCHEMAS = [
    _step("email", "Send an e-mail", {
        "subject": _text("Subject"),
        "html": _text("HTML body", "Liquid: {{ customer.first_name }}; values are escaped",
                      widget="textarea"),
        "body": _text("Text body", "Empty: made from the HTML", widget="textarea"),
        **_MESSAGE_CONTROLS,
        "next": _target("Then go to"),
    }),
    _step("sms", "Send an SMS", {
        "body": _text("Text", widget="textarea"), **_MESSAGE_CONTROLS,
        "next": _target("Then go to"),
    }),
    _step("whatsapp", "Send a WhatsApp message", {
        "body": _text("Text", widget="textarea"), **_MESSAGE_CONTROLS,
        "next": _target("Then go to"),
    }),
    _step("delay", "Wait", {"wait": _duration("Wait for"), "next": _target("Then go to")}),
    _step("delay_until", "Wait until a date", {
        "until": _text("Until", "Liquid giving an ISO time, e.g. {{ data.trial_ends_at }}"),
        "offset": _duration("Shifted by (may be negative)"),
        "next": _target("Then go to"),
    }),
    _step("branch", "Branch: yes or no", {
        "condition": CONDITION_SCHEMA,
        "yes": _target("If yes, go to", "The key of a step; empty: the run completes"),
        "no": _target("If no, go to", "The key of a step; empty: the run completes"),
    }),
    _step("split", "Split at random", {
        "paths": {"type": "array", "title": "Paths", "items": {
            "type": "object", "properties": {
                "percentage": {"type": "number", "title": "Percent"},
                "next": _target("Go to", "The key of a step; empty: the run completes"),
            },
        }},
    }),
    _step("wait_for_event", "Wait for an event", {
        "event": _text("Event name", "e.g. Order Completed, or email.opened"),
        "condition": CONDITION_SCHEMA,
        "timeout": _duration("Give up after"),
        "matched": _target("When it happens, go to", "The key of a step; empty: completes"),
        "timeout_next": _target("If it does not, go to", "The key of a step; empty: completes"),
    }),
    _step("webhook", "Call a webhook", {
        "method": {"type": "string", "title": "Method", "default": "POST",
                   "choices": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "url": _text("URL", "Liquid allowed"),
        "headers": {"type": "array", "title": "Headers", "items": {
            "type": "object", "properties": {
                "name": _text("Name"), "value": _text("Value", "Liquid allowed"),
            },
        }},
        "body": _text("Body", "JSON or text; Liquid allowed", widget="textarea"),
        "next": _target("Then go to"),
    }),
    _step("send_webhook", "Send to a webhook URL (a message)", {
        "url": _text("URL", "Liquid allowed"),
        "body": _text("Body", "JSON or text; Liquid allowed", widget="textarea"),
        "next": _target("Then go to"),
    }),
    _step("update_customer", "Update the customer", {
        "set": {"type": "array", "title": "Set", "items": {"type": "object", "properties": {
            "attribute": _text("Attribute"), "value": _text("Value", "Liquid allowed"),
        }}},
        "next": _target("Then go to"),
    }),
    _step("throttle", "Throttle", {
        "limit": {"type": "integer", "title": "At most", "minimum": 1},
        "period": _duration("per"),
        "scope": {"type": "string", "title": "Counted per", "choices": ["customer", "journey"],
                  "default": "customer"},
        "next": _target("Then go to"),
        "throttled": _target("Over the limit, go to", "The key of a step; empty: completes"),
    }),
    _step("repeat", "Repeat", {
        "to": _text("Go back to", "The key of an earlier step"),
        "times": {"type": "integer", "title": "Times", "minimum": 1},
        "next": _target("Afterwards, go to"),
    }),
    _step("exit", "Exit the journey", {}),
]  # fmt: skip
STEPS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "title": "Steps",
    "helpText": "The run starts at the first step.",
    "items": {"oneOf": STEP_SCHEMAS},
}
TRIGGER_SCHEMA_SCHEMA: dict[str, Any] = {
    "type": "array",
    "title": "Fields the trigger's payload carries",
    "items": {
        "type": "object",
        "properties": {
            "name": _text("Name", "Used in messages as {{ data.<name> }}"),
            "type": {
                "type": "string",
                "title": "Type",
                "default": "string",
                "choices": ["string", "number", "boolean", "datetime"],
            },
            "required": {"type": "boolean", "title": "Required"},
        },
    },
}

TRIGGER_OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Webhook and segment triggers",
    "properties": {
        "identify_by": {
            "type": "string", "title": "Webhook: the customer is named by", "default": "",
            "choices": _choices({"": "(not a webhook trigger)", "email": "an e-mail address",
                                 "external_id": "an external id"}),
        },
        "identify_path": _text("…found in the body at", "e.g. data.object.customer_email"),
        "signature": {
            "type": "string", "title": "Webhook: signature checked", "default": "",
            "choices": _choices({"": "none", "standard": "Standard Webhooks",
                                 "stripe": "Stripe"}),
        },
        "create_customers": {"type": "boolean", "title": "Webhook: create unknown customers",
                             "default": True},
        "segment_id": _text("Segment trigger: the segment (seg_...)",
                            "Customers who join it enter the journey"),
    },
}  # fmt: skip


def trigger_options_to_editor(options: Any) -> dict[str, Any] | None:
    if options is None:
        options = {}
    if not isinstance(options, dict):
        return None
    if "identify_by" in options:  # in the editor's shape already
        return options
    identify = options.get("identify") or {}
    if not isinstance(identify, dict) or len(identify) > 1:
        return None
    ((by, path),) = identify.items() if identify else (("", ""),)
    return {
        "identify_by": by, "identify_path": path or "", "signature": options.get("signature") or "",
        "create_customers": options.get("create_customers", True) is not False,
        "segment_id": options.get("segment_id") or "",
    }  # fmt: skip


def trigger_options_from_editor(value: Any) -> Any:
    """The trigger's own fields; the form then keeps those of its trigger type."""
    if not isinstance(value, dict) or "identify_by" not in value:
        return value
    by, path = value.get("identify_by") or "", (value.get("identify_path") or "").strip()
    return {
        "identify": {by: path} if by and path else None,
        "signature": value.get("signature") or None,
        "create_customers": value.get("create_customers") is not False,
        "segment_id": (value.get("segment_id") or "").strip() or None,
    }


CONTROLS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Sender, quiet hours, exit and goal",
    "properties": {
        "sender_name": _text("Sender name", "Empty: the workspace's"),
        "sender_email": _text("Sender address", "Empty: the workspace's"),
        "quiet_hours": {
            "type": "object",
            "title": "Send only during",
            "properties": {
                "enabled": {"type": "boolean", "title": "Keep messages to a time window"},
                "days": {
                    "type": "array", "title": "Days (none: every day)",
                    "items": {"type": "string", "widget": "multiselect", "choices": _choices(
                        {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday",
                         "thu": "Thursday", "fri": "Friday", "sat": "Saturday",
                         "sun": "Sunday"})},
                },
                "start": _text("From", "HH:MM in the customer's time zone", default="09:00"),
                "end": _text("To", "HH:MM (24:00 is midnight)", default="17:00"),
                "outside": {"type": "string", "title": "A message due outside", "default": "wait",
                            "choices": _choices({"wait": "waits for the window",
                                                 "skip": "is skipped"})},
            },
        },
        "exit_events": {"type": "array", "title": "Exit when the customer does",
                        "items": {"type": "object", "properties": {
                            "event": _text("Event name"),
                            "condition": {**CONDITION_SCHEMA, "title": "…and (optional)"},
                        }}},
        "exit_segment_id": _text("Exit when the customer joins segment", "Its id, seg_..."),
        "goal_event": _text("Goal: the run converts when the customer does", "An event name"),
        "goal_condition": {**CONDITION_SCHEMA, "title": "…and (optional)"},
        "goal_within": _duration("…within"),
    },
}  # fmt: skip

#: "Go to" written as this ends the run (an empty one goes to the step below).
END_MARK = "(end)"


# --- canonical -> editor ------------------------------------------------------------


def _duration_to_editor(seconds: int | None) -> dict[str, Any]:
    if not seconds:
        return {"amount": 0, "unit": "days"}
    for unit in ("weeks", "days", "hours", "minutes"):
        if seconds % UNITS[unit] == 0:
            return {"amount": seconds // UNITS[unit], "unit": unit}
    return {"amount": seconds, "unit": "seconds"}


def _duration_from_editor(value: Any) -> int:
    if not isinstance(value, dict):
        return 0
    amount = value.get("amount") or 0
    # "seconds" (a duration no unit of UNITS divides, as _duration_to_editor shows it): 1.
    return int(amount) * UNITS.get(value.get("unit") or "days", 1)


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    return "text"


def condition_to_editor(condition: Any) -> dict[str, Any] | None:
    """The editor's "match all/any of rules", or None when the condition nests groups
    (which stay JSON)."""
    if condition is None:
        return {"match": "all", "rules": []}
    if isinstance(condition, dict) and "rules" in condition:  # in the editor's shape already
        return condition
    if isinstance(condition, dict) and set(condition) in ({"all"}, {"any"}):
        ((match, items),) = condition.items()
    else:
        match, items = "all", [condition]
    rules = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or "field" not in item:
            return None
        value = item.get("value")
        rules.append({
            "field": item["field"], "op": item.get("op", "eq"),
            "value": ", ".join(map(str, value)) if isinstance(value, list)
            else ("" if value is None else json.dumps(value) if not isinstance(value, str)
                  else value),
            "value_type": _value_type(value),
            "value_from": item.get("value_from") or "",
        })  # fmt: skip
    return {"match": match, "rules": rules}


def _leaf_from_editor(rule: dict[str, Any]) -> dict[str, Any]:
    leaf: dict[str, Any] = {
        "field": (rule.get("field") or "").strip(),
        "op": rule.get("op") or "eq",
    }
    if leaf["op"] in ("exists", "not_exists"):
        return leaf
    if (rule.get("value_from") or "").strip():
        leaf["value_from"] = rule["value_from"].strip()
        return leaf
    raw, kind = rule.get("value") or "", rule.get("value_type") or "text"
    if kind == "list" or leaf["op"] in ("in", "not_in"):
        leaf["value"] = [part.strip() for part in raw.split(",") if part.strip()]
    elif kind == "number":
        try:
            number = float(raw)
        except ValueError as error:
            raise ValidationError(f"{leaf['field']}: {raw!r} is not a number") from error
        leaf["value"] = int(number) if number.is_integer() else number
    elif kind == "true/false":
        leaf["value"] = raw.strip().lower() in ("true", "yes", "1")
    else:
        leaf["value"] = raw
    return leaf


def condition_from_editor(value: Any) -> Any:
    """The canonical condition of the editor's value (a canonical one is kept as it is)."""
    if not isinstance(value, dict) or "rules" not in value:
        return value
    rules = [_leaf_from_editor(rule) for rule in value.get("rules") or [] if rule.get("field")]
    if not rules:
        return None
    if len(rules) == 1:
        return rules[0]
    return {value.get("match") or "all": rules}


def _target_to_editor(target: str | None, following: str | None, *, linear: bool) -> str:
    if linear:
        if target == following:  # the step below, or the end after the last step
            return ""
        return END_MARK if target is None else target
    return target or ""


def _target_from_editor(target: Any, following: str | None, *, linear: bool) -> str | None:
    target = (target or "").strip()
    if target == END_MARK:
        return None
    if not target:
        return following if linear else None
    return target


# --- steps ------------------------------------------------------------------------------

#: Per step kind: fields copied as they are, in both directions.
_PLAIN = {
    "email": ("subject", "html", "body", "topic"),
    "sms": ("body", "topic"),
    "whatsapp": ("body", "topic"),
    "delay_until": ("until",),
    "wait_for_event": ("event",),
    "webhook": ("method", "url"),
    "send_webhook": ("url",),
    "throttle": ("limit", "scope"),
    "repeat": ("to", "times"),
}


def _kind(step: dict[str, Any]) -> str:
    if step["type"] == "send":
        return step["channel"] if step["channel"] != "webhook" else "send_webhook"
    if step["type"] == "delay" and step.get("until") is not None:
        return "delay_until"
    return step["type"]


def steps_to_editor(steps: Any) -> list[dict[str, Any]] | None:
    """The editor's steps, or None when one of them has no form (stays JSON)."""
    if not isinstance(steps, list) or any(not isinstance(step, dict) for step in steps):
        return None
    if all("kind" in step for step in steps):  # in the editor's shape already
        return steps
    if any("type" not in step or "key" not in step for step in steps):
        return None
    out = []
    for index, step in enumerate(steps):
        following = steps[index + 1]["key"] if index + 1 < len(steps) else None
        kind = _kind(step)
        row: dict[str, Any] = {"kind": kind, "key": step["key"]}
        for name in _PLAIN.get(kind, ()):
            row[name] = step.get(name) if step.get(name) is not None else ""
        if kind in ("email", "sms", "whatsapp"):
            row["transactional"] = bool(step.get("transactional"))
        if kind == "delay":
            row["wait"] = _duration_to_editor(step["seconds"])
        elif kind == "delay_until":
            row["offset"] = _duration_to_editor(step.get("offset_seconds"))
        elif kind in ("branch", "wait_for_event"):
            condition = condition_to_editor(step.get("condition"))
            if condition is None:
                return None
            row["condition"] = condition
        if kind == "branch":
            row["yes"], row["no"] = step["yes"] or "", step["no"] or ""
        elif kind == "split":
            row["paths"] = [{"percentage": p["percentage"], "next": p["next"] or ""}
                            for p in step["paths"]]  # fmt: skip
        elif kind == "wait_for_event":
            row["timeout"] = _duration_to_editor(step["timeout_seconds"])
            row["matched"], row["timeout_next"] = step["matched"] or "", step["timeout"] or ""
        elif kind in ("webhook", "send_webhook"):
            row["body"] = _body_to_editor(step.get("body"))
            if kind == "webhook":
                row["headers"] = [
                    {"name": name, "value": value} for name, value in step["headers"].items()
                ]
        elif kind == "update_customer":
            row["set"] = [
                {"attribute": name, "value": value if isinstance(value, str) else json.dumps(value)}
                for name, value in step["set"].items()
            ]
        elif kind == "throttle":
            row["period"] = _duration_to_editor(step["period_seconds"])
            row["throttled"] = step["throttled"] or ""
        if kind not in ("branch", "split", "wait_for_event", "exit"):
            row["next"] = _target_to_editor(step.get("next"), following, linear=True)
        out.append(row)
    return out


def steps_from_editor(rows: Any) -> Any:
    """The canonical steps of the editor's rows (canonical steps are kept as they are)."""
    if not isinstance(rows, list):
        return rows
    keys = [row.get("key") if isinstance(row, dict) else None for row in rows]
    steps = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or "kind" not in row:
            steps.append(row)  # canonical already (the JSON view, an import)
            continue
        following = keys[index + 1] if index + 1 < len(keys) else None
        steps.append(_step_from_editor(row, following))
    return steps


def _blank_none(value: Any) -> Any:
    return None if value == "" else value


def _step_from_editor(row: dict[str, Any], following: str | None) -> dict[str, Any]:
    kind = row["kind"]
    key = (row.get("key") or "").strip()
    step: dict[str, Any] = {"key": key}
    plain = {name: _blank_none(row.get(name)) for name in _PLAIN.get(kind, ())}
    then = _target_from_editor(row.get("next"), following, linear=True)
    if kind in ("email", "sms", "whatsapp"):
        step.update(type="send", channel=kind, **plain)
        if row.get("transactional"):
            step["transactional"] = True
        step["next"] = then
    elif kind == "delay":
        step.update(type="delay", seconds=_duration_from_editor(row.get("wait")), next=then)
    elif kind == "delay_until":
        step.update(
            type="delay",
            until=plain["until"],
            offset_seconds=_duration_from_editor(row.get("offset")),
            next=then,
        )
    elif kind == "branch":
        step.update(
            type="branch",
            condition=condition_from_editor(row.get("condition")),
            yes=_target_from_editor(row.get("yes"), None, linear=False),
            no=_target_from_editor(row.get("no"), None, linear=False),
        )
    elif kind == "split":
        step.update(type="split", paths=[
            {"percentage": path.get("percentage"),
             "next": _target_from_editor(path.get("next"), None, linear=False)}
            for path in row.get("paths") or []
        ])  # fmt: skip
    elif kind == "wait_for_event":
        step.update(
            type="wait_for_event",
            event=plain["event"],
            condition=condition_from_editor(row.get("condition")),
            timeout_seconds=_duration_from_editor(row.get("timeout")),
            matched=_target_from_editor(row.get("matched"), None, linear=False),
            timeout=_target_from_editor(row.get("timeout_next"), None, linear=False),
        )
    elif kind == "webhook":
        headers = {
            (pair.get("name") or "").strip(): pair.get("value") or ""
            for pair in row.get("headers") or []
            if (pair.get("name") or "").strip()
        }
        step.update(
            type="webhook",
            method=plain["method"] or "POST",
            url=plain["url"],
            headers=headers,
            body=_body_from_editor(row.get("body")),
            next=then,
        )
    elif kind == "send_webhook":
        step.update(
            type="send", channel="webhook", url=plain["url"],
            body=_body_from_editor(row.get("body")), next=then,
        )  # fmt: skip
    elif kind == "update_customer":
        values = {}
        for pair in row.get("set") or []:
            name = (pair.get("attribute") or "").strip()
            if name:
                values[name] = _scalar(pair.get("value") or "")
        step.update(type="update_customer", set=values, next=then)
    elif kind == "throttle":
        step.update(
            type="throttle",
            limit=plain["limit"],
            period_seconds=_duration_from_editor(row.get("period")),
            scope=plain["scope"] or "customer",
            next=then,
            throttled=_target_from_editor(row.get("throttled"), None, linear=False),
        )
    elif kind == "repeat":
        step.update(type="repeat", to=plain["to"], times=plain["times"], next=then)
    else:
        step["type"] = kind
    return step


def _body_to_editor(body: Any) -> str:
    """A webhook body as text: JSON pretty-printed, a Liquid string as it is."""
    if body is None:
        return ""
    return body if isinstance(body, str) else json.dumps(body, indent=2)


def _body_from_editor(text: Any) -> Any:
    """The text of a webhook body read back: JSON (an object or a list) stays JSON, whose
    string leaves are Liquid; anything else is one Liquid string."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict | list) else text


def _scalar(text: str) -> Any:
    """An attribute's value as typed: a number or true/false is one; anything else text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float) else text


# --- the trigger's fields and the controls ---------------------------------------------------


def trigger_schema_to_editor(schema: Any) -> Any:
    if not isinstance(schema, list):
        return None
    return [
        {"name": field.get("name") or "", "type": field.get("type") or "string",
         "required": bool(field.get("required"))}
        for field in schema
    ]  # fmt: skip


def trigger_schema_from_editor(rows: Any) -> Any:
    if not isinstance(rows, list):
        return rows
    out = []
    for row in rows:
        if not isinstance(row, dict) or not (row.get("name") or "").strip():
            continue
        field = {"name": row["name"].strip(), "type": row.get("type") or "string"}
        if row.get("required"):
            field["required"] = True
        out.append(field)
    return out


def controls_to_editor(controls: Any) -> dict[str, Any] | None:
    """The editor's controls, or None when they hold what it has no form for (exit or
    goal conditions: the JSON view shows them)."""
    controls = controls or {}
    if not isinstance(controls, dict):
        return None
    if "quiet_hours" in controls:  # in the editor's shape already
        return controls
    exit_rules = controls.get("exit") or {"events": [], "segment_id": None}
    goal = controls.get("goal")
    exit_events = []
    for rule in exit_rules.get("events") or ():
        condition = condition_to_editor(rule.get("condition"))
        if condition is None:
            return None  # nested groups: the JSON view shows them
        exit_events.append({"event": rule["event"], "condition": condition})
    goal_condition = condition_to_editor((goal or {}).get("condition"))
    if goal_condition is None:
        return None
    sender = controls.get("sender") or {}
    window = controls.get("send_window")
    return {
        "sender_name": sender.get("name") or "",
        "sender_email": sender.get("email") or "",
        "quiet_hours": {"enabled": window is not None, **(window or {})},
        "exit_events": exit_events,
        "exit_segment_id": exit_rules.get("segment_id") or "",
        "goal_event": (goal or {}).get("event") or "",
        "goal_condition": goal_condition,
        "goal_within": _duration_to_editor((goal or {}).get("within_seconds")),
    }


def controls_from_editor(value: Any) -> Any:
    """The document's controls (``sender``, ``send_window``, ``exit``, ``goal``) of the
    editor's value; canonical controls are kept as they are."""
    if not isinstance(value, dict) or "quiet_hours" not in value:
        return value
    controls: dict[str, Any] = {}
    if (value.get("sender_email") or "").strip():
        controls["sender"] = {"name": (value.get("sender_name") or "").strip() or None,
                              "email": value["sender_email"].strip()}  # fmt: skip
    window = value.get("quiet_hours") or {}
    if window.get("enabled"):
        controls["send_window"] = {
            "days": window.get("days") or None, "start": window.get("start"),
            "end": window.get("end"), "outside": window.get("outside") or "wait",
        }  # fmt: skip
    events = []
    for rule in value.get("exit_events") or []:
        rule = rule if isinstance(rule, dict) else {"event": rule}  # a bare name
        if (rule.get("event") or "").strip():
            event = {"event": rule["event"].strip()}
            condition = condition_from_editor(rule.get("condition"))
            if condition is not None:
                event["condition"] = condition
            events.append(event)
    segment = (value.get("exit_segment_id") or "").strip() or None
    if events or segment:
        controls["exit"] = {"events": events, "segment_id": segment}
    if (value.get("goal_event") or "").strip():
        within = _duration_from_editor(value.get("goal_within"))
        condition = condition_from_editor(value.get("goal_condition"))
        controls["goal"] = {"event": value["goal_event"].strip(),
                            **({"condition": condition} if condition is not None else {}),
                            **({"within_seconds": within} if within else {})}  # fmt: skip
    return controls


# --- the form field ------------------------------------------------------------------------


class EditorField(StrictJSONFormField):
    """A JSON column edited through a form: shown in the editor's shape (``to_editor``),
    read back into the canonical one (``from_editor``). A value the editor has no form
    for is edited as JSON instead (:meth:`as_json`)."""

    def __init__(
        self,
        *,
        schema: dict[str, Any],
        to_editor: Callable[[Any], Any],
        from_editor: Callable[[Any], Any],
        **kwargs: Any,
    ) -> None:
        self.to_editor, self.from_editor = to_editor, from_editor
        kwargs.setdefault("required", False)
        super().__init__(widget=JSONFormWidget(schema=schema), **kwargs)

    def as_json(self) -> None:
        """Edit this value as JSON text (it holds what the forms cannot show)."""
        self.widget = forms.Textarea(attrs={"rows": 12, "cols": 80, "class": "vLargeTextField"})
        self.to_editor = lambda value: value

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):  # the posted text, shown again with its errors
            return value
        shown = self.to_editor(value)
        return json.dumps(value if shown is None else shown, indent=2)

    def to_python(self, value: Any) -> Any:
        return self.from_editor(super().to_python(value))


#: The journey's JSON columns the editor shows as forms: schema, shape in, shape out.
EDITED_COLUMNS: dict[str, tuple[dict[str, Any], Callable, Callable]] = {
    "trigger_schema": (TRIGGER_SCHEMA_SCHEMA, trigger_schema_to_editor, trigger_schema_from_editor),
    "trigger_conditions": (CONDITION_SCHEMA, condition_to_editor, condition_from_editor),
    "trigger_options": (
        TRIGGER_OPTIONS_SCHEMA,
        trigger_options_to_editor,
        trigger_options_from_editor,
    ),
    "entry_conditions": (CONDITION_SCHEMA, condition_to_editor, condition_from_editor),
    "controls": (CONTROLS_SCHEMA, controls_to_editor, controls_from_editor),
    "steps": (STEPS_SCHEMA, steps_to_editor, steps_from_editor),
}

HELP = {
    "trigger_schema": "The payload fields a trigger call brings; a required one must be sent.",
    "trigger_conditions": "A trigger whose payload does not meet these starts no run.",
    "trigger_options": "Only for a webhook or a segment trigger.",
    "entry_conditions": "Checked at entry against the customer and the payload.",
    "controls": "Who e-mails are from, when messages may go out, what ends a run early, "
    "and what counts as a conversion.",
    "steps": "What happens to each customer, from the first step down.",
}


#: Plain-language help for the journey's other fields.
FIELD_HELP = {
    "trigger_type": "api: your application calls the trigger API; event: a tracked event "
    "starts it; webhook: another product posts to its URL; segment: joining a segment.",
    "trigger_event": "Event triggers only: the event's name, e.g. Order Completed.",
    "allow_reentry": "Unticked: a customer goes through this journey once, ever.",
    "max_entries_per_customer": "With re-entry: how many completed runs a customer may "
    "have (empty: no limit).",
    "reentry_cooldown_seconds": "With re-entry: seconds to wait after a completed run "
    "before the customer may enter again.",
    "restart_active": "With re-entry: a customer triggered again while in the journey "
    "starts over (unticked: the trigger is refused until the run ends).",
    "cancellation_key": "Optional: a key to cancel runs by, e.g. order-{{ data.order_id }}.",
    "start_step": "Empty: the first step.",
}


def editor_fields_apply(form: forms.ModelForm) -> None:
    """Replace the form's JSON fields of these columns by the editor's forms; a value
    the forms cannot show (nested condition groups) is edited as JSON, as before."""
    for name, text in FIELD_HELP.items():
        if name in form.fields and not form.fields[name].help_text:
            form.fields[name].help_text = text
    for name, (schema, to_editor, from_editor) in EDITED_COLUMNS.items():
        current = form.fields.get(name)
        if current is None:  # read-only on this page (a live journey's published columns)
            continue
        if name == "steps":
            keys = [step.get("key") for step in form.initial.get("steps") or ()
                    if isinstance(step, dict) and step.get("key")]  # fmt: skip
        else:
            keys = []
        field = EditorField(
            schema=_with_step_keys(schema, keys),
            to_editor=to_editor,
            from_editor=from_editor,
            label=current.label,
            help_text=HELP[name],
        )
        value = form.initial.get(name, current.initial)
        value = value() if callable(value) else value  # a new journey: the column's default
        if to_editor(value) is None:
            field.as_json()
        field.initial = value
        form.fields[name] = field
