"""Reading units, one at a time or many at once in worker processes.

Why processes and how they are run: :mod:`lotlhunt._support.workers`. Here: what a reader
worker does with a unit (its batches cross the pipe as Arrow IPC streams, its report
pickled), how large files are cut into parts that workers read at once, and how the
reports of those parts become one report per file again. A worker that dies (a parser
crash on hostile input) is reported against the unit it was reading; the rest is read.
"""

from __future__ import annotations

import importlib
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lotlhunt._support.gc_pause import gc_paused
from lotlhunt._support.workers import Died, Output, Unstarted, WorkerOptions, WorkerPool
from lotlhunt.events.parts import (
    ROW_ID,
    SMALL_ROWS,
    UNIT_BITS,
    EventPart,
    PartBuffer,
    PartsTarget,
)
from lotlhunt.sources.archives import is_streamed_archive
from lotlhunt.sources.normalise import BatchBuilder
from lotlhunt.sources.options import DEFAULT_OPTIONS, ReaderOptions
from lotlhunt.sources.registry import formats
from lotlhunt.sources.report import MAX_ISSUES, UnitReport
from lotlhunt.sources.unit import InputUnit

if TYPE_CHECKING:
    from lotlhunt.scope import EventScope

# message tags: Arrow IPC stream, a pickled report, a pickled EventPart (rows written)
_BATCH, _REPORT, _PART = b"B", b"C", b"P"
_SERVICE = "lotlhunt.sources.parallel:_serve"


def read_unit(
    unit: InputUnit,
    options: ReaderOptions = DEFAULT_OPTIONS,
    scope: EventScope | None = None,
    into: BatchBuilder | None = None,
) -> Iterator[pa.RecordBatch | UnitReport]:
    """Record batches of one unit, then its :class:`UnitReport`. Never raises on bad data.

    With an active ``scope``, each batch keeps only its rows in scope (the others are
    counted in ``UnitReport.out_of_scope``, never handed on): in a worker process, rows
    no one will store do not cross the pipe. ``records`` counts every row read.

    With ``into`` (a format that gathers, no scope), the rows are added to that builder
    and left there for the caller to build with other units' rows: only the report comes
    out, counting them, and without its closing count of issues not listed (the caller
    adds it once the builder's own notes are in: :func:`_gathered`)."""
    started = time.perf_counter()
    report = UnitReport(unit)
    keep = scope.apply if scope is not None and scope.active else None
    fmt = formats().get(unit.fmt)
    before = 0
    if fmt is None:
        report.note(None, f"unknown input format {unit.fmt!r}", "file")
    elif into is not None:
        before = len(into.rows)
        # Never a batch of its own: the caller cuts the shared builder's batches.
        whole = replace(options, batch_rows=1 << 62)
        batches = fmt.read(unit, whole, report, into=into)
    else:
        batches = fmt.read(unit, options, report)
    if fmt is not None:
        while True:
            # The rows of a batch are many small acyclic objects (see gc_pause). Paused
            # only while this reader runs, not while the caller holds the batch.
            try:
                with gc_paused():
                    batch = next(batches)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - a reader bug must not end a hunt
                report.note(None, f"reader failed: {type(e).__name__}: {e}", "file")
                break
            report.records += batch.num_rows
            if keep is not None:
                kept = keep(batch)
                report.out_of_scope += batch.num_rows - kept.num_rows
                batch = kept
                if not batch.num_rows:
                    continue
            yield batch
    if into is not None:
        report.records += len(into.rows) - before
    elif unit.span is None:  # parts: said once, when merged
        report.say_dropped()
    report.seconds = time.perf_counter() - started
    yield report


