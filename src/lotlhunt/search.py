"""Searching events: keywords, field values, regular expressions, or the analyst's SQL.

Every test runs inside the engine, over the columns (no Python loop per event): keywords
are searched case-insensitively in the whole text of an event, field values compare
exactly but without regard to case (as Sigma does), regular expressions are RE2 (linear
time, whatever a pattern or a log holds). The same ``--from``/``--to``/``--host``/
``--event-id`` scope as a hunt applies, and is pushed into the readers when logs are read.

Several values of one field (``--field EventID=4624 --field EventID=4625``) are
alternatives; different fields must all hold. ``--sql`` runs one SELECT over a view
``events`` of the events the other options keep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from .engines.duckdb.queries import ANY_FIELD, SearchTerms, check_regexes, check_select
from .errors import InputIssue, UsageError
from .hunt import Progress, open_events
from .model import HuntStats
from .reports.rows import EVENT_CSV_COLUMNS, CsvRows, JsonlRows, RowSink, event_rows, table_rows
from .scope import EventScope


def parse_pairs(values: Sequence[str], option: str) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE`` arguments as pairs (split at the first ``=``; the value may hold
    more)."""
    pairs = []
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{option} takes NAME=VALUE, not {text!r}")
        pairs.append((name.strip(), value))
    return tuple(pairs)


@dataclass(frozen=True)
class SearchRequest:
    """What to search, where, and what to write."""

    paths: Sequence[str | Path] = ()
    case: str | Path | None = None
    terms: SearchTerms = field(default_factory=SearchTerms)
    sql: str | None = None
    scope: EventScope = field(default_factory=EventScope)
    workers: int | None = None
    jsonl: Path | None = None
    csv: Path | None = None
    #: Rows kept for the terminal (all rows go to the files).
    show: int = 50


@dataclass
class SearchResult:
    """How many rows matched, the first ones, and what reading the inputs met."""

    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    events: bool
    stats: HuntStats
    input_issues: list[InputIssue] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: What the user should know: a field no event has, so its test can never hold.
    notes: list[str] = field(default_factory=list)


def run_search(request: SearchRequest, progress: Progress | None = None) -> SearchResult:
    """Read (or open) the events, run the search in the engine, stream the rows to the
    requested files and keep the first ``request.show`` for the terminal."""
    # A query that cannot run is said before any log is read.
    if request.sql is not None:
        check_select(request.sql)
    check_regexes([p for _, p in request.terms.regexes])
    engine, stats, issues, skipped = open_events(
        request.paths, request.case, request.scope, request.workers, progress
    )
    notes: list[str] = []
    sinks: list[RowSink] = []
    try:
        if stats.records and stats.records == stats.records_out_of_scope:
            notes.append(f"no event read is within the scope ({request.scope.describe()})")
        names = [n for n, _ in request.terms.fields] + [
            n for n, _ in request.terms.regexes if n != ANY_FIELD
        ]
        for name in dict.fromkeys(names):
            if not engine.has_field(name):
                notes.append(f"no event has a field named {name!r}: its test never holds")
        if request.sql is not None:
            reader = engine.select(request.sql, request.terms, request.scope)
            columns = list(reader.schema.names)
            to_rows: Callable[[pa.RecordBatch], list[dict[str, Any]]] = table_rows
        else:
            reader = engine.search(request.terms, request.scope)
            columns = list(EVENT_CSV_COLUMNS)
            to_rows = event_rows
        if request.jsonl:
            sinks.append(JsonlRows(request.jsonl))
        if request.csv:
            sinks.append(CsvRows(request.csv, columns))
        shown: list[dict[str, Any]] = []
        total = 0
        for batch in reader:
            total += batch.num_rows
            need = request.show - len(shown)
            if sinks:
                rows = to_rows(batch)
                for sink in sinks:
                    sink.write(rows)
                shown.extend(rows[:need] if need > 0 else ())
            elif need > 0:
                shown.extend(to_rows(batch.slice(0, need)))
    finally:
        for sink in sinks:
            sink.close()
        stats.notes.extend(engine.memory.notes)
        engine.close()
    return SearchResult(
        columns=columns,
        rows=shown,
        total=total,
        events=request.sql is None,
        stats=stats,
        input_issues=issues,
        skipped=skipped,
        notes=notes,
    )
