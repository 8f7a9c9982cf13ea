"""The pictures of an incident in the HTML report: the hosts it moved between (an SVG
graph laid out by hops from the entry host) and its signals on a time line.

Plain geometry, no layout library: every label is text the template escapes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from ..model import Incident, LateralEdge

#: Lateral-movement picture: column and row spacing, host box width, margin (pixels).
GRAPH_COLUMN, GRAPH_ROW, GRAPH_BOX, GRAPH_PAD = 290, 56, 170, 24
#: Hosts outside the story that reach into it drawn one by one; more draw as one box.
GRAPH_OUTSIDE = 3
#: The key of that box (no host name holds a NUL).
_OTHERS = "\x00others"


@dataclass
class _Node:
    name: str
    x: float
    y: float
    entry: bool
    #: Not one of the hosts the story reached: drawn lighter.
    context: bool = False
    label: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or self.name
        self.title = self.title or self.name


@dataclass
class _Edge:
    path: str
    label: str
    lx: float
    ly: float
    title: str
    #: From a host outside the story (a logon from elsewhere): drawn lighter.
    context: bool = False


@dataclass
class _Graph:
    width: int
    height: int
    nodes: list[_Node]
    edges: list[_Edge]


def lateral_graph(incident: Incident) -> _Graph:
    """Hosts in columns by hops from the entry host (in the order reached within a
    column); one arrow per pair of hosts, numbered in the order first used and labelled
    with the ways used and how often: a picture that needs no layout library."""
    moves = sorted(incident.edges, key=lambda e: (e.first is None, e.first or datetime.max))
    order = list(incident.hosts)
    for e in moves:
        for h in (e.source, e.target):
            if h not in order:
                order.append(h)
    start = incident.entry_host or (order[0] if order else None)
    depth: dict[str, int] = {}
    if start is not None:
        depth[start] = 0
        frontier = [start]
        while frontier:
            nxt: list[str] = []
            for h in frontier:
                for e in moves:
                    if e.source == h and e.target not in depth:
                        depth[e.target] = depth[h] + 1
                        nxt.append(e.target)
            frontier = nxt
    # Hosts the entry host does not lead to: a column before it when they only reach
    # into the story (logons from elsewhere), else a column after it.
    last = max(depth.values(), default=-1) + 1
    for h in order:
        if h not in depth:
            sources = any(e.source == h for e in moves)
            depth[h] = -1 if sources and not any(e.target == h for e in moves) else last
    # Many hosts that only log on into the story draw as one box, not a column of them.
    outside = [h for h in order if depth[h] == -1]
    merged: dict[str, str] = {}
    if len(outside) > GRAPH_OUTSIDE:
        merged = {h: _OTHERS for h in outside}
        moves = [
            LateralEdge(merged.get(e.source, e.source), e.target, e.account, e.method, e.first)
            for e in moves
        ]
        order = [h for h in order if h not in merged] + [_OTHERS]
        depth[_OTHERS] = -1
    layers: dict[int, list[str]] = defaultdict(list)
    for h in order:
        layers[depth[h]].append(h)
    pos: dict[str, tuple[float, float]] = {}
    for k, layer in enumerate(sorted(layers)):
        for j, h in enumerate(layers[layer]):
            pos[h] = (GRAPH_PAD + k * GRAPH_COLUMN, GRAPH_PAD + 14 + j * GRAPH_ROW)
    nodes = [_Node(h, x, y, h == start, h not in incident.hosts) for h, (x, y) in pos.items()]
    for node in nodes:
        if node.name == _OTHERS:
            node.label = f"{len(outside)} other hosts"
            node.title = ", ".join(outside)
    pairs: dict[tuple[str, str], list[LateralEdge]] = {}
    for e in moves:
        if e.source in pos and e.target in pos and e.source != e.target:
            pairs.setdefault((e.source, e.target), []).append(e)
    edges: list[_Edge] = []
    box = GRAPH_BOX
    bottom = 0.0
    ceiling = 0.0
    for step, ((src, dst), used) in enumerate(pairs.items(), start=1):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        if x2 > x1 + GRAPH_COLUMN:  # over the columns between: an arc above them
            sx, sy, tx, ty = x1 + box / 2, y1 - 13, x2 + box / 2 - 8, y2 - 13
            rise = 30 + abs(sy - ty) / 3
            top = min(sy, ty) - rise
            path = _curve(sx, sy, sx, top, tx, top, tx, ty)
            lx, ly = (sx + tx) / 2, top + rise * 0.25 - 3
            ceiling = min(ceiling, top)
        elif x2 > x1:
            sx, sy, tx, ty = x1 + box, y1, x2, y2
            bend = (tx - sx) / 2
            path = _curve(sx, sy, sx + bend, sy, tx - bend, ty, tx, ty)
            lx, ly = (sx + tx) / 2, (sy + ty) / 2 - 5
        else:  # to an earlier column or within one: an arc below both
            sx, sy, tx, ty = x1 + box / 2, y1 + 13, x2 + box / 2 + 8, y2 + 13
            drop = 26 + abs(sx - tx) / 5 + abs(sy - ty) / 3
            path = _curve(sx, sy, sx, max(sy, ty) + drop, tx, max(sy, ty) + drop, tx, ty)
            lx, ly = (sx + tx) / 2, max(sy, ty) + drop * 0.75 + 4
            bottom = max(bottom, ly)
        methods = "/".join(dict.fromkeys(e.method for e in used))
        label = f"{step}. {methods}" + (f" \u00d7{len(used)}" if len(used) > 1 else "")
        title = "; ".join(
            f"{e.method} as {e.account or '?'} from {_seconds(e.first)}" for e in used[:12]
        ) + (f"; and {len(used) - 12} more" if len(used) > 12 else "")
        context = src not in incident.hosts or dst not in incident.hosts
        names = (src if src != _OTHERS else "other hosts", dst)
        edges.append(_Edge(path, label, lx, ly, f"{names[0]} \u2192 {names[1]}: {title}", context))
    # Arcs above the first row push everything down.
    shift = max(0.0, -ceiling + 8)
    if shift:
        for node in nodes:
            node.y += shift
        for edge in edges:
            edge.path = _shifted(edge.path, shift)
            edge.ly += shift
    width = int(GRAPH_PAD * 2 + max((x for x, _ in pos.values()), default=0) + box)
    height = int(
        max(GRAPH_PAD * 2 + max((y for _, y in pos.values()), default=0), bottom + 16) + shift
    )
    edges.sort(key=lambda e: not e.context)  # the story's arrows drawn last, on top
    return _Graph(width, height, nodes, edges)


def _shifted(path: str, dy: float) -> str:
    """``path`` (``M x,y C x,y x,y x,y`` as :func:`_curve` writes it) moved down by ``dy``."""

    def move(m: re.Match[str]) -> str:
        return f"{m.group(1)},{float(m.group(2)) + dy:.0f}"

    return re.sub(r"(-?[0-9.]+),(-?[0-9.]+)", move, path)


def short_time(ts: datetime | None) -> str:
    """``2026-02-24 01:48:47`` (UTC, as every time in the report)."""
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _seconds(ts: datetime | None) -> str:
    return ts.isoformat(timespec="seconds") if ts else "?"


def _curve(*xy: float) -> str:
    """An SVG cubic Bézier path through four points (start, two controls, end)."""
    p = [f"{v:.0f}" for v in xy]
    return f"M{p[0]},{p[1]} C{p[2]},{p[3]} {p[4]},{p[5]} {p[6]},{p[7]}"


@dataclass
class _Dot:
    x: float
    y: float
    level: str
    title: str


@dataclass
class _Timeline:
    width: int
    height: int
    lanes: list[tuple[str, float]]
    dots: list[_Dot]
    start: str
    end: str


def incident_timeline(incident: Incident, width: int = 760) -> _Timeline:
    """Signals on a time axis, one lane per host in the order reached."""
    lanes = list(incident.hosts)
    for s in incident.signals:
        if s.host and s.host not in lanes:
            lanes.append(s.host)
    times = [s.timestamp for s in incident.signals if s.timestamp]
    t0 = min(times, default=None)
    t1 = max(times, default=None)
    span = (t1 - t0).total_seconds() if t0 and t1 else 0.0
    left, lane_h = 170, 22
    lane_y = {h: 20 + k * lane_h for k, h in enumerate(lanes)}
    dots: list[_Dot] = []
    for s in incident.signals:
        if s.timestamp is None or t0 is None:
            continue
        frac = (s.timestamp - t0).total_seconds() / span if span else 0.5
        y = lane_y.get(s.host or "", 20 + len(lanes) * lane_h)
        title = f"{s.timestamp.isoformat(timespec='seconds')} {s.host or '?'}: {s.name} - {s.why}"
        dots.append(_Dot(left + frac * (width - left - 20), y, s.level, title))
    height = 30 + max(len(lanes), 1) * lane_h
    return _Timeline(
        width,
        height,
        [(h, y) for h, y in lane_y.items()],
        dots,
        short_time(t0),
        short_time(t1),
    )


# -- hosts, ATT&CK ------------------------------------------------------------------------