def read_all(
    units: Iterable[InputUnit],
    workers: int,
    options: ReaderOptions = DEFAULT_OPTIONS,
    scope: EventScope | None = None,
    parts: PartsTarget | None = None,
) -> Iterator[pa.RecordBatch | UnitReport | EventPart]:
    """Batches and reports of all units; each unit's report follows its last batch.
    With ``scope``, batches hold only the rows in it (see :func:`read_unit`).

    With ``parts``, worker processes write the rows they read as Parquet parts into
    ``parts.folder`` and hand over an :class:`EventPart` for each instead of batches
    (rows of unit number ``u`` are numbered ``u << UNIT_BITS | n``); the main process
    then copies no row. Units read in this process still give batches.

    ``workers <= 1`` reads in this process, in order, and so do inputs smaller than
    ``options.in_process_bytes`` in all (starting worker processes costs more than reading
    them). Otherwise units are read by that many worker processes, largest first (see
    :func:`_largest_first`), and batches of different units interleave.
    """
    todo = list(units)
    if workers <= 1 or input_bytes(todo) < options.in_process_bytes:
        yield from _gathered(todo, options, scope)
        return
    units, counts = _in_parts(todo, workers, options)
    folder = None
    if parts is not None:
        first = parts.claim(len(units))
        units = [replace(unit, first_rid=(first + i) << UNIT_BITS) for i, unit in enumerate(units)]
        folder = (parts.folder, parts.rows)
    units = _largest_first(units)
    pool = WorkerOptions(
        processes=min(workers, len(units)),
        in_flight=options.units_in_flight,
        buffer=options.worker_buffer,
        interpreter=options.interpreter,
    )
    yield from _merged_reports(_pooled(units, options, pool, scope, folder), counts)


