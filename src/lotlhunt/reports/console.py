"""The terminal summary: incidents as short stories, activity per host, then the counts.

Everything that came from a log or a rule goes through
:func:`~lotlhunt._support.text.terminal_safe` (rich markup escaped, control characters
shown as escapes), so no event can clear the screen, set the window title or hide text.
Host names are never cut: their column is as wide as the longest one (up to
``HOST_WIDTH``) and longer ones fold onto the next line.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._support.text import control_free, terminal_safe
from ..model import (
    LEVEL_RANK,
    LEVELS,
    Detection,
    HuntResult,
    Incident,
    Signal,
    detection_values,
)

LEVEL_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}
#: Incidents told in full; the others get one line each.
STORIES = 3
#: Incidents listed at all (the rest are counted).
LISTED = 10
#: Lines of evidence an incident's story shows.
EVIDENCE = 5
#: Reasons for an incident's score shown (the largest).
REASONS = 3
#: Widest host column before names fold.
HOST_WIDTH = 40
#: Sparkline glyphs from empty to full.
SPARKS = " ▁▂▃▄▅▆▇█"


def _level(level: str) -> str:
    return f"[{LEVEL_STYLE.get(level, '')}]{terminal_safe(level)}[/]"


def print_summary(result: HuntResult, console: Console, top: int = 10, issues: int = 10) -> None:
    """Incidents, host activity, counts, detections by level, top rules and hosts."""
    if result.incidents:
        print_incidents(result.incidents, console)
    if result.detections:
        print_activity(result.detections, console)
    s = result.stats
    console.print(
        f"[bold]Read[/] {s.files} files ({s.files_failed} failed, {s.files_skipped} skipped), "
        f"{s.records:,} records ({s.records_failed:,} failed). "
        f"[bold]Rules[/] {s.rules_loaded:,} loaded, {s.rules_failed:,} failed, "
        f"{s.rules_not_applicable:,} not for Windows. "
        f"[bold]{s.detections:,} detections[/], {s.correlations:,} correlation hits, "
        f"{len(result.incidents):,} incidents in {s.seconds:.1f} s."
    )
    for note in s.notes:
        console.print(f"[yellow]note:[/] {terminal_safe(note)}")
    if result.correlations:
        corr = Table(title="Correlation hits")
        for col in ("first", "rule", "level", "group", "value", "events"):
            corr.add_column(col, overflow="fold")
        ranked = sorted(result.correlations, key=lambda c: (-LEVEL_RANK.get(c.level, 0), c.first))
        for c in ranked[:top]:
            group = ", ".join(f"{k}={v}" for k, v in c.group.items())
            corr.add_row(
                c.first.isoformat(timespec="seconds"),
                terminal_safe(c.rule_title),
                _level(c.level),
                terminal_safe(group),
                str(c.value),
                str(len(c.events)),
            )
        console.print(corr)
    if result.detections:
        _print_counts(result.detections, console, top)
    for title, items in (
        ("Input problems", result.input_issues),
        ("Rule problems", result.rule_issues),
    ):
        if items:
            console.print(f"[bold yellow]{title}[/] ({len(items)}):")
            for issue in items[:issues]:
                console.print(f"  {terminal_safe(issue)}", soft_wrap=True)
            if len(items) > issues:
                console.print(f"  ... and {len(items) - issues} more (see --stats / --issues)")


def print_incidents(incidents: Sequence[Incident], console: Console) -> None:
    """The best incidents as short stories: hosts in the order reached, the score and
    its main reasons, and the few pieces of evidence that matter most; the next ones
    one line each."""
    ranked = sorted(incidents, key=lambda i: -i.score)
    console.print(f"[bold]Incidents[/] ({len(ranked)}, best first)")
    for n, inc in enumerate(ranked[:LISTED]):
        head = f"[bold]{terminal_safe(inc.id)}[/] {_level(str(inc.severity))} score {inc.score:.0f}"
        if inc.first:
            head += f", {_when(inc.first)} to {_when(inc.last)}"
        if n >= STORIES:
            console.print(f" {head}: {_chain(inc.hosts).markup}")
            continue
        console.print(f" {head}")
        console.print(_chain(inc.hosts, indent="   "))
        if inc.accounts:
            more = f" and {len(inc.accounts) - 2} more" if len(inc.accounts) > 2 else ""
            console.print(f"   [dim]as[/] {terminal_safe(', '.join(inc.accounts[:2]))}{more}")
        top = sorted(inc.reasons, key=lambda r: -r.points)[:REASONS]
        for r in top:
            text = _clip(control_free(r.reason), max(20, console.width - 8))
            console.print(f"   [dim]+{r.points:.0f}[/] {terminal_safe(text)}")
        for s in _evidence(inc.signals):
            host = control_free(_short_host(s.host))
            used = 3 + 12 + len(s.level) + 1 + len(host) + 2
            console.print(
                f"   {_when(s.timestamp)} {_level(s.level)} {terminal_safe(host)}: "
                f"{terminal_safe(_clip(control_free(s.name), max(20, console.width - used)))}"
            )
        console.print()
    if len(ranked) > LISTED:
        console.print(f" ... and {len(ranked) - LISTED} more incidents (see --html, --incidents)")


def _chain(hosts: Sequence[str], indent: str = "") -> Text:
    """Hosts in the order reached, joined by arrows; a name is never cut (it wraps)."""
    chain = Text(indent)
    for k, host in enumerate(hosts):
        if k:
            chain.append(" → ", style="dim")
        chain.append(control_free(host), style="bold")
    return chain


def _short_host(host: str | None) -> str:
    """A host's first label (``dc01`` of ``dc01.corp.local``): evidence lines stay short;
    the chain above names it in full."""
    if not host:
        return "?"
    return host if _looks_like_address(host) else host.split(".", 1)[0]


def _looks_like_address(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


def _evidence(signals: Sequence[Signal]) -> list[Signal]:
    """The signals that matter most (worst level, then earliest), in time order."""
    best = sorted(
        signals, key=lambda s: (-LEVEL_RANK.get(s.level, 0), s.timestamp or datetime.max)
    )[:EVIDENCE]
    return sorted(best, key=lambda s: (s.timestamp is None, s.timestamp or datetime.min))


def _when(ts: datetime | None) -> str:
    return ts.strftime("%m-%d %H:%M") if ts else "?"


def activity_strip(
    times: Sequence[datetime], levels: Sequence[str], t0: datetime, t1: datetime, width: int
) -> Text:
    """A sparkline of detections over [t0, t1]: bar height is the count (square-root
    scaled), its colour the worst level in the bucket."""
    counts = [0] * width
    worst = [""] * width
    span = (t1 - t0).total_seconds()
    for ts, level in zip(times, levels, strict=True):
        k = int((ts - t0).total_seconds() / span * (width - 1)) if span > 0 else 0
        counts[k] += 1
        if LEVEL_RANK.get(level, 0) > LEVEL_RANK.get(worst[k], 0):
            worst[k] = level
    return _strip(counts, worst)


def _strip(counts: Sequence[int], worst: Sequence[str]) -> Text:
    peak = max(counts) or 1
    text = Text()
    for c, level in zip(counts, worst, strict=True):
        glyph = (
            SPARKS[0] if c == 0 else SPARKS[max(1, round((c / peak) ** 0.5 * (len(SPARKS) - 1)))]
        )
        text.append(glyph, style=LEVEL_STYLE.get(level, "").replace(" on red", "") if c else "")
    return text


#: A known level by its rank (ranks of known levels are distinct and above 0).
_LEVEL_OF_RANK = {rank: name for name, rank in LEVEL_RANK.items()}


def activity_strip_micros(
    micros: np.ndarray, ranks: np.ndarray, m0: int, m1: int, width: int
) -> Text:
    """:func:`activity_strip` of times in microseconds since the epoch and levels by
    rank (:data:`LEVEL_RANK`, 0 for an unknown one), worked out by NumPy: the same
    floating-point steps per detection, so the same buckets."""
    span = (m1 - m0) / 10**6
    if span > 0:
        k = ((micros - m0) / 10**6 / span * (width - 1)).astype(np.int64)
    else:
        k = np.zeros(len(micros), np.int64)
    counts = np.bincount(k, minlength=width)
    top = np.zeros(width, np.int64)
    np.maximum.at(top, k, ranks)
    return _strip(counts.tolist(), [_LEVEL_OF_RANK.get(r, "") for r in top.tolist()])


def print_activity(detections: Sequence[Detection], console: Console, top: int = 12) -> None:
    """One line per host (worst first): its detections over the hunt's time span."""
    # Read as columns: detections kept as columns build no object for this.
    micros_of = getattr(detections, "timestamp_micros", None)
    micros = micros_of() if micros_of is not None else None
    if micros is not None and _exact(micros):
        _print_activity_micros(detections, micros, console, top)
        return
    times = detection_values(detections, "timestamp")
    levels = detection_values(detections, "level")
    hosts = detection_values(detections, "host")
    stamped = [k for k, ts in enumerate(times) if ts]
    if not stamped:
        return
    t0 = min(times[k] for k in stamped)
    t1 = max(times[k] for k in stamped)
    by_host: dict[str, list[int]] = defaultdict(list)
    for k in stamped:
        by_host[hosts[k] or "?"].append(k)
    ranked = sorted(
        by_host.items(),
        key=lambda kv: (-max(LEVEL_RANK.get(levels[k], 0) for k in kv[1]), -len(kv[1]), kv[0]),
    )[:top]
    table = _activity_table(console, [h for h, _ in ranked], len(by_host), t0, t1)
    width = table.columns[1].width or 10
    for host, items in ranked:
        strip = activity_strip([times[k] for k in items], [levels[k] for k in items], t0, t1, width)
        table.add_row(terminal_safe(host), strip, f"{len(items):,}")
    console.print(table)


