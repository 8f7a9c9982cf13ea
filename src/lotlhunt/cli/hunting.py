"""Everyday hunting commands: ``search``, ``stats``, ``logons``, and the scope options
they share with ``hunt`` (``--from``/``--to``/``--host``/``--event-id``).

Thin shells: each builds a request, calls the library, prints rich tables whose every
cell from a log is made safe for the terminal (:func:`~lotlhunt.reports.rows.terminal_text`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from .errors import LotlhuntError, NoEventsError, UsageError
from .model import iso
from .reports.issues import write_issue_lines
from .reports.rows import CsvRows, JsonlRows, plain, terminal_text
from .scope import EventScope
from .search import parse_pairs

F = TypeVar("F", bound=Callable[..., Any])
EXIT_FAILURE = 1


def event_scope_options(func: F) -> F:
    """``--from``, ``--to``, ``--host`` and ``--event-id``, as ``hunt`` and the other
    commands that read events take them."""
    options = [
        click.option(
            "--from",
            "since",
            metavar="TIME",
            help="Only events at or after TIME: ISO 8601 (2026-03-01T10:00Z) or back from "
            "now (30m, 12h, 7d, 2w).",
        ),
        click.option("--to", "until", metavar="TIME", help="Only events before TIME."),
        click.option(
            "--host",
            "hosts",
            multiple=True,
            metavar="GLOB",
            help="Only events of hosts matching GLOB (* and ?, any case; repeatable).",
        ),
        click.option(
            "--event-id",
            "event_ids",
            multiple=True,
            type=int,
            metavar="ID",
            help="Only events with this event id (repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def event_scope(
    since: str | None, until: str | None, hosts: Sequence[str], event_ids: Sequence[int]
) -> EventScope:
    try:
        return EventScope.parse(since, until, hosts, event_ids)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc


def _fail(err: Console, exc: LotlhuntError) -> None:
    err.print(f"[bold red]error:[/] {terminal_text(str(exc))}")
    sys.exit(EXIT_FAILURE)


def run_or_exit(work: Callable[[], Any]) -> Any:
    """``work()``, with usage errors as click's (exit 2) and others as exit 1."""
    try:
        return work()
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except (NoEventsError, LotlhuntError) as exc:
        _fail(Console(stderr=True), exc)


def _cell(value: object, width: int = 80) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return terminal_text(value if isinstance(value, str) else plain(value), width)


#: Fields every EVTX event carries from its System part: noise in a search's terminal
#: table (the files keep them).
SYSTEM_FIELDS = frozenset(
    "provider_name provider_guid level task opcode keywords version execution_processid"
    " execution_threadid security_userid correlation_activityid eventsourcename".split()
)


def _fields_text(fields: dict[str, Any], first: Sequence[str]) -> str:
    """An event's fields as ``name: value`` pairs, those asked about first, without the
    System fields every event has."""
    order = {name: i for i, name in enumerate(first)}
    names = sorted(
        (n for n in fields if n.lower() not in SYSTEM_FIELDS or n.lower() in order),
        key=lambda n: order.get(n.lower(), len(order)),
    )
    return "; ".join(f"{n}: {fields[n]}" for n in names)


#: Integer columns that name things, printed without thousands separators.
IDENTIFIERS = frozenset({"event_id", "record_id", "position"})


def print_table(
    console: Console, title: str, table: pa.Table, limit: int | None = None, width: int = 80
) -> None:
    """An Arrow table as a rich table (the first ``limit`` rows)."""
    rows = table.slice(0, limit).to_pylist() if limit is not None else table.to_pylist()
    shown = Table(
        title=terminal_text(title)
        + (f" (first {limit} of {table.num_rows:,})" if limit and table.num_rows > limit else "")
    )
    for name in table.column_names:
        numeric = pa.types.is_integer(table.schema.field(name).type) or pa.types.is_floating(
            table.schema.field(name).type
        )
        shown.add_column(
            terminal_text(name), justify="right" if numeric else "left", overflow="fold"
        )
    for row in rows:
        shown.add_row(
            *[
                f"{v:,}"
                if isinstance(v, int) and not isinstance(v, bool) and k not in IDENTIFIERS
                else _cell(v, width)
                for k, v in row.items()
            ]
        )
    console.print(shown)


def _shortened(table: pa.Table, column: str = "source") -> pa.Table:
    """``table`` with the paths in ``column`` shown from the folder they all share."""
    paths = [p for p in table.column(column).to_pylist() if p]
    if len(paths) < 2:
        return table
    try:
        common = os.path.commonpath(paths)
    except ValueError:  # absolute and relative paths mixed
        return table
    if not common or common == os.sep:
        return table
    cut = len(common.rstrip(os.sep)) + 1
    short = [None if p is None else p[cut:] or p for p in table.column(column).to_pylist()]
    index = table.column_names.index(column)
    return table.set_column(index, f"{column} in {common}{os.sep}", pa.array(short, pa.string()))