def _gathered(
    units: list[InputUnit], options: ReaderOptions, scope: EventScope | None
) -> Iterator[pa.RecordBatch | UnitReport]:
    """The units read in this process, in order; consecutive small ones (at most
    ``options.gather_bytes`` and half ``batch_bytes``, of a format that gathers) share
    batches, cut between units once ``batch_rows`` rows or ``batch_bytes`` of source text
    are gathered, each unit's report after the batch holding its rows. Building a batch
    per small file cost more than reading it.

    A shared batch whose building had something to say (a core value unreadable, fields
    folded beyond the column cap) is built again unit by unit instead, so that each
    report says what was found in its own rows, as when read alone."""
    registered = formats()
    # A unit's reader cuts no batch of its own here: a unit that may well hold more
    # than half a batch is read alone, as it would have been cut anyway.
    limit = min(options.gather_bytes, options.batch_bytes // 2)
    gather = BatchBuilder("", options)
    gather.max_bytes = 1 << 62  # cut here, between units
    held: list[tuple[UnitReport, int]] = []  # each unit's report and first row

    def built() -> Iterator[pa.RecordBatch | UnitReport]:
        rows, positions = gather.rows, gather.positions
        said = (dict(gather.unreadable), gather.dropped_columns)
        batch = gather.flush()
        if said != (gather.unreadable, gather.dropped_columns):
            gather.unreadable, gather.dropped_columns = said
            ends = [start for _, start in held[1:]] + [len(rows)]
            for (report, start), end in zip(held, ends, strict=True):
                alone = BatchBuilder(report.unit.label, options)
                alone.rows, alone.positions = rows[start:end], positions[start:end]
                one = alone.flush()
                if one is not None:
                    yield one
                alone.report_dropped(report)
        elif batch is not None:
            yield batch
        for report, _ in held:
            report.say_dropped()
            yield report
        held.clear()

    for unit in units:
        fmt = registered.get(unit.fmt)
        small = _size(unit) <= limit and unit.span is None
        if fmt is None or not fmt.gathers or not small or (scope is not None and scope.active):
            yield from built()
            yield from read_unit(unit, options, scope)
            continue
        start = len(gather.rows)
        for item in read_unit(unit, options, into=gather):
            if isinstance(item, UnitReport):
                held.append((item, start))
            else:  # rows stay in ``gather``: none is expected here
                yield item
        if len(gather.rows) >= options.batch_rows or gather.size >= options.batch_bytes:
            yield from built()
    yield from built()


def _in_parts(
    units: list[InputUnit], workers: int, options: ReaderOptions
) -> tuple[list[InputUnit], dict[InputUnit, int]]:
    """The units, with each large file (not an archive member) of a format that can be
    split replaced by parts several workers read at once (one part per
    ``options.part_bytes``, up to two per worker), and how many parts each became."""
    out: list[InputUnit] = []
    counts: dict[InputUnit, int] = {}
    registered = formats()
    for unit in units:
        size = _size(unit)
        spans = None
        fmt = registered.get(unit.fmt)
        if fmt is not None and fmt.spans and unit.member is None and size >= options.split_bytes:
            parts = max(2, min(2 * workers, size // options.part_bytes))
            spans = fmt.spans(unit.path, size, parts, options)
        if spans is None:
            out.append(unit)
            continue
        counts[unit] = len(spans)
        out += [
            replace(unit, size=end - start, span=(start, end, line)) for start, end, line in spans
        ]
    return out, counts


def _largest_first(units: list[InputUnit]) -> list[InputUnit]:
    """The units, largest first, except that the members of a compressed tar stay
    together and in the order given (discovery's: archive order), placed as one unit of
    their total size. Such a tar can only be read forward: each worker then takes its
    members in archive order and streams the archive once, instead of once per member."""
    blocks: dict[str, list[InputUnit]] = {}
    streamed: dict[str, bool] = {}
    singles: list[list[InputUnit]] = []
    for unit in units:
        if unit.member is not None:
            if unit.path not in streamed:
                streamed[unit.path] = is_streamed_archive(unit.path)
            if streamed[unit.path]:
                blocks.setdefault(unit.path, []).append(unit)
                continue
        singles.append([unit])
    ordered = sorted([*singles, *blocks.values()], key=lambda b: sum(map(_size, b)), reverse=True)
    return [unit for block in ordered for unit in block]


def _pooled(
    units: list[InputUnit],
    options: ReaderOptions,
    pool: WorkerOptions,
    scope: EventScope | None = None,
    folder: tuple[str, int] | None = None,
) -> Iterator[pa.RecordBatch | UnitReport | EventPart]:
    """Batches (or parts written into ``folder``) and reports of units read by worker
    processes; a unit whose worker died is reported with the rows that arrived (or were
    written in parts that arrived); units no worker could take are read here."""
    rows: dict[InputUnit, int] = {}
    # Workers import the modules of the formats registered here (built-in ones or not).
    modules = sorted({fmt.read.__module__ for fmt in formats().values()})
    for event in WorkerPool(_SERVICE, (options, modules, scope, folder), units, pool).run():
        if isinstance(event, Output):
            tag, payload = event.data[:1], event.data[1:]
            if tag == _REPORT:
                rows.pop(event.job, None)
                yield pickle.loads(payload)
                continue
            if tag == _PART:
                part: EventPart = pickle.loads(payload)
                rows[event.job] = rows.get(event.job, 0) + part.rows
                yield part
                continue
            batch = pa.ipc.open_stream(pa.py_buffer(payload)).read_next_batch()
            rows[event.job] = rows.get(event.job, 0) + batch.num_rows
            yield batch
        elif isinstance(event, Died):
            yield _crash_report(event.job, rows.pop(event.job, 0), event.exit_code)
        elif isinstance(event, Unstarted):
            yield from read_unit(event.job, options, scope)


def _crash_report(unit: InputUnit, rows: int, exit_code: int | None) -> UnitReport:
    report = UnitReport(unit, records=rows)
    report.note(
        None,
        f"reader process died (exit code {exit_code}) after {rows}"
        " rows; the rest of this input was not read",
        "file",
    )
    return report


def _merged_reports(
    items: Iterator[pa.RecordBatch | UnitReport | EventPart], counts: dict[InputUnit, int]
) -> Iterator[pa.RecordBatch | UnitReport | EventPart]:
    """``items`` with the reports of a file read in parts merged into one, yielded when
    its last part is done: a file is one input whatever the readers did with it."""
    if not counts:
        yield from items
        return
    waiting: dict[InputUnit, list[UnitReport]] = {}
    for item in items:
        if not isinstance(item, UnitReport) or item.unit.span is None:
            yield item
            continue
        whole = replace(item.unit, span=None)
        got = waiting.setdefault(whole, [])
        got.append(item)
        if len(got) == counts[whole]:
            del waiting[whole]
            yield _merge(whole, got)
    for whole, got in waiting.items():  # only if the pool stopped early: every part reports
        yield _merge(whole, got)


def _merge(unit: InputUnit, reports: list[UnitReport]) -> UnitReport:
    """One report of a file from the reports of its parts, issues in file order."""
    merged = UnitReport(replace(unit, size=sum(r.unit.size for r in reports)))
    for r in sorted(reports, key=lambda r: r.unit.span or (0, 0, 0)):
        merged.records += r.records
        merged.records_failed += r.records_failed
        merged.out_of_scope += r.out_of_scope
        merged.issues_dropped += r.issues_dropped
        merged.seconds += r.seconds
        merged.issues += r.issues
    if len(merged.issues) > MAX_ISSUES:
        merged.issues_dropped += len(merged.issues) - MAX_ISSUES
        del merged.issues[MAX_ISSUES:]
    merged.say_dropped()
    return merged


def input_bytes(units: Iterable[InputUnit]) -> int:
    """Bytes the units hold as read (an archive member's unpacked size)."""
    return sum(map(_size, units))


def _size(unit: InputUnit) -> int:
    if unit.size >= 0:
        return unit.size
    try:
        return os.path.getsize(unit.path)
    except OSError:
        return 0


def _serve(
    setup: tuple[ReaderOptions, list[str], EventScope | None, tuple[str, int] | None],
) -> Callable[[InputUnit], Iterator[tuple[Any, ...]]]:
    """A reader worker's handler (see :mod:`lotlhunt._support.workers`), once the modules
    that register the parent's formats are imported. With a folder, the rows are written
    there as parts (see :func:`_written`)."""
    options, modules, scope, folder = setup
    for module in modules:
        importlib.import_module(module)
    pool = pa.default_memory_pool()

    def read(unit: InputUnit) -> Iterator[tuple[Any, ...]]:
        if folder is not None and unit.first_rid >= 0:
            yield from _written(unit, options, scope, folder)
            return
        for item in read_unit(unit, options, scope):
            if isinstance(item, pa.RecordBatch):
                yield _BATCH, _ipc_bytes(item)
                del item
                # Arrow's allocator keeps freed pages for reuse; batches of very different
                # sizes leave them unused (a reader held 250 MB instead of 180 on Mordor).
                pool.release_unused()
            else:
                yield _REPORT, pickle.dumps(item)

    return read


def _written(
    unit: InputUnit, options: ReaderOptions, scope: EventScope | None, folder: tuple[str, int]
) -> Iterator[tuple[Any, ...]]:
    """A worker's messages for ``unit`` when it stores the rows itself: each part once
    written (rows numbered from ``unit.first_rid``), then the report.

    Parts end with the unit (a part held across units would be lost, uncounted, if the
    worker then died). What is left at the end, under ``SMALL_ROWS`` rows, crosses the
    pipe as batches instead, for the engine to gather: every query binds every part, and
    many small files must not become many small parts (the 277 attack samples as 277
    parts: 0.1-0.2 s a query on 8,255 rows; as one part, milliseconds). Those batches
    carry their rows' ids too: numbered by the engine in the order batches arrive, two
    identical events of two files would tie one way or the other from run to run."""
    pool = pa.default_memory_pool()
    buffer = PartBuffer(folder[0], rows=folder[1])
    held: list[pa.RecordBatch] = []
    n = unit.first_rid
    for item in read_unit(unit, options, scope):
        if isinstance(item, pa.RecordBatch):
            rids = pa.array(range(n, n + item.num_rows), pa.int64())
            n += item.num_rows
            item = item.append_column(ROW_ID, rids)
            held.append(item)
            buffer.add(pa.Table.from_batches([item]))
            del item
            written = buffer.take()
            if written:
                held.clear()
            for part in written:
                yield _PART, pickle.dumps(part)
                pool.release_unused()
            continue
        if sum(b.num_rows for b in held) >= SMALL_ROWS:
            buffer.flush()
            for part in buffer.take():
                yield _PART, pickle.dumps(part)
        else:
            for batch in held:
                yield _BATCH, _ipc_bytes(batch)
        held.clear()
        pool.release_unused()
        yield _REPORT, pickle.dumps(item)


def _ipc_bytes(batch: pa.RecordBatch) -> pa.Buffer:
    """The batch as an Arrow IPC stream, written once into a buffer sized in advance
    (a growing buffer copies a many-megabyte batch over and over)."""
    schema = batch.schema.serialize()
    size = pa.ipc.get_record_batch_size(batch) + 2 * schema.size + 4096
    buffer = pa.allocate_buffer(size)
    sink = pa.FixedSizeBufferWriter(buffer)
    try:
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
    except (pa.ArrowInvalid, OSError):  # the estimate was short: let it grow
        grown = pa.BufferOutputStream()
        with pa.ipc.new_stream(grown, batch.schema) as writer:
            writer.write_batch(batch)
        return grown.getvalue()
    return buffer.slice(0, sink.tell())