def _print_activity_micros(
    detections: Sequence[Detection], micros: pa.Array, console: Console, top: int
) -> None:
    """:func:`print_activity` of detections kept as columns: their times in
    microseconds, grouped per host and bucketed by NumPy (no datetime per detection)."""
    stamped = np.flatnonzero(pc.is_valid(micros).to_numpy(zero_copy_only=False))
    if not stamped.size:
        return
    m = pc.fill_null(micros, 0).to_numpy()[stamped]
    levels = detection_values(detections, "level")
    hosts = detection_values(detections, "host")
    rank = np.array([LEVEL_RANK.get(levels[k], 0) for k in stamped.tolist()], np.int64)
    names = [hosts[k] or "?" for k in stamped.tolist()]
    codes = pc.dictionary_encode(pa.array(names, pa.string()))
    host = codes.indices.to_numpy()
    labels = codes.dictionary.to_pylist()
    count = np.bincount(host, minlength=len(labels))
    worst = np.zeros(len(labels), np.int64)
    np.maximum.at(worst, host, rank)
    ranked = sorted(range(len(labels)), key=lambda h: (-int(worst[h]), -int(count[h]), labels[h]))[
        :top
    ]
    m0, m1 = int(m.min()), int(m.max())
    t0, t1 = (_EPOCH + timedelta(microseconds=x) for x in (m0, m1))
    table = _activity_table(console, [labels[h] for h in ranked], len(labels), t0, t1)
    width = table.columns[1].width or 10
    for h in ranked:
        mine = host == h
        strip = activity_strip_micros(m[mine], rank[mine], m0, m1, width)
        table.add_row(terminal_safe(labels[h]), strip, f"{int(count[h]):,}")
    console.print(table)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _exact(micros: pa.Array) -> bool:
    """Whether the times' differences are exact as doubles (spans under 285 years), so
    NumPy's division rounds as :meth:`timedelta.total_seconds` does."""
    lo, hi = pc.min_max(micros).values()
    return not lo.is_valid or hi.as_py() - lo.as_py() < 2**53


