"""Where things go on the page: the graph's boxes and edges, the timeline's bars and ticks.

Pure functions from :mod:`legato.ui.runview`'s aggregates to coordinates;
the templates draw them as SVG. The graph is laid out in layers, left to
right: a node's layer is the length of the longest path to it from a node
with no upstream (Kahn's order), and inside a layer nodes are ordered by the
mean position of their upstreams, then by when they first started (one
barycentre pass, enough for the small aggregated graphs this draws).
"""

from __future__ import annotations

from dataclasses import dataclass

from legato.ui.runview import Graph, GraphNode, Timeline

NODE_WIDTH = 220
NODE_HEIGHT = 66
BAR_WIDTH = 192
LAYER_GAP = 70
ROW_GAP = 22
MARGIN = 16

TIMELINE_WIDTH = 1100
LABEL_WIDTH = 190
ROW_HEIGHT = 9
LANE_PAD = 6
AXIS_HEIGHT = 24


@dataclass
class PlacedNode:
    node: GraphNode
    x: float
    y: float
    segments: list[tuple[str, float, float]]  # state type, x offset, width (inside the state bar)


@dataclass
class GraphLayout:
    width: float
    height: float
    nodes: list[PlacedNode]
    edges: list[str]  # SVG path data


def layout_graph(graph: Graph) -> GraphLayout:
    layers = _layers(graph)
    ordered = _order(graph, layers)
    tallest = max((len(members) for members in ordered), default=0)
    height = 2 * MARGIN + tallest * NODE_HEIGHT + max(tallest - 1, 0) * ROW_GAP
    width = 2 * MARGIN + len(ordered) * NODE_WIDTH + max(len(ordered) - 1, 0) * LAYER_GAP
    placed: dict[int, PlacedNode] = {}
    for layer, members in enumerate(ordered):
        column_height = len(members) * NODE_HEIGHT + max(len(members) - 1, 0) * ROW_GAP
        top = (height - column_height) / 2
        for row, index in enumerate(members):
            node = graph.nodes[index]
            x = MARGIN + layer * (NODE_WIDTH + LAYER_GAP)
            y = top + row * (NODE_HEIGHT + ROW_GAP)
            placed[index] = PlacedNode(node, x, y, _segments(node, BAR_WIDTH))
    paths = []
    for source, target in graph.edges:
        a, b = placed[source], placed[target]
        x1, y1 = a.x + NODE_WIDTH, a.y + NODE_HEIGHT / 2
        x2, y2 = b.x, b.y + NODE_HEIGHT / 2
        bend = max((x2 - x1) / 2, 30)
        paths.append(f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}")
    return GraphLayout(width, height, [placed[i] for i in sorted(placed)], paths)


def _layers(graph: Graph) -> list[int]:
    count = len(graph.nodes)
    downstream: list[list[int]] = [[] for _ in range(count)]
    waiting = [0] * count
    for source, target in graph.edges:
        downstream[source].append(target)
        waiting[target] += 1
    layer = [0] * count
    ready = [i for i in range(count) if waiting[i] == 0]
    seen = 0
    while ready:
        current = ready.pop()
        seen += 1
        for target in downstream[current]:
            layer[target] = max(layer[target], layer[current] + 1)
            waiting[target] -= 1
            if waiting[target] == 0:
                ready.append(target)
    if seen < count:  # a cycle cannot be recorded, but a damaged file could hold one: put the rest last
        deepest = max(layer, default=0) + 1
        layer = [value if waiting[i] == 0 else deepest for i, value in enumerate(layer)]
    return layer


def _order(graph: Graph, layers: list[int]) -> list[list[int]]:
    depth = max(layers, default=-1) + 1
    members: list[list[int]] = [[] for _ in range(depth)]
    for index in sorted(range(len(layers)), key=lambda i: graph.nodes[i].first_start):
        members[layers[index]].append(index)
    upstreams: dict[int, list[int]] = {}
    for source, target in graph.edges:
        upstreams.setdefault(target, []).append(source)
    row_of = {index: row for column in members for row, index in enumerate(column)}
    for column in members[1:]:
        def centre(index: int) -> float:
            rows = [row_of[u] for u in upstreams.get(index, ())]
            return sum(rows) / len(rows) if rows else float(row_of[index])
        column.sort(key=centre)
        row_of.update({index: row for row, index in enumerate(column)})
    return members


def _segments(node: GraphNode, width: float) -> list[tuple[str, float, float]]:
    total = max(node.count, 1)
    result, x = [], 0.0
    for kind, count in node.segments():
        share = max(width * count / total, 2.0)
        result.append((kind, x, share))
        x += share
    if result and x > width:  # the 2 px minimum of small shares can overflow: scale back
        scale = width / x
        result = [(kind, start * scale, share * scale) for kind, start, share in result]
    return result


@dataclass
class PlacedBar:
    x: float
    y: float
    width: float
    height: float
    state_type: str
    title: str
    task_run_id: str | None


@dataclass
class PlacedLane:
    label: str
    count: int
    sampled: bool
    y: float
    height: float
    span: PlacedBar | None
    bars: list[PlacedBar]


@dataclass
class TimelineLayout:
    width: float
    height: float
    plot_left: float
    lanes: list[PlacedLane]
    ticks: list[tuple[float, str]]
    drawn: int
    total: int


def layout_timeline(timeline: Timeline) -> TimelineLayout:
    plot = TIMELINE_WIDTH - LABEL_WIDTH - MARGIN
    length = max(timeline.end - timeline.start, 1e-6)

    def x_of(moment: float) -> float:
        return LABEL_WIDTH + plot * (moment - timeline.start) / length

    lanes, y = [], float(AXIS_HEIGHT)
    for lane in timeline.lanes:
        rows = max(len(lane.rows), 1)
        lane_height = rows * ROW_HEIGHT + (rows - 1) * 2 + 2 * LANE_PAD
        bars = [
            _placed(bar, x_of, y + LANE_PAD + row * (ROW_HEIGHT + 2), ROW_HEIGHT)
            for row, members in enumerate(lane.rows)
            for bar in members
        ]
        span = _placed(lane.span, x_of, y + 2, lane_height - 4) if lane.span else None
        lanes.append(PlacedLane(lane.label, lane.count, lane.sampled, y, lane_height, span, bars))
        y += lane_height
    ticks = [(x_of(timeline.start + length * k / 5), _offset(length * k / 5)) for k in range(6)]
    return TimelineLayout(TIMELINE_WIDTH, y + 4, LABEL_WIDTH, lanes, ticks, timeline.drawn, timeline.total)


def _placed(bar, x_of, y: float, height: float) -> PlacedBar:  # type: ignore[no-untyped-def]
    left = x_of(bar.start)
    width = max(x_of(bar.end) - left, 1.5)
    return PlacedBar(left, y, width, height, bar.state_type, bar.title, bar.task_run_id)


def _offset(seconds: float) -> str:
    if seconds < 1:
        return f"+{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"+{seconds:.1f}s"
    if seconds < 7200:
        return f"+{seconds / 60:.1f}m"
    return f"+{seconds / 3600:.1f}h"


__all__ = ["GraphLayout", "TimelineLayout", "layout_graph", "layout_timeline"]
