"""A picture of a journey: its step graph laid out in layers and drawn as SVG, server-side.

:func:`graph_layout` is pure (steps in, boxes and arrows out): the start step on top, each
other step one layer below the first step that reaches it (breadth first), unreachable
steps in layers of their own below, and an "end" box for the edges that complete the run.
:func:`graph_svg` draws a layout; every piece of text in it is escaped, as step keys,
event names and channels come from whoever wrote the journey.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from journeys.authoring.definition import definition_step_targets
from journeys.models import Enrollment, Journey

BOX_WIDTH = 190
BOX_HEIGHT = 62
GAP_X = 40
GAP_Y = 56
MARGIN = 24
#: Text longer than this is cut with an ellipsis (the box shows the whole in a tooltip).
TEXT_MAX = 24
#: The key of the pseudo-step that edges to ``null`` point at: no real step has it, as
#: step keys cannot contain a space.
END = "end of run"


@dataclass
class Node:
    key: str
    kind: str  # "send · email", "delay", ... ("end" for the end box)
    layer: int
    order: int
    x: int = 0
    y: int = 0
    waiting: int = 0
    flagged: bool = False  # the step has publish problems


@dataclass
class Edge:
    source: str
    target: str
    label: str


@dataclass
class Layout:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0


def edge_label(step: dict[str, Any], field_name: str) -> str:
    """What an arrow says: its field (yes, no, matched, ...), nothing for a plain next."""
    if field_name.startswith("paths["):
        index = int(field_name[len("paths[") : field_name.index("]")])
        percentage = step["paths"][index].get("percentage")
        return f"path {index + 1} ({percentage}%)" if percentage is not None else "path"
    if step["type"] == "repeat" and field_name == "to":
        return f"repeat {step.get('times')} times"
    if field_name == "next" and step["type"] in ("throttle", "repeat"):
        return "then" if step["type"] == "repeat" else "allowed"
    return "" if field_name == "next" else field_name


def _targets(step: dict[str, Any]) -> list[tuple[str, str | None]]:
    try:
        return definition_step_targets(step)
    except (KeyError, TypeError, IndexError, AttributeError):
        return []  # not canonical (a hand-edited row): drawn without its arrows


def step_kind(step: dict[str, Any]) -> str:
    kind = str(step.get("type", "?"))
    if kind == "send" and step.get("channel"):
        kind = f"{kind} · {step['channel']}"
    if kind == "wait_for_event" and step.get("event"):
        kind = f"wait for {step['event']}"
    return kind


def graph_layout(
    steps: list[dict[str, Any]],
    start: str | None,
    *,
    waiting: dict[str, int] | None = None,
    flagged: set[str] | frozenset[str] = frozenset(),
) -> Layout:
    """Lay out ``steps`` (canonical step dicts) in layers from ``start`` downwards.

    Edges to a key that is not a step are left out (the publish check names them);
    edges to ``null`` go to one "end" box at the bottom.
    """
    by_key = {step["key"]: step for step in steps if isinstance(step.get("key"), str)}
    waiting = waiting or {}
    targets = {key: _targets(step) for key, step in by_key.items()}
    layers: dict[str, int] = {}

    def visit(root: str, layer: int) -> None:
        layers[root] = layer
        queue = deque([root])
        while queue:
            key = queue.popleft()
            for _, target in targets[key]:
                if target in by_key and target not in layers:
                    layers[target] = layers[key] + 1
                    queue.append(target)

    if start in by_key:
        visit(start, 0)
    for key in by_key:  # unreachable steps: below what the start reaches, in step order
        if key not in layers:
            visit(key, max(layers.values(), default=-1) + 1)

    layout = Layout()
    ends = False
    for key, step in by_key.items():
        for field_name, target in targets[key]:
            if target is None:
                ends = True
                layout.edges.append(Edge(key, END, edge_label(step, field_name)))
            elif target in by_key:
                layout.edges.append(Edge(key, target, edge_label(step, field_name)))

    rows: dict[int, list[str]] = {}
    for key in by_key:
        rows.setdefault(layers[key], []).append(key)
    for layer, keys in rows.items():
        for order, key in enumerate(keys):
            layout.nodes[key] = Node(
                key=key,
                kind=step_kind(by_key[key]),
                layer=layer,
                order=order,
                waiting=waiting.get(key, 0),
                flagged=key in flagged,
            )
    if ends:
        layout.nodes[END] = Node(END, "end", max(rows, default=-1) + 1, 0)
        rows[layout.nodes[END].layer] = [END]

    widest = max((len(keys) for keys in rows.values()), default=0)
    layout.width = 2 * MARGIN + widest * BOX_WIDTH + max(widest - 1, 0) * GAP_X
    layout.height = 2 * MARGIN + len(rows) * BOX_HEIGHT + max(len(rows) - 1, 0) * GAP_Y
    for node in layout.nodes.values():
        count = len(rows[node.layer])
        row_width = count * BOX_WIDTH + (count - 1) * GAP_X
        node.x = (layout.width - row_width) // 2 + node.order * (BOX_WIDTH + GAP_X)
        node.y = MARGIN + node.layer * (BOX_HEIGHT + GAP_Y)
    return layout


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def _edge_svg(layout: Layout, edge: Edge) -> SafeString:
    source, target = layout.nodes[edge.source], layout.nodes[edge.target]
    x1, y1 = source.x + BOX_WIDTH // 2, source.y + BOX_HEIGHT
    x2, y2 = target.x + BOX_WIDTH // 2, target.y
    if target.layer == source.layer + 1:
        path = f"M{x1},{y1} C{x1},{y1 + GAP_Y // 2} {x2},{y2 - GAP_Y // 2} {x2},{y2}"
        label_x, label_y = (x1 + x2) // 2, (y1 + y2) // 2
    elif target.layer > source.layer:
        # Past the layers between: out to the side, clear of their boxes.
        side = -1 if x1 <= layout.width // 2 else 1
        off = side * BOX_WIDTH
        path = f"M{x1},{y1} C{x1 + off},{y1 + GAP_Y} {x2 + off},{y2 - GAP_Y} {x2},{y2}"
        # Near the source, where the arrow leaves it, never behind a box.
        label_x, label_y = x1 + side * 24, y1 + GAP_Y // 2
    else:
        # Back (or sideways) to an earlier step: around the right-hand side of the boxes.
        x1, y1 = source.x + BOX_WIDTH, source.y + BOX_HEIGHT // 2
        x2, y2 = target.x + BOX_WIDTH, target.y + BOX_HEIGHT // 2
        bulge = max(x1, x2) + GAP_X
        path = f"M{x1},{y1} C{bulge},{y1} {bulge},{y2} {x2},{y2}"
        label_x, label_y = bulge - 6, (y1 + y2) // 2
    label = (
        format_html(
            '<text x="{}" y="{}" class="jg-label" text-anchor="middle">{}</text>',
            label_x,
            label_y,
            edge.label,
        )
        if edge.label
        else ""
    )
    return format_html(
        '<path d="{}" class="jg-edge" marker-end="url(#jg-arrow)"><title>{} → {}{}</title>'
        "</path>{}",
        path,
        edge.source,
        edge.target,
        f" ({edge.label})" if edge.label else "",
        label,
    )


def _node_svg(node: Node) -> SafeString:
    centre = node.x + BOX_WIDTH // 2
    if node.key == END:
        return format_html(
            '<g class="jg-end"><rect x="{}" y="{}" width="{}" height="{}" rx="28"/>'
            '<text x="{}" y="{}" text-anchor="middle">end of run</text></g>',
            node.x,
            node.y + 12,
            BOX_WIDTH,
            BOX_HEIGHT - 24,
            centre,
            node.y + BOX_HEIGHT // 2 + 5,
        )
    waiting = f"{node.waiting} waiting now" if node.waiting else "none waiting"
    return format_html(
        '<g class="jg-step{}" data-step="{}"><title>{} ({}): {}</title>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="6"/>'
        '<text x="{}" y="{}" text-anchor="middle" class="jg-key">{}</text>'
        '<text x="{}" y="{}" text-anchor="middle" class="jg-kind">{}</text>'
        '<text x="{}" y="{}" text-anchor="middle" class="jg-waiting{}">{}</text></g>',
        " jg-flagged" if node.flagged else "",
        node.key,
        node.key,
        node.kind,
        waiting,
        node.x,
        node.y,
        BOX_WIDTH,
        BOX_HEIGHT,
        centre,
        node.y + 19,
        _cut(node.key),
        centre,
        node.y + 37,
        _cut(node.kind),
        centre,
        node.y + 54,
        " jg-busy" if node.waiting else "",
        waiting,
    )


STYLE = mark_safe(
    "<style>"
    ".jg-step rect{fill:#f4f8fb;stroke:#417690;stroke-width:1.5}"
    ".jg-flagged rect{fill:#fff0f0;stroke:#ba2121;stroke-width:2}"
    ".jg-end rect{fill:#eee;stroke:#999}"
    ".jg-key{font:bold 13px sans-serif;fill:#222}"
    ".jg-kind{font:12px sans-serif;fill:#555}"
    ".jg-waiting{font:11px sans-serif;fill:#888}.jg-busy{fill:#1a7f37;font-weight:bold}"
    ".jg-end text{font:12px sans-serif;fill:#555}"
    ".jg-edge{fill:none;stroke:#79aec8;stroke-width:1.5}"
    ".jg-label{font:11px sans-serif;fill:#205067;paint-order:stroke;stroke:#fff;stroke-width:3}"
    "</style>"
)
ARROW = mark_safe(
    '<defs><marker id="jg-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
    'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
    'fill="#79aec8"/></marker></defs>'
)


def graph_svg(layout: Layout) -> SafeString:
    """The layout as an inline ``<svg>`` element; all text escaped."""
    if not layout.nodes:
        return format_html("<p>{}</p>", "No steps yet.")
    # Back edges bulge out to the right of the widest row, edges that skip layers to
    # either side: leave room for them.
    spans = [layout.nodes[e.target].layer - layout.nodes[e.source].layer for e in layout.edges]
    left = BOX_WIDTH // 2 if any(span > 1 for span in spans) else 0
    right = max(left, 2 * GAP_X if any(span <= 0 for span in spans) else 0)
    width = layout.width + left + right
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="journey-graph" width="{}" height="{}" '
        'viewBox="{} 0 {} {}" role="img" aria-label="{}">{}{}{}{}</svg>',
        width,
        layout.height,
        -left,
        width,
        layout.height,
        "The journey's steps and how runs move between them",
        STYLE,
        ARROW,
        format_html_join("", "{}", ((_edge_svg(layout, edge),) for edge in layout.edges)),
        format_html_join("", "{}", ((_node_svg(node),) for node in layout.nodes.values())),
    )


def runs_waiting_by_step(*, journey: Journey) -> dict[str, int]:
    """Active runs of the journey counted by the step they are at: one GROUP BY, served
    by the partial unique index over (journey, customer) WHERE state = 'active'."""
    rows = (
        Enrollment.objects.filter(journey=journey, state=Enrollment.State.ACTIVE)
        .values("current_step")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {row["current_step"]: row["count"] for row in rows}


def journey_graph_html(
    *, journey: Journey, flagged: set[str] | frozenset[str] = frozenset()
) -> SafeString:
    """The draft's graph with the runs waiting at each step now; runs waiting at steps
    the draft no longer has (they run an earlier version) are listed under it."""
    waiting = runs_waiting_by_step(journey=journey)
    steps = journey.steps if isinstance(journey.steps, list) else []
    steps = [step for step in steps if isinstance(step, dict)]
    layout = graph_layout(steps, journey.start_step or None, waiting=waiting, flagged=flagged)
    elsewhere = sorted((key, n) for key, n in waiting.items() if key not in layout.nodes)
    note = (
        format_html(
            "<p>Runs at steps this draft does not have (they run an earlier version): {}</p>",
            format_html_join(", ", "{} ({})", elsewhere),
        )
        if elsewhere
        else ""
    )
    return format_html('<div style="overflow-x:auto">{}</div>{}', graph_svg(layout), note)
