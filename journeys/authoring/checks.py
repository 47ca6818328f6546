"""Publish checks: what a draft must satisfy before it becomes the version runs follow.

A draft only needs a valid structure (``definition_normalize``); publishing also
checks its meaning: the graph (targets, reachability, busy loops), Liquid (its syntax,
and the limits every render would reach), the variables templates and conditions read,
split percentages. Problems name their step and field, so the API and the admin show
each where it belongs.
"""

import math
from collections.abc import Iterator
from typing import Any

from delivery.services import (
    template_defaulted_paths,
    template_limit_problem,
    template_syntax_problem,
    template_variable_paths,
)
from journeys.authoring.definition import (
    API_PAYLOAD_NAMES,
    CONTEXT_ROOTS,
    TRIGGER_CONDITION_ROOTS,
    Problem,
    ProblemCollector,
    definition_normalize,
    definition_step_targets,
)
from segments.conditions import condition_fields, condition_problems


def _json_strings(value: Any, location: str) -> Iterator[tuple[str, str]]:
    """Every string leaf of a JSON value with its location: those are Liquid templates."""
    if isinstance(value, str):
        yield location, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _json_strings(item, f"{location}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, f"{location}[{index}]")


def _step_templates(step: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(field, template)`` for every Liquid string of a canonical step."""
    step_type = step["type"]
    if step_type == "send":
        for name in ("subject", "url", "html"):
            if isinstance(step.get(name), str):
                yield name, step[name]
        yield from _json_strings(step.get("body"), "body")
    elif step_type == "delay" and step.get("until") is not None:
        yield "until", step["until"]
    elif step_type == "webhook":
        yield "url", step["url"]
        for name, value in step["headers"].items():
            yield f"headers.{name}", value
        yield from _json_strings(step["body"], "body")
    elif step_type == "update_customer":
        yield from _json_strings(step["set"], "set")


def _step_conditions(step: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if step["type"] in ("branch", "wait_for_event"):
        yield "condition", step["condition"]


def _unlabelled_message(step: dict[str, Any]) -> bool:
    """A send to a person that says neither whether it is transactional nor its topic."""
    return (
        step["type"] == "send"
        and step["channel"] != "webhook"
        and not step.get("transactional")
        and step.get("topic") is None
    )


def _control_conditions(definition: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(path, condition)`` of the exit events and the goal: checked against the
    arriving event and the run's context, like a ``wait_for_event`` condition."""
    for index, rule in enumerate((definition.get("exit") or {}).get("events") or ()):
        yield f"exit.events[{index}].condition", rule["condition"]
    goal = definition.get("goal")
    if goal is not None:
        yield "goal.condition", goal["condition"]


class _PublishChecker:
    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.errors = ProblemCollector()
        self.warnings = ProblemCollector()
        self.steps = {step["key"]: step for step in definition["steps"]}
        self.schema_names = {field["name"] for field in definition["trigger"]["schema"]}
        self.webhook_steps = {key for key, step in self.steps.items() if step["type"] == "webhook"}

    def run(self) -> tuple[list[Problem], list[Problem]]:
        self.check_trigger()
        self.check_graph()
        trigger_roots = TRIGGER_CONDITION_ROOTS
        if self.definition["trigger"]["type"] == "event":
            trigger_roots = trigger_roots | {"event"}
        # Rendered once per entry, from the trigger (journeys.entry.core): no customer yet.
        self.check_template(
            self.definition["cancellation_key"],
            step=None,
            field="cancellation_key",
            roots=trigger_roots,
        )
        for path, condition, roots in (
            ("trigger.conditions", self.definition["trigger"]["conditions"], trigger_roots),
            (
                "entry.conditions",
                self.definition["entry"]["conditions"],
                trigger_roots | {"customer"},
            ),
        ):
            self.check_condition(condition, step=None, field=path, roots=roots)
        for path, condition in _control_conditions(self.definition):
            self.check_condition(condition, step=None, field=path)
        for step in self.definition["steps"]:
            for field, source in _step_templates(step):
                self.check_template(source, step=step["key"], field=field)
            for field, condition in _step_conditions(step):
                self.check_condition(condition, step=step["key"], field=field)
            if step["type"] == "split":
                total = sum(path["percentage"] for path in step["paths"])
                if not math.isclose(total, 100):
                    self.errors.add(
                        f"split percentages must add up to 100 (they add up to {total:g})",
                        step=step["key"],
                        field="paths",
                    )
            if _unlabelled_message(step):
                self.warnings.add(
                    "neither transactional nor a topic: sent as marketing (with an "
                    "unsubscribe link, counted against frequency caps, withheld from "
                    "customers unsubscribed from all); set transactional: true for a "
                    "message the customer must get, or name its topic",
                    step=step["key"],
                    field="transactional",
                )
            if step["type"] == "webhook" or (
                step["type"] == "send" and step["channel"] == "webhook"
            ):
                url = step["url"]
                if "{" not in url and not url.lower().startswith(("http://", "https://")):
                    self.errors.add(
                        "url must be an http:// or https:// URL", step=step["key"], field="url"
                    )
        return self.errors.problems, self.warnings.problems

    def check_trigger(self) -> None:
        trigger = self.definition["trigger"]
        if trigger["type"] == "event" and not trigger["event"]:
            self.errors.add("an event trigger needs the event's name", field="trigger.event")
        if trigger["type"] == "segment" and not trigger.get("segment_id"):
            self.errors.add(
                "a segment trigger needs trigger.segment_id: the segment whose new members enter",
                field="trigger.segment_id",
            )
        if trigger["type"] == "webhook" and not trigger.get("identify"):
            self.errors.add(
                "a webhook trigger needs trigger.identify: the body path of the customer's "
                'email or external_id, e.g. {"email": "data.object.customer_email"}',
                field="trigger.identify",
            )
        for index, field in enumerate(trigger["schema"]):
            if field["name"] in CONTEXT_ROOTS:
                self.warnings.add(
                    f"schema field {field['name']!r} cannot be used by name at the top level "
                    f"(the {field['name']} root wins); use data.{field['name']}",
                    field=f"trigger.schema[{index}].name",
                )

    def check_graph(self) -> None:
        start = self.definition["start"]
        if not self.steps:
            self.errors.add("a journey needs at least one step", field="steps")
            return
        if start is None:
            self.errors.add("start is required", field="start")
        elif start not in self.steps:
            self.errors.add(f"start step {start!r} does not exist", field="start")
        for step in self.definition["steps"]:
            for field, target in definition_step_targets(step):
                if target is not None and target not in self.steps:
                    self.errors.add(
                        f"{field} points to unknown step {target!r}", step=step["key"], field=field
                    )
        reachable = self.reachable(start)
        for key in self.steps:
            if key not in reachable:
                self.errors.add(
                    f"step {key!r} is not reachable from the start step {start!r}", step=key
                )
        for cycle in self.busy_loops():
            path = " -> ".join([*cycle, cycle[0]])
            self.errors.add(
                f"steps loop without waiting ({path}); put a delay, wait_for_event or repeat "
                "step in the loop",
                step=cycle[0],
            )

    def reachable(self, start: str | None) -> set[str]:
        seen: set[str] = set()
        pending = [start] if start in self.steps else []
        while pending:
            key = pending.pop()
            if key in seen:
                continue
            seen.add(key)
            for _, target in definition_step_targets(self.steps[key]):
                if target in self.steps and target not in seen:
                    pending.append(target)
        return seen

    def busy_loops(self) -> list[list[str]]:
        """Cycles a run would spin around within one tick, sending or calling each time.

        A delay or wait_for_event step pauses the run, and a repeat's ``to`` edge is
        taken a bounded number of times, so cycles through those are fine.
        """
        graph: dict[str, list[str]] = {}
        for key, step in self.steps.items():
            if step["type"] in ("delay", "wait_for_event"):
                graph[key] = []
                continue
            graph[key] = [
                target
                for field, target in definition_step_targets(step)
                if target in self.steps and not (step["type"] == "repeat" and field == "to")
            ]
        return _cycles(graph)

    def check_condition(
        self,
        condition: Any,
        *,
        step: str | None,
        field: str,
        roots: frozenset[str] | None = None,
    ) -> None:
        """Condition problems, located as precisely as the condition checker says; then
        the roots of the fields it reads, by the same rules as template variables.

        ``roots`` narrows what a condition checked at entry can read: there is no event,
        step output or run yet, and trigger conditions see the payload but no customer.
        """
        if condition is None:
            return
        problems = condition_problems(condition, path=field)
        for message in problems:
            location, separator, detail = message.partition(": ")
            if separator and location.startswith(field):
                self.errors.add(detail, step=step, field=location)
            else:
                self.errors.add(message, step=step, field=field)
        if problems:
            return
        for location, name in condition_fields(condition, path=field):
            when = f"{field} are checked; they"
            if self.unknown_at_entry(name, roots, when=when, step=step, field=location):
                continue
            self.check_variable(name.split("."), step=step, field=location)

    def unknown_at_entry(
        self,
        name: str,
        roots: frozenset[str] | None,
        *,
        when: str,
        step: str | None,
        field: str,
    ) -> bool:
        """Whether ``name`` reads a root that what is checked or rendered at entry cannot
        read (``roots``; None: any), which is then an error."""
        if roots is None or name.split(".")[0] in roots | self.schema_names:
            return False
        readable = ", ".join(sorted(roots))
        self.errors.add(
            f"{name!r} is not known when {when} can read {readable} and trigger schema fields",
            step=step,
            field=field,
        )
        return True

    def check_template(
        self,
        source: str | None,
        *,
        step: str | None,
        field: str,
        roots: frozenset[str] | None = None,
    ) -> None:
        """Liquid that parses, stays within the limits and reads variables that exist;
        ``roots`` narrows what a template rendered at entry can read, as for conditions."""
        if not source:
            return
        # First: a template too long to parse is reported as such, not parsed.
        problem = template_limit_problem(source)
        if problem:
            self.errors.add(f"Liquid exceeds a limit: {problem}", step=step, field=field)
            return
        problem = template_syntax_problem(source)
        if problem:
            self.errors.add(f"Liquid does not parse: {problem}", step=step, field=field)
            return
        defaulted = template_defaulted_paths(source)
        for path in template_variable_paths(source):
            when = f"the {field} is rendered (at entry); it"
            if self.unknown_at_entry(".".join(path), roots, when=when, step=step, field=field):
                continue
            self.check_variable(path, step=step, field=field, defaulted=tuple(path) in defaulted)

    def check_variable(
        self, path: list[str], *, step: str | None, field: str, defaulted: bool = False
    ) -> None:
        """``defaulted``: every use of the path has a fallback (``| default:``), so a
        payload without it renders the fallback: nothing to warn of."""
        root, rest = path[0], path[1:]
        dotted = ".".join(path)
        if root == "api":
            if rest and rest[0] not in API_PAYLOAD_NAMES:
                self.errors.add(
                    f"unknown variable {dotted!r}: api has only payload and properties",
                    step=step,
                    field=field,
                )
            elif len(rest) > 1 and not defaulted:
                self.check_payload_field(rest[1], ".".join(path[:3]), step=step, field=field)
        elif root == "data":
            if rest and not defaulted:
                self.check_payload_field(rest[0], ".".join(path[:2]), step=step, field=field)
        elif root == "steps":
            if rest and rest[0] not in self.webhook_steps:
                self.errors.add(
                    f"unknown variable {dotted!r}: {rest[0]!r} is not a webhook step of this "
                    "journey (only webhook steps save a response)",
                    step=step,
                    field=field,
                )
        elif root not in CONTEXT_ROOTS and root not in self.schema_names:
            roots = ", ".join(sorted(CONTEXT_ROOTS))
            self.errors.add(
                f"unknown variable {dotted!r}: {root!r} is neither a context root ({roots}) "
                "nor a trigger schema field",
                step=step,
                field=field,
            )

    def check_payload_field(self, name: str, dotted: str, *, step: str | None, field: str) -> None:
        """Payloads are free-form, so an undeclared field only warns: it may well be sent."""
        if name not in self.schema_names:
            self.warnings.add(
                f"{dotted} is not declared in the trigger schema; a run whose payload lacks "
                f"{name!r} fails at this step",
                step=step,
                field=field,
            )


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components that contain a cycle (Tarjan), in graph order."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index_of[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index_of:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index_of[target])
        if low[node] == index_of[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                order = list(graph)
                components.append(sorted(component, key=order.index))

    for node in graph:
        if node not in index_of:
            visit(node)
    order = list(graph)
    return sorted(components, key=lambda component: order.index(component[0]))


def definition_publish_problems(definition: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """``(errors, warnings)`` that decide whether ``definition`` may be published.

    Errors: unknown step targets, unreachable steps, busy loops, Liquid that does not
    parse or that every render would stop at a limit (a template longer than templates
    may be, a range with constant bounds of more items than a template may loop over),
    variables under a root the context does not have, ``steps.X`` where X is not a
    webhook step, invalid conditions, split percentages not adding up to 100, an event
    trigger without an event name. Warnings: payload variables the trigger schema does
    not declare (payloads are free-form; a run without the value fails at that step).

    The document is normalised first, so a structurally invalid one raises
    ``InvalidRequest`` like :func:`definition_normalize`.
    """
    return _PublishChecker(definition_normalize(definition)).run()