def _activity_table(
    console: Console, shown: Sequence[str], hosts: int, t0: datetime, t1: datetime
) -> Table:
    """The activity table's frame: its title and columns, sized for the hosts shown."""
    host_w = min(HOST_WIDTH, max(len(control_free(h)) for h in shown))
    width = max(10, min(console.width, 200) - host_w - 12)
    table = Table(
        title=f"Activity per host, {_when(t0)} to {_when(t1)} (of {hosts} hosts)",
        box=None,
        padding=(0, 1),
        show_header=False,
    )
    table.add_column("host", min_width=host_w, max_width=host_w, overflow="fold", no_wrap=False)
    table.add_column("strip", no_wrap=True, width=width)
    table.add_column("n", justify="right", no_wrap=True)
    return table


def host_counts(hosts: Sequence[str | None], levels: Sequence[str]) -> dict[str, Counter[str]]:
    """Detections per level of each host (``?`` for none), hosts in first-seen order
    (which settles ties in the ranking): (host, level) pairs counted in C, then merged
    per host in the order a pass per detection meets them."""
    out: dict[str, Counter[str]] = {}
    for (host, level), n in Counter(zip(hosts, levels, strict=True)).items():
        counts = out.get(host or "?")
        if counts is None:
            counts = out[host or "?"] = Counter()
        counts[level] += n
    return out