def write_table(table: pa.Table, jsonl: Path | None, csv_path: Path | None) -> None:
    """All rows of ``table`` to the files asked for."""
    rows = table.to_pylist()
    if jsonl:
        sink = JsonlRows(jsonl)
        sink.write(rows)
        sink.close()
    if csv_path:
        csv_sink = CsvRows(csv_path, table.column_names)
        csv_sink.write(rows)
        csv_sink.close()


def reading_progress() -> Any:
    """The hunt's progress bar on stderr (records read, files done), for commands that
    read logs."""
    from .cli import RichProgress

    return RichProgress(Console(stderr=True))


def read_summary(stats: Any, skipped: Sequence[tuple[str, str]], issues: Sequence[Any]) -> str:
    """One line on what reading met, for commands that read logs."""
    text = f"Read {stats.files} files, {stats.records:,} records ({stats.records_failed:,} failed"
    if stats.records_out_of_scope:
        text += f", {stats.records_out_of_scope:,} outside --from/--to/--host/--event-id"
    text += ")"
    if skipped:
        names = ", ".join(label for label, _ in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        text += f"; skipped (not logs): {names}{more}"
    if issues:
        text += f"; {len(issues)} input problems"
    return text + "."


_PATHS = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
_CASE = click.option(
    "--case",
    type=click.Path(path_type=Path),
    help="DuckDB case file: without PATHs, read it; with PATHs, store the logs there.",
)
_WORKERS = click.option(
    "--workers", type=click.IntRange(min=1), help="Reader processes (default: cores)."
)
_JSONL = click.option("--jsonl", type=click.Path(path_type=Path), help="Write rows as JSON lines.")
_ISSUES = click.option(
    "--issues",
    "issues_path",
    type=click.Path(path_type=Path),
    help="Write every input problem and skipped file as JSON lines.",
)
_CSV = click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write rows as CSV.")


@click.command()
@_PATHS
@_CASE
@click.option(
    "--keyword",
    "-k",
    "keywords",
    multiple=True,
    help="Text anywhere in the event, any case (repeatable: any of them).",
)
@click.option("--all-keywords", is_flag=True, help="Every --keyword must occur, not any.")
@click.option(
    "--field",
    "-f",
    "fields",
    multiple=True,
    metavar="NAME=VALUE",
    help="Field equals VALUE, any case (repeatable; one field's values are alternatives).",
)
@click.option(
    "--regex",
    "-r",
    "regexes",
    multiple=True,
    metavar="NAME=RE",
    help="Field matches the RE2 expression (NAME * for the whole event; repeatable).",
)
@click.option(
    "--sql",
    metavar="SELECT",
    help="One SELECT over the view 'events' of the events the other options keep.",
)
@event_scope_options
@_JSONL
@_CSV
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="Rows shown in the terminal (files get all).",
)
@_ISSUES
@_WORKERS
def search(
    paths: tuple[Path, ...],
    case: Path | None,
    keywords: tuple[str, ...],
    all_keywords: bool,
    fields: tuple[str, ...],
    regexes: tuple[str, ...],
    sql: str | None,
    since: str | None,
    until: str | None,
    hosts: tuple[str, ...],
    event_ids: tuple[int, ...],
    jsonl: Path | None,
    csv_path: Path | None,
    limit: int,
    issues_path: Path | None,
    workers: int | None,
) -> None:
    """Search events by keyword, field value, regular expression or SQL."""
    from .engines.base import SearchTerms
    from .search import SearchRequest, run_search

    def work() -> Any:
        request = SearchRequest(
            paths=paths,
            case=case,
            terms=SearchTerms(
                keywords=keywords,
                all_keywords=all_keywords,
                fields=parse_pairs(fields, "--field"),
                regexes=parse_pairs(regexes, "--regex"),
            ),
            sql=sql,
            scope=event_scope(since, until, hosts, event_ids),
            workers=workers,
            jsonl=jsonl,
            csv=csv_path,
            show=limit,
        )
        with reading_progress() as progress:
            return run_search(request, progress)

    result = run_or_exit(work)
    if issues_path:
        write_issue_lines(issues_path, result.input_issues, result.skipped)
    console = Console()
    err = Console(stderr=True)
    if paths:
        err.print(terminal_text(read_summary(result.stats, result.skipped, result.input_issues)))
    for note in result.notes:
        err.print(f"[yellow]note:[/] {terminal_text(note)}")
    table = Table(
        title=f"{result.total:,} {'events' if result.events else 'rows'}"
        + (f" (first {len(result.rows)})" if result.total > len(result.rows) else "")
    )
    if result.events:
        asked = [n.lower() for n, _ in (*parse_pairs(fields, ""), *parse_pairs(regexes, ""))]
        # The fields are what the hunter reads: they get most of the width.
        table.expand = True
        for col, ratio in (("time", 2), ("host", 2), ("event", 2), ("fields", 7)):
            table.add_column(col, overflow="fold", ratio=ratio)
        for row in result.rows:
            table.add_row(
                terminal_text((row["timestamp"] or "")[:19].replace("T", " ")),
                terminal_text(row["host"]),
                terminal_text(f"{row['channel'] or ''} {row['event_id'] or ''}".strip()),
                terminal_text(_fields_text(row["fields"], asked), 400),
            )
    else:
        for col in result.columns:
            table.add_column(terminal_text(col), overflow="fold")
        for row in result.rows:
            table.add_row(*[terminal_text(row.get(c), 200) for c in result.columns])
    console.print(table)


