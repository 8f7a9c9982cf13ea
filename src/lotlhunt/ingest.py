"""Reading logs into an engine for a hunt or a question, accounting for every record.

Every input file is either read (its records counted, its failures listed) or said to be
skipped; a hunt that found no event says what it found instead. A case file already
holding inputs refuses them again (their events would count twice).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from ._support.progress import Progress
from ._support.progress import Silent as _Silent
from .engines import create_engine
from .engines.base import (
    Engine,
    EventSink,
    InputCounts,
    ReadsFiles,
    Searchable,
)
from .errors import CaseError, InputIssue, NoEventsError, UsageError
from .events import schema
from .events.parts import EventPart
from .model import HuntStats
from .scope import EventScope
from .sources.options import DEFAULT_OPTIONS as DEFAULT_READER_OPTIONS
from .sources.options import ReaderOptions


class SearchEngine(Engine, Searchable, Protocol):
    """An engine that hunts and answers searches (the embedded one)."""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def ingest(
    engine: EventSink,
    paths: Sequence[str | Path],
    workers: int,
    progress: Progress,
    stats: HuntStats,
    issues: list[InputIssue],
    skipped: list[tuple[str, str]],
    scope: EventScope | None = None,
    fields: Sequence[str] | None = None,
    options: ReaderOptions = DEFAULT_READER_OPTIONS,
) -> None:
    """Read every input into the engine, counting every record and every failure.

    With a ``scope``, each batch loses its rows outside it before the engine sees them:
    they are counted (``records_out_of_scope``) but never stored or scanned. With
    ``fields``, only those event fields (any case) are stored beside the core columns:
    a question that reads a few fields need not pay for storing hundreds.
    """
    wanted = None if fields is None else {f.lower().replace(" ", "") for f in fields}
    from .sources import UnitReport, discover, read_all
    from .sources.parallel import input_bytes

    found = discover(paths)
    case_labels = getattr(engine, "case_labels", None)  # engines that keep cases
    if case_labels is not None:
        refuse_duplicates(case_labels(), [unit.label for unit in found.units])
    skipped.extend(found.skipped)
    issues.extend(found.issues)
    stats.files_skipped += len(found.skipped)
    stats.files_failed += sum(1 for i in found.issues if i.kind == "file")
    progress.start("reading", len(found.units))
    reports: list[UnitReport] = []
    items: Iterable[pa.RecordBatch | UnitReport | EventPart]
    whole = (scope is None or not scope.active) and fields is None
    if whole and isinstance(engine, ReadsFiles) and engine.reads_files:
        # The engine reads the files where its data lives (Spark: on the executors);
        # a scope or a field list is applied here, so such reads stay local.
        items = engine.read_units(found.units)
    else:
        # The readers drop the rows outside the scope (in their worker processes) and,
        # for an engine that scans Parquet parts, write the rows there themselves.
        target = getattr(engine, "parts_target", None)
        parts = target(input_bytes(found.units)) if target is not None and fields is None else None
        items = read_all(found.units, workers, options, scope, parts)
    for item in items:
        if isinstance(item, pa.RecordBatch):
            kept = item if wanted is None else _projected(item, wanted)
            engine.ingest(kept)
            progress.advance(0, records=item.num_rows)
        elif isinstance(item, EventPart):
            engine.add_part(item)  # type: ignore[attr-defined]  # it gave the target
            progress.advance(0, records=item.rows)
        else:
            reports.append(item)
            stats.files += 1
            stats.records += item.records
            stats.records_out_of_scope += item.out_of_scope
            stats.records_failed += item.records_failed
            issues.extend(item.issues)
            if any(i.kind == "file" for i in item.issues):
                stats.files_failed += 1
            progress.advance(1, records=item.out_of_scope)  # read, though never handed on
    engine.flush()
    engine.record_inputs(
        [
            InputCounts(
                label=r.unit.label,
                records=r.records,
                records_failed=r.records_failed,
                issues=tuple(str(i) for i in r.issues),
            )
            for r in reports
        ]
    )


def _projected(batch: pa.RecordBatch, wanted: set[str]) -> pa.RecordBatch:
    """``batch`` with its core columns and the fields named in ``wanted`` (lower-cased,
    without spaces) only."""
    names = [
        n
        for n in batch.schema.names
        if n in schema.CORE_COLUMNS or n.lower().replace(" ", "") in wanted
    ]
    return batch if len(names) == batch.num_columns else batch.select(names)


def read_into(
    engine: Engine,
    paths: Sequence[str | Path],
    workers: int = 1,
    scope: EventScope | None = None,
    options: ReaderOptions = DEFAULT_READER_OPTIONS,
) -> HuntStats:
    """Read inputs into ``engine`` without a progress display; return what was read."""
    stats = HuntStats()
    ingest(engine, paths, workers, _Silent(), stats, [], [], scope, options=options)
    return stats


def require_events(
    stats: HuntStats,
    skipped: Sequence[tuple[str, str]] = (),
    issues: Sequence[InputIssue] = (),
    case: str | Path | None = None,
) -> None:
    """Raise :class:`NoEventsError` when the inputs held no event, saying what was found
    instead (files skipped as not logs, files that could not be read)."""
    if stats.records:
        return
    if case is not None and not stats.files:
        raise NoEventsError(f"the case {case} holds no events")
    found = [f"{stats.files} log files read"]
    if stats.records_failed:
        found.append(f"{stats.records_failed:,} records that could not be read")
    if skipped:
        shown = ", ".join(f"{label} ({why})" for label, why in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        found.append(f"{len(skipped)} files skipped as not logs: {shown}{more}")
    failed = [i for i in issues if i.kind == "file"]
    if failed:
        found.append(f"{len(failed)} files that could not be opened: {failed[0]}")
    raise NoEventsError("no events in the inputs: " + "; ".join(found))


def open_events(
    paths: Sequence[str | Path],
    case: str | Path | None,
    scope: EventScope,
    workers: int | None = None,
    progress: Progress | None = None,
    fields: Sequence[str] | None = None,
) -> tuple[SearchEngine, HuntStats, list[InputIssue], list[tuple[str, str]]]:
    """An engine holding the events to look at: ``paths`` read (rows outside ``scope``
    dropped while reading), into the ``case`` file when given; or, without paths, the
    case as it is, restricted to ``scope``. Raises :class:`NoEventsError` when there are
    none. With ``fields``, logs read keep only those event fields (see :func:`ingest`).
    The caller closes the engine.

    Searches, metrics and logon summaries are the embedded engine's questions: they
    run where a case can be opened in one process."""
    if not paths and case is None:
        raise UsageError("give log paths to read, or --case with a case file")
    for p in paths:
        if not Path(p).exists():
            raise UsageError(f"input path does not exist: {p}")
    if not paths and case is not None and not Path(case).exists():
        raise UsageError(f"case file does not exist: {case}")
    stats = HuntStats()
    issues: list[InputIssue] = []
    skipped: list[tuple[str, str]] = []
    made = create_engine("duckdb", case)
    assert isinstance(made, Searchable)
    engine: SearchEngine = made
    try:
        if paths:
            ingest(
                engine,
                paths,
                workers or default_workers(),
                progress or _Silent(),
                stats,
                issues,
                skipped,
                scope,
                fields,
            )
            require_events(stats, skipped, issues)
        else:
            case_inputs(engine, stats)
            if not engine.count_events():
                raise NoEventsError(f"the case {case} holds no events")
        if case is not None:
            engine.restrict(scope)
    except BaseException:
        engine.close()
        raise
    return engine, stats, issues, skipped


def case_inputs(engine: Engine, stats: HuntStats) -> None:
    """What the case was read from, as it recorded it (nothing for a case without it),
    checked against the events it holds."""
    totals = engine.case_totals()
    if totals is None:
        return
    held = engine.count()
    if held > totals.records:
        # Events no recorded input accounts for (fewer is fine: a scoped hunt stores the
        # events in its scope only). Hunting them would report detections over inputs it
        # cannot account for.
        raise CaseError(
            f"the case is damaged or incomplete (a hunt into it was stopped?): it holds"
            f" {held:,} events, its record of inputs accounts for {totals.records:,}"
        )
    stats.files = totals.files
    stats.records = totals.records
    stats.records_failed = totals.records_failed


def refuse_duplicates(held: set[str], labels: Sequence[str]) -> None:
    """Hunting inputs into a case that already holds them (``held``: their labels) would
    count their events twice: refused (re-hunt the case without paths, or use a new
    case)."""
    again = [label for label in labels if label in held]
    if again:
        more = f" and {len(again) - 3} more" if len(again) > 3 else ""
        raise UsageError(
            f"the case already holds {', '.join(again[:3])}{more}; re-hunt it"
            " without paths, or give a new case file"
        )