def _print_counts(detections: Sequence[Detection], console: Console, top: int) -> None:
    level_of = detection_values(detections, "level")
    by_level = Counter(level_of)
    levels = Table(title="Detections by level")
    levels.add_column("level")
    levels.add_column("detections", justify="right")
    for name in LEVELS:
        if by_level.get(name):
            levels.add_row(_level(name), f"{by_level[name]:,}")
    console.print(levels)

    titles = detection_values(detections, "rule_title")
    rules: Counter[tuple[str, str]] = Counter(zip(titles, level_of, strict=True))
    rule_table = Table(title=f"Top rules (of {len(rules)})")
    rule_table.add_column("rule", overflow="fold")
    rule_table.add_column("level")
    rule_table.add_column("hits", justify="right")
    ranked = sorted(rules.items(), key=lambda kv: (-LEVEL_RANK.get(kv[0][1], 0), -kv[1]))
    for (title, level), n in ranked[:top]:
        rule_table.add_row(terminal_safe(title), _level(level), f"{n:,}")
    console.print(rule_table)

    hosts = host_counts(detection_values(detections, "host"), level_of)
    ranked_hosts = sorted(
        hosts.items(),
        key=lambda kv: tuple(-kv[1].get(name, 0) for name in LEVELS),
    )[:top]
    names = [terminal_safe(h) for h, _ in ranked_hosts]
    host_w = min(HOST_WIDTH, max((len(control_free(h)) for h, _ in ranked_hosts), default=4))
    host_table = Table(title=f"Top hosts (of {len(hosts)})")
    host_table.add_column("host", min_width=host_w, overflow="fold")
    for name in LEVELS:
        # "informational" is the widest header: "info" keeps the table in 80 columns.
        host_table.add_column(name if name != "informational" else "info", justify="right")
    for name, (_, counts) in zip(names, ranked_hosts, strict=True):
        host_table.add_row(
            name, *[f"{counts[level]:,}" if counts.get(level) else "" for level in LEVELS]
        )
    console.print(host_table)


def print_explanations(result: HuntResult, console: Console, limit: int = 50) -> None:
    """Why each detection matched: the selections that held and the field values read."""
    ranked = sorted(
        result.detections,
        key=lambda d: (-LEVEL_RANK.get(d.level, 0), d.timestamp is None, d.timestamp),
    )
    table = Table(title=f"Why they matched (top {min(limit, len(ranked))} of {len(ranked)})")
    for col in ("time", "host", "rule", "selections", "fields"):
        table.add_column(col, overflow="fold")
    for d in ranked[:limit]:
        fields = "\n".join(
            f"{terminal_safe(k)}: {terminal_safe(_clip(v))}" for k, v in sorted(d.fields.items())
        )
        table.add_row(
            d.timestamp.isoformat(timespec="seconds") if d.timestamp else "",
            terminal_safe(d.host or ""),
            f"[{LEVEL_STYLE.get(d.level, '')}]{terminal_safe(d.rule_title)}[/]",
            terminal_safe(", ".join(d.matched)),
            fields,
        )
    console.print(table)


def _clip(value: str | None, width: int = 160) -> str:
    text = value or ""
    return text if len(text) <= width else text[: width - 1] + "…"
