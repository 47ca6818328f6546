"""The picture of a journey: its layered layout, the SVG drawn from it, the runs counted."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from journeys.admin.graph import END, graph_layout, graph_svg, runs_waiting_by_step
from journeys.models import Enrollment
from tests.factories import customers_create, journey_create


def send(key, next=None, channel="email"):
    return {"key": key, "type": "send", "channel": channel, "body": "x", "next": next}


def test_layers_go_down_from_the_start_and_edges_carry_their_labels():
    steps = [
        {"key": "wait", "type": "delay", "seconds": 60, "next": "vip"},
        send("hello", next="wait"),
        {"key": "vip", "type": "branch", "condition": {}, "yes": "sms", "no": None},
        send("sms", channel="sms"),
    ]

    layout = graph_layout(steps, "hello")

    layers = {key: node.layer for key, node in layout.nodes.items()}
    assert layers == {"hello": 0, "wait": 1, "vip": 2, "sms": 3, END: 4}
    assert layout.nodes["hello"].kind == "send · email"
    assert layout.nodes["sms"].kind == "send · sms"
    edges = {(e.source, e.target, e.label) for e in layout.edges}
    assert edges == {
        ("hello", "wait", ""),
        ("wait", "vip", ""),
        ("vip", "sms", "yes"),
        ("vip", END, "no"),
        ("sms", END, ""),
    }


def test_paths_timeouts_and_throttles_are_labelled_and_siblings_share_a_layer():
    steps = [
        {"key": "split", "type": "split", "paths": [
            {"percentage": 50, "next": "wait"}, {"percentage": 50, "next": "cap"}]},
        {"key": "wait", "type": "wait_for_event", "event": "Paid", "condition": None,
         "timeout_seconds": 60, "matched": None, "timeout": "cap"},
        {"key": "cap", "type": "throttle", "limit": 1, "period_seconds": 60,
         "scope": "customer", "next": None, "throttled": "again"},
        {"key": "again", "type": "repeat", "to": "split", "times": 2, "next": None},
        {"key": "orphan", "type": "exit"},
    ]  # fmt: skip

    layout = graph_layout(steps, "split")

    labels = {(e.source, e.target): e.label for e in layout.edges}
    assert labels[("split", "wait")] == "path 1 (50%)"
    assert labels[("split", "cap")] == "path 2 (50%)"
    assert labels[("wait", END)] == "matched" and labels[("wait", "cap")] == "timeout"
    assert labels[("cap", "again")] == "throttled" and labels[("cap", END)] == "allowed"
    assert labels[("again", "split")] == "repeat 2 times"
    assert layout.nodes["wait"].layer == layout.nodes["cap"].layer == 1
    assert layout.nodes["wait"].y == layout.nodes["cap"].y
    assert layout.nodes["wait"].x != layout.nodes["cap"].x
    # Unreachable: drawn below what the start reaches, never lost.
    assert layout.nodes["orphan"].layer > layout.nodes["again"].layer


def test_an_edge_to_an_unknown_step_is_left_out_and_no_steps_draw_nothing():
    layout = graph_layout([send("a", next="wiat")], "a")

    assert [(e.source, e.target) for e in layout.edges] == []
    assert "No steps yet" in graph_svg(graph_layout([], None))


def test_the_svg_escapes_every_text_it_draws():
    steps = [
        {"key": "a", "type": "wait_for_event", "event": "<script>alert(1)</script>",
         "condition": None, "timeout_seconds": 1, "matched": None, "timeout": None},
        send("b", channel="<img src=x onerror=alert(2)>"),
    ]  # fmt: skip

    svg = str(graph_svg(graph_layout(steps, "a", waiting={"a": 3})))

    assert "<script>" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg and "&lt;img src=x" in svg
    assert svg.startswith("<svg") and "3 waiting now" in svg


def test_runs_waiting_are_counted_per_step_in_one_query(workspace):
    journey = journey_create(workspace)
    people = customers_create(workspace, 4)
    now = timezone.now()
    for customer, step, state in zip(
        people,
        ["send", "send", "wait", "send"],
        ["active", "active", "active", "completed"],
        strict=True,
    ):
        Enrollment.objects.create(
            workspace=workspace, journey=journey, version=journey.live_version,
            customer=customer, current_step=step, state=state, entered_at=now,
        )  # fmt: skip

    with CaptureQueriesContext(connection) as queries:
        counts = runs_waiting_by_step(journey=journey)

    assert counts == {"send": 2, "wait": 1}
    assert len(queries) == 1
