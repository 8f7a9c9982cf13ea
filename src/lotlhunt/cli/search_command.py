"""``lotlhunt search``: events by keyword, field value, regular expression or SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .._support.text import terminal_safe
from ..reports.issues import write_issue_lines
from ..reports.rows import plain
from ..search import parse_pairs
from .options import (
    CASE,
    CSV,
    ISSUES,
    JSONL,
    PATHS,
    WORKERS,
    event_scope,
    event_scope_options,
    run_or_exit,
)
from .progress import reading_progress
from .tables import fields_text, read_summary


@click.command()
@PATHS
@CASE
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
@JSONL
@CSV
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="Rows shown in the terminal (files get all).",
)
@ISSUES
@WORKERS
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
    from ..engines.base import SearchTerms
    from ..search import SearchRequest, run_search

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
        err.print(terminal_safe(read_summary(result.stats, result.skipped, result.input_issues)))
    for note in result.notes:
        err.print(f"[yellow]note:[/] {terminal_safe(note)}")
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
                terminal_safe((row["timestamp"] or "")[:19].replace("T", " ")),
                terminal_safe(row["host"]),
                terminal_safe(f"{row['channel'] or ''} {row['event_id'] or ''}".strip()),
                terminal_safe(fields_text(row["fields"], asked), 400),
            )
    else:
        for col in result.columns:
            table.add_column(terminal_safe(col), overflow="fold")
        for row in result.rows:
            table.add_row(*[terminal_safe(plain(row.get(c)), 200) for c in result.columns])
    console.print(table)
