"""One self-contained HTML report: incidents first, then hosts, detections, ATT&CK, inputs.

Nothing in the file loads anything: styles and the one script are inline, a
Content-Security-Policy forbids every fetch (``default-src 'none'``) and allows the
script by its hash only. Everything that came from a log or a rule is either escaped
by the template (autoescaping) or shipped as data: one JSON document in a
``<script type="application/json">`` element with ``<``, ``>``, ``&`` and the line
separators escaped, which the script renders with ``textContent`` only.

The detections table is paged by the script (a page at a time in the DOM), and its
data is columnar with one string table, so 100,000 detections stay a few MB and open
in a second.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jinja2

from ..model import (
    LEVEL_RANK,
    LEVELS,
    CorrelationDetection,
    Detection,
    HuntResult,
    Incident,
    LateralEdge,
    iso,
)
from .attack import attack_table, tactic_names, techniques_of
from .common import IncidentIndex, in_time_order

#: Issues listed in full before the report says "and N more".
ISSUES_SHOWN = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Lateral-movement picture: column and row spacing, host box width, margin (pixels).
GRAPH_COLUMN, GRAPH_ROW, GRAPH_BOX, GRAPH_PAD = 290, 56, 170, 24
#: Hosts outside the story that reach into it drawn one by one; more draw as one box.
GRAPH_OUTSIDE = 3
#: The key of that box (no host name holds a NUL).
_OTHERS = "\x00others"
#: Bars of a host's activity strip.
STRIP_BARS = 48


@dataclass
class _Strings:
    """One table of distinct strings; rows refer to them by index."""

    index: dict[str, int] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)

    def __call__(self, text: str | None) -> int:
        if text is None:
            return -1
        k = self.index.get(text)
        if k is None:
            k = self.index[text] = len(self.values)
            self.values.append(text)
        return k


def report_data(result: HuntResult) -> dict[str, object]:
    """The detections as the script reads them: columnar, strings shared."""
    strings = _Strings()
    incidents = IncidentIndex.of_result(result)
    detections = in_time_order(result.detections)
    rules: dict[str, int] = {}
    rule_rows: list[list[object]] = []
    base = min((d.timestamp for d in detections if d.timestamp), default=None)
    rows: list[list[object]] = []
    for d in detections:
        key = d.rule_id + "\x00" + d.rule_title
        r = rules.get(key)
        if r is None:
            r = rules[key] = len(rule_rows)
            rule_rows.append(
                [
                    strings(d.rule_title),
                    strings(d.rule_id),
                    LEVELS.index(d.level) if d.level in LEVELS else len(LEVELS) - 1,
                    [strings(t) for t in d.tags],
                    [t.id for t in techniques_of(d.tags)],
                ]
            )
        micros = None if d.timestamp is None or base is None else _micros(d.timestamp, base)
        rows.append(
            [
                micros,
                strings(d.host),
                r,
                strings(d.channel),
                d.event_id,
                d.record_id,
                strings(incidents.of(d)),
                strings(d.source),
                [strings(m) for m in d.matched],
                [strings(x) for kv in d.details.items() for x in kv if kv[1] is not None],
                [strings(x) for kv in sorted(d.fields.items()) for x in kv if kv[1] is not None],
            ]
        )
    return {
        "base": None if base is None else iso(base),
        "base_us": None if base is None else _micros(base, _EPOCH),
        "levels": list(LEVELS),
        "strings": strings.values,
        "rules": rule_rows,
        "rows": rows,
    }


def _micros(ts: datetime, base: datetime) -> int:
    delta = ts - base
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def script_json(data: object) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``
    (so no ``</script>`` or ``<!--``), and no U+2028/U+2029; ASCII only, so text that
    is not valid Unicode (a lone surrogate) survives as its escape."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- incidents -----------------------------------------------------------------------------


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


def _short(ts: datetime | None) -> str:
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
        _short(t0),
        _short(t1),
    )


# -- hosts, ATT&CK ------------------------------------------------------------------------


@dataclass
class _Host:
    name: str
    counts: list[int]
    total: int
    first: str
    last: str
    incidents: list[str]
    bars: list[tuple[float, float, str]]  # x, height, worst level


def host_rows(result: HuntResult) -> list[_Host]:
    index = IncidentIndex.of_result(result)
    by_host: dict[str, list[Detection]] = defaultdict(list)
    for d in result.detections:
        by_host[d.host or "?"].append(d)
    times = [d.timestamp for d in result.detections if d.timestamp]
    t0, t1 = (min(times), max(times)) if times else (None, None)
    span = (t1 - t0).total_seconds() if t0 and t1 else 0.0
    out: list[_Host] = []
    for host, items in by_host.items():
        counts = Counter(d.level for d in items)
        buckets: list[list[Detection]] = [[] for _ in range(STRIP_BARS)]
        for d in items:
            if d.timestamp and t0:
                k = int((d.timestamp - t0).total_seconds() / span * (STRIP_BARS - 1)) if span else 0
                buckets[k].append(d)
        peak = max((len(b) for b in buckets), default=0) or 1
        bars = [
            (
                k * 4.0,
                max(2.0, 20 * math.sqrt(len(b) / peak)),
                max((d.level for d in b), key=lambda lv: LEVEL_RANK.get(lv, 0)),
            )
            for k, b in enumerate(buckets)
            if b
        ]
        stamped = [d.timestamp for d in items if d.timestamp]
        out.append(
            _Host(
                host,
                [counts.get(level, 0) for level in LEVELS],
                len(items),
                _short(min(stamped)) if stamped else "",
                _short(max(stamped)) if stamped else "",
                sorted({i for d in items if (i := index.of(d))}),
                bars,
            )
        )
    out.sort(key=lambda h: (tuple(-c for c in h.counts), h.name))
    return out


@dataclass
class _Cell:
    id: str
    name: str
    count: int
    heat: int
    rules: str


def attack_matrix(result: HuntResult) -> list[tuple[str, str, list[_Cell]]]:
    """Tactic columns (matrix order, only those seen) of technique cells with a heat
    class from the log of their detection count."""
    table = attack_table()
    counts: dict[tuple[str, str], int] = Counter()
    rules: dict[str, set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    found: list[Detection | CorrelationDetection] = [*result.detections, *result.correlations]
    for d in found:
        for t in techniques_of(d.tags):
            names[t.id] = t.name
            rules[t.id].add(d.rule_title)
            tactics = t.tactics or tactic_names(d.tags)
            for tac in tactics:
                counts[(tac, t.id)] += 1
    top = max(counts.values(), default=1)
    columns: list[tuple[str, str, list[_Cell]]] = []
    for tactic in table.tactics:
        cells = [
            _Cell(
                tid,
                names[tid],
                n,
                1 + int(4 * math.log1p(n) / math.log1p(top)) if top > 0 else 1,
                "; ".join(sorted(rules[tid])[:10]),
            )
            for (tac, tid), n in counts.items()
            if tac == tactic.short
        ]
        if cells:
            cells.sort(key=lambda c: (-c.count, c.id))
            columns.append((tactic.name, tactic.id, cells))
    return columns


# -- the page ------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("lotlhunt.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _asset(name: str) -> str:
    return resources.files("lotlhunt.reports").joinpath("templates", name).read_text("utf-8")


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_html(result: HuntResult, title: str = "lotlhunt report") -> str:
    script = _asset("report.js")
    style = _asset("report.css")
    csp = (
        "default-src 'none'; "
        f"script-src '{_hash(script)}'; "
        f"style-src '{_hash(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    incidents = sorted(result.incidents, key=lambda i: -i.score)
    s = result.stats
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        csp=csp,
        style=style,
        script=script,
        stats=s,
        levels=LEVELS,
        incidents=[
            (i, lateral_graph(i), incident_timeline(i), sorted(i.signals, key=_signal_time))
            for i in incidents
        ],
        hosts=host_rows(result),
        matrix=attack_matrix(result),
        correlations=sorted(result.correlations, key=lambda c: c.first),
        input_issues=result.input_issues[:ISSUES_SHOWN],
        input_more=max(0, len(result.input_issues) - ISSUES_SHOWN),
        rule_issues=result.rule_issues[:ISSUES_SHOWN],
        rule_more=max(0, len(result.rule_issues) - ISSUES_SHOWN),
        skipped=result.skipped[:ISSUES_SHOWN],
        skipped_more=max(0, len(result.skipped) - ISSUES_SHOWN),
        data=script_json(report_data(result)),
        strip_width=STRIP_BARS * 4,
        box=GRAPH_BOX,
        attack_version=attack_table().version,
    )


def _signal_time(signal: object) -> str:
    return iso(getattr(signal, "timestamp", None)) or ""


def write_html(result: HuntResult, path: Path) -> None:
    text = render_html(result)
    path.write_text(text, encoding="utf-8", errors="backslashreplace")