@click.command()
@_PATHS
@_CASE
@event_scope_options
@_JSONL
@click.option(
    "--top",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per table in the terminal.",
)
@_ISSUES
@_WORKERS
def stats(
    paths: tuple[Path, ...],
    case: Path | None,
    since: str | None,
    until: str | None,
    hosts: tuple[str, ...],
    event_ids: tuple[int, ...],
    jsonl: Path | None,
    top: int,
    issues_path: Path | None,
    workers: int | None,
) -> None:
    """Events per host, channel and event id, time span per log, logsources fed."""
    from .analytics.metrics import compute_metrics
    from .hunt import open_events
    from .model import HuntStats

    scope = event_scope(since, until, hosts, event_ids)

    def work() -> Any:
        # Metrics read only the core columns: no event field is stored.
        with reading_progress() as progress:
            engine, read, issues, skipped = open_events(
                paths, case, scope, workers, progress, fields=()
            )
        try:
            return compute_metrics(engine.event_counts(scope)), read, issues, skipped
        finally:
            engine.close()

    metrics, read, issues, skipped = run_or_exit(work)
    if issues_path:
        write_issue_lines(issues_path, issues, skipped)
    assert isinstance(read, HuntStats)
    console = Console()
    if paths:
        Console(stderr=True).print(terminal_text(read_summary(read, skipped, issues)))
    console.print(
        f"[bold]{metrics.total:,} events[/] from {iso(metrics.first)} to {iso(metrics.last)}, "
        f"{metrics.hosts.num_rows} hosts, {metrics.event_ids.num_rows} kinds of event, "
        f"{metrics.sources.num_rows} logs."
    )
    print_table(console, "Events per host", metrics.hosts, top)
    print_table(console, "Events per channel and event id", metrics.event_ids, top)
    print_table(console, "Logs and their time span", _shortened(metrics.sources), top)
    print_table(console, "Logsources these logs can feed", metrics.logsources, None, width=60)
    console.print(f"{metrics.logsources_unfed} known logsources get no event from these logs.")
    if jsonl:
        from .reports.rows import JsonlRows

        sink = JsonlRows(jsonl)
        for name in ("hosts", "event_ids", "sources", "logsources"):
            rows = getattr(metrics, name).to_pylist()
            sink.write([{"table": name, **row} for row in rows])
        sink.close()


@click.command()
@_PATHS
@_CASE
@event_scope_options
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
@_JSONL
@_CSV
@click.option(
    "--top",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows shown in the terminal (files get all).",
)
@_ISSUES
@_WORKERS
def logons(
    paths: tuple[Path, ...],
    case: Path | None,
    since: str | None,
    until: str | None,
    hosts: tuple[str, ...],
    event_ids: tuple[int, ...],
    late_share: float,
    late_only: bool,
    failed_only: bool,
    jsonl: Path | None,
    csv_path: Path | None,
    top: int,
    issues_path: Path | None,
    workers: int | None,
) -> None:
    """Successful and failed logons by account, type, source and target host."""
    import pyarrow.compute as pc

    from .analytics.logon_summary import FAILURE, LOGON_FIELDS, SECURITY, SUCCESS, summarise_logons
    from .hunt import open_events

    given = event_scope(since, until, hosts, event_ids)
    wanted = frozenset({SUCCESS, FAILURE}) & (given.event_ids or frozenset({SUCCESS, FAILURE}))
    if not wanted:
        raise click.UsageError("--event-id leaves neither 4624 nor 4625")
    # Only logon events are read into the engine: the others are dropped while reading.
    scope = EventScope(given.since, given.until, given.hosts, wanted)

    def work() -> Any:
        with reading_progress() as progress:
            engine, read, issues, skipped = open_events(
                paths, case, scope, workers, progress, fields=LOGON_FIELDS
            )
        try:
            events = engine.events_of(SECURITY, sorted(wanted), LOGON_FIELDS, scope)
        finally:
            engine.close()
        return summarise_logons(events, late_share), read, issues, skipped

    summary, read, issues, skipped = run_or_exit(work)
    if issues_path:
        write_issue_lines(issues_path, issues, skipped)
    table = summary.table
    if late_only and table.num_rows:
        table = table.filter(table.column("late"))
    if failed_only and table.num_rows:
        table = table.filter(pc.equal(table.column("outcome"), "failure"))
    console = Console()
    if paths:
        Console(stderr=True).print(terminal_text(read_summary(read, skipped, issues)))
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
