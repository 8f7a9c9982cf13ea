"""The host and ATT&CK sections of the HTML report: a row per host with its activity
strip, and the technique matrix coloured by how often each was detected."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

from ..model import LEVEL_RANK, LEVELS, CorrelationDetection, Detection, HuntResult
from .attack import attack_table, tactic_names, techniques_of
from .common import IncidentIndex
from .html_incidents import short_time

#: Bars of a host's activity strip.
STRIP_BARS = 48


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
                short_time(min(stamped)) if stamped else "",
                short_time(max(stamped)) if stamped else "",
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
