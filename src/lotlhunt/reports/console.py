"""The terminal summary: what was read, what ran, what fired, where."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..model import LEVEL_RANK, LEVELS, HuntResult

LEVEL_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}


def print_summary(result: HuntResult, console: Console, top: int = 10, issues: int = 10) -> None:
    """Counts, detections by level, top rules and top hosts (hosts ranked by worst level)."""
    s = result.stats
    console.print(
        f"[bold]Read[/] {s.files} files ({s.files_failed} failed, {s.files_skipped} skipped), "
        f"{s.records:,} records ({s.records_failed:,} failed). "
        f"[bold]Rules[/] {s.rules_loaded:,} loaded, {s.rules_failed:,} failed, "
        f"{s.rules_not_applicable:,} not for Windows. "
        f"[bold]{s.detections:,} detections[/], {s.correlations:,} correlation hits "
        f"in {s.seconds:.1f} s."
    )
    for note in s.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if result.correlations:
        corr = Table(title="Correlation hits")
        for col in ("first", "rule", "level", "group", "value", "events"):
            corr.add_column(col)
        ranked = sorted(result.correlations, key=lambda c: (-LEVEL_RANK.get(c.level, 0), c.first))
        for c in ranked[:top]:
            group = ", ".join(f"{k}={v}" for k, v in c.group.items())
            corr.add_row(
                c.first.isoformat(timespec="seconds"),
                escape(c.rule_title),
                f"[{LEVEL_STYLE.get(c.level, '')}]{c.level}[/]",
                escape(group),
                str(c.value),
                str(len(c.events)),
            )
        console.print(corr)
    if result.detections:
        by_level = Counter(d.level for d in result.detections)
        levels = Table(title="Detections by level")
        levels.add_column("level")
        levels.add_column("detections", justify="right")
        for name in LEVELS:
            if by_level.get(name):
                levels.add_row(f"[{LEVEL_STYLE[name]}]{name}[/]", f"{by_level[name]:,}")
        console.print(levels)

        rules: Counter[tuple[str, str]] = Counter(
            (d.rule_title, d.level) for d in result.detections
        )
        rule_table = Table(title=f"Top rules (of {len(rules)})")
        rule_table.add_column("rule")
        rule_table.add_column("level")
        rule_table.add_column("hits", justify="right")
        ranked = sorted(rules.items(), key=lambda kv: (-LEVEL_RANK.get(kv[0][1], 0), -kv[1]))
        for (title, level), n in ranked[:top]:
            rule_table.add_row(escape(title), f"[{LEVEL_STYLE.get(level, '')}]{level}[/]", f"{n:,}")
        console.print(rule_table)

        hosts: dict[str, Counter[str]] = {}
        for d in result.detections:
            hosts.setdefault(d.host or "?", Counter())[d.level] += 1
        host_table = Table(title=f"Top hosts (of {len(hosts)})")
        host_table.add_column("host")
        for name in LEVELS:
            host_table.add_column(name, justify="right")
        ranked_hosts = sorted(
            hosts.items(),
            key=lambda kv: tuple(-kv[1].get(name, 0) for name in LEVELS),
        )
        for host, counts in ranked_hosts[:top]:
            host_table.add_row(
                escape(host), *[f"{counts[name]:,}" if counts.get(name) else "" for name in LEVELS]
            )
        console.print(host_table)
    for title, items in (
        ("Input problems", result.input_issues),
        ("Rule problems", result.rule_issues),
    ):
        if items:
            console.print(f"[bold yellow]{title}[/] ({len(items)}):")
            for issue in items[:issues]:
                console.print(f"  {escape(str(issue))}", soft_wrap=True)
            if len(items) > issues:
                console.print(f"  ... and {len(items) - issues} more (see --stats / --issues)")


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
        fields = "\n".join(f"{k}: {_clip(v)}" for k, v in sorted(d.fields.items()))
        table.add_row(
            d.timestamp.isoformat(timespec="seconds") if d.timestamp else "",
            escape(d.host or ""),
            f"[{LEVEL_STYLE.get(d.level, '')}]{escape(d.rule_title)}[/]",
            escape(", ".join(d.matched)),
            escape(fields),
        )
    console.print(table)


def _clip(value: str | None, width: int = 160) -> str:
    text = value or ""
    return text if len(text) <= width else text[: width - 1] + "…"
