"""``lotlhunt stats`` and ``lotlhunt logons``: what the logs hold, and who logged on
where. Each is a question to the engine (:mod:`lotlhunt.cli.reading`) and its tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
import pyarrow as pa
from rich.console import Console

from ..model import iso
from ..scope import EventScope
from .options import CSV, JSONL, LogsIn, logs_in_options, top_option
from .reading import ask_events
from .tables import print_table, shortened, write_table


@click.command()
@logs_in_options
@JSONL
@top_option(20, "Rows per table in the terminal.")
def stats(logs: LogsIn, jsonl: Path | None, top: int) -> None:
    """Events per host, channel and event id, time span per log, logsources fed."""
    from ..analytics.metrics import compute_metrics
    from ..reports.rows import JsonlRows

    # Metrics read only the core columns: no event field is stored.
    answer = ask_events(logs, (), lambda e: compute_metrics(e.event_counts(logs.scope)))
    metrics = answer.value
    console = Console()
    console.print(
        f"[bold]{metrics.total:,} events[/] from {iso(metrics.first)} to {iso(metrics.last)}, "
        f"{metrics.hosts.num_rows} hosts, {metrics.event_ids.num_rows} kinds of event, "
        f"{metrics.sources.num_rows} logs."
    )
    print_table(console, "Events per host", metrics.hosts, top)
    print_table(console, "Events per channel and event id", metrics.event_ids, top)
    print_table(console, "Logs and their time span", shortened(metrics.sources), top)
    print_table(console, "Logsources these logs can feed", metrics.logsources, None, width=60)
    console.print(f"{metrics.logsources_unfed} known logsources get no event from these logs.")
    if jsonl:
        sink = JsonlRows(jsonl)
        for name in ("hosts", "event_ids", "sources", "logsources"):
            rows = getattr(metrics, name).to_pylist()
            sink.write([{"table": name, **row} for row in rows])
        sink.close()


@click.command()
@logs_in_options
@click.option(
    "--late",
    "late_share",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0.01, 0.99),
    help="Share of the logs' time at their end in which a first logon is marked late.",
)
@click.option(
    "--late-only",
    is_flag=True,
    help="Only the logons whose account, source and target were first seen late.",
)
@click.option("--failed-only", is_flag=True, help="Only failed logons (4625).")
@JSONL
@CSV
@top_option(50, "Rows shown in the terminal (files get all).")
def logons(
    logs: LogsIn,
    late_share: float,
    late_only: bool,
    failed_only: bool,
    jsonl: Path | None,
    csv_path: Path | None,
    top: int,
) -> None:
    """Successful and failed logons by account, type, source and target host."""
    import pyarrow.compute as pc

    from ..analytics.logon_summary import (
        FAILURE,
        LOGON_FIELDS,
        SECURITY,
        SUCCESS,
        summarise_logons,
    )

    given = logs.scope
    wanted = frozenset({SUCCESS, FAILURE}) & (given.event_ids or frozenset({SUCCESS, FAILURE}))
    if not wanted:
        raise click.UsageError("--event-id leaves neither 4624 nor 4625")
    # Only logon events are read into the engine: the others are dropped while reading.
    scope = EventScope(given.since, given.until, given.hosts, wanted)
    answer = ask_events(
        replace(logs, scope=scope),
        LOGON_FIELDS,
        lambda e: e.events_of(SECURITY, sorted(wanted), LOGON_FIELDS, scope),
    )
    summary = summarise_logons(answer.value, late_share)
    table = summary.table
    if late_only and table.num_rows:
        table = table.filter(table.column("late"))
    if failed_only and table.num_rows:
        table = table.filter(pc.equal(table.column("outcome"), "failure"))
    console = Console()
    late = (
        int(pc.sum(pc.cast(summary.table.column("late"), pa.int64())).as_py() or 0)
        if summary.table.num_rows
        else 0
    )
    write_table(table, jsonl, csv_path)
    if not summary.logons:
        console.print("No logon events (Security 4624 or 4625) in these logs.")
        return
    console.print(
        f"[bold]{summary.logons:,} logon events[/] from {iso(summary.first)} to "
        f"{iso(summary.last)}; {summary.table.num_rows:,} distinct logons, {late:,} of them by "
        f"an account, source and target first seen after {iso(summary.late_from)} "
        f"(the last {late_share:.0%} of that time), marked late."
    )
    print_table(console, "Logons", table, top, width=60)
