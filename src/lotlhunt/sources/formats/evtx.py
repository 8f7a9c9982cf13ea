"""EVTX files through the Rust ``evtx`` package, record by record, surviving damage.

How the ``evtx`` package (0.14) behaves on damaged input, which this module relies on:

* A bad file header makes ``PyEvtxParser(...)`` raise (``RuntimeError``, or ``OSError``
  for a file shorter than its header): one file issue, zero records.
* A bad record or chunk makes ``next()`` on ``records_json()`` raise ``RuntimeError``
  once, and iteration then continues with the next record (or the next chunk: a chunk
  with a bad header or string table is one error standing for all its records). Each
  such error is counted here as one failed record at the position it occurred.
* A file that ends inside a chunk is not reported at all: the partial chunk is silently
  skipped.
* Records after one it cannot walk past, or beyond a damaged header's last number, are
  skipped without a word.

So a whole file is then accounted for chunk by chunk (:mod:`.evtx_scan`): every chunk
stands for the records it declares (a sound chunk) or holds (a damaged one, walked
record by record). Records the parser did not yield are read again from a repaired copy
of their chunk; those that still cannot be read are failed records of that chunk. Thus
records + records_failed is what the chunks declare, and the parser's own errors are
notes. (A part of a large file, read on its own, holds only sound chunks.)

Cutting a file into parts is :mod:`.evtx_chunks`, spooling an archive member to a file
:mod:`.evtx_spool`, a rendered record as a row :mod:`.evtx_events`.
"""

from __future__ import annotations

import io
import os
from array import array
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO, Any

import evtx
import numpy as np
import orjson
import pyarrow as pa

from lotlhunt.sources.formats.evtx_chunks import (
    _CHUNK,
    _FILE_MAGIC,
    _HEADER,
    _ChunkRange,
    chunk_spans,
)
from lotlhunt.sources.formats.evtx_events import map_evtx_event, pack_evtx_event
from lotlhunt.sources.formats.evtx_scan import (
    ChunkScan,
    file_header_chunks,
    file_next_record,
    infer_bounds,
    mini_file,
    repaired_chunk,
    scan_chunk,
    scan_chunks,
    walk_records,
)
from lotlhunt.sources.formats.evtx_spool import _local_path
from lotlhunt.sources.normalise import TS, BatchBuilder
from lotlhunt.sources.options import ReaderOptions
from lotlhunt.sources.registry import Claim, Format, register
from lotlhunt.sources.report import UnitReport
from lotlhunt.sources.unit import InputUnit

#: The Rust parser's own threads; parallelism comes from reading many files at once.
PARSER_THREADS = 1
#: Consecutive errors after which a file is given up (guards against a parser that
#: keeps raising without making progress).
MAX_CONSECUTIVE_ERRORS = 100_000


def read_evtx(
    unit: InputUnit,
    options: ReaderOptions,
    report: UnitReport,
    into: BatchBuilder | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of one EVTX unit (or of the chunks of its ``span``), filling
    ``report`` with failures. With ``into``, the rows are added to that builder, shared
    with other small units, and left there (see :func:`lotlhunt.sources.read_unit`)."""
    batch_rows = options.batch_rows
    with _local_path(unit, report) as path:
        if path is None:
            return
        if into is None:
            builder = BatchBuilder(unit.label, options)
        else:
            builder = into
            builder.begin(unit.label)
        state = _Progress()
        state.accounted = unit.span is None
        with ExitStack() as stack:
            source: str | _ChunkRange = path
            if unit.span is not None:
                start, end, state.position = unit.span
                source = stack.enter_context(_ChunkRange(path, start, end))
            try:
                parser = evtx.PyEvtxParser(source, number_of_threads=PARSER_THREADS, indent=False)
                records = parser.records_json()
            except (RuntimeError, OSError, ValueError) as e:
                report.note(None, f"cannot open EVTX: {e}", "file")
                records = None
            if records is not None:
                yield from _drain(records, builder, report, batch_rows, state)
        if unit.span is None or unit.span[1] == os.path.getsize(path):
            # A part of a file read in parts holds sound chunks only (``chunk_spans``);
            # the last part may end in a chunk cut short.
            cut_only = unit.span is not None
            yield from _account(path, builder, report, batch_rows, state, cut_only)
        if into is None:
            batch = builder.flush()
            if batch is not None:
                yield batch
            builder.report_dropped(report)


class _Progress:
    """Where iteration stands: next position, rows added."""

    def __init__(self) -> None:
        self.position = 0
        self.added = 0
        #: Whole files are accounted chunk by chunk afterwards: the parser's errors are
        #: notes then, and the ids of the records read are kept (8 bytes each).
        self.accounted = False
        self.read_ids = array("q")
        self.errors = 0
        #: While recovering a chunk: the ids still wanted from it (others are skipped).
        self.wanted: set[int] | None = None


def _drain(
    records: Any, builder: BatchBuilder, report: UnitReport, batch_rows: int, state: _Progress
) -> Iterator[pa.RecordBatch]:
    # Runs once per record: what it needs is held in locals (the position, the rows
    # added, the builder's lists), written back to ``state`` when it stops.
    loads = orjson.loads
    to_row = map_evtx_event
    pack = pack_evtx_event
    errors_in_a_row = 0
    position, added = state.position, 0
    wanted = state.wanted  # a recovery pass: only these record ids are taken
    keep_id = state.read_ids.append if state.accounted and wanted is None else None
    rows, positions, max_bytes = builder.rows, builder.positions, builder.max_bytes
    try:
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except (RuntimeError, OSError, ValueError) as e:
                errors_in_a_row += 1
                if errors_in_a_row >= MAX_CONSECUTIVE_ERRORS:
                    report.note(position, "too many consecutive errors; rest skipped", "file")
                    return
                if wanted is not None:
                    continue  # a recovery pass: what stays missing is counted afterwards
                if state.accounted:
                    state.errors += 1
                    report.note(position, f"EVTX: {e}")
                else:
                    report.fail(position, f"EVTX: {e}")
                position += 1
                continue
            errors_in_a_row = 0
            rid = record.get("event_record_id")
            if wanted is not None:
                if rid not in wanted:
                    continue
                wanted.discard(rid)
            elif keep_id is not None and type(rid) is int:
                keep_id(rid)  # read, as a row or as a failed record
            data = record["data"]
            try:
                doc = loads(data)
                packed = pack(doc)
                if packed is None:  # the unusual record: as a dict
                    row = to_row(doc)
            except Exception as e:  # noqa: BLE001 - one odd record, not the file
                report.fail(position, f"EVTX record not renderable: {e!r}")
                position += 1
                continue
            if packed is not None:
                rows.append(packed)
            elif row is None:
                report.fail(position, "EVTX record without Event/System")
                position += 1
                continue
            else:
                if row[TS] is None:  # no TimeCreated: the record header's time is close
                    row[TS] = record.get("timestamp")
                rows.append(row)
            positions.append(position)
            builder.size += len(data)
            added += 1
            position += 1
            if len(rows) >= batch_rows or builder.size >= max_bytes:
                batch = builder.flush()
                rows, positions = builder.rows, builder.positions
                if batch is not None:
                    yield batch
    finally:
        state.position = position
        state.added += added


def _account(
    path: str,
    builder: BatchBuilder,
    report: UnitReport,
    batch_rows: int,
    state: _Progress,
    cut_only: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Account for every chunk of a whole file (with ``cut_only``, for a chunk cut short
    at its end only: the last part of a file read in parts); read again what the parser
    skipped, and count what stays unread as failed records of its chunk."""
    read = np.unique(np.frombuffer(state.read_ids, dtype=np.int64))
    state.read_ids = array("q")
    size = os.path.getsize(path)
    expected = lost = present = 0
    with open(path, "rb") as fh:
        header = fh.read(_HEADER)
        declared_chunks = file_header_chunks(header)
        scans = _tail_scans(fh, size) if cut_only else [s for s, _ in scan_chunks(fh, size)]
        infer_bounds(scans, file_next_record(header))
        for scan in scans:
            if scan.empty or (cut_only and scan.size == _CHUNK):
                continue
            present += 1
            if scan.sound:
                got = int(
                    np.searchsorted(read, scan.last, "right")
                    - np.searchsorted(read, scan.first, "left")
                )
                if got >= scan.declared:
                    expected += scan.declared
                    continue
            fh.seek(scan.offset)  # read again only where records are missing
            data = fh.read(scan.size)
            if scan.sound:
                scan.records = walk_records(data)
            ids = scan.ids
            expected += len(ids)
            missing = _unread(ids, read)
            # A record whose own number is damaged is found under another number (a
            # stray): it stands for one of the numbers the chunk misses (a hole).
            found = {rid for _, _, rid in scan.records}
            strays = found - ids
            holes = sorted(missing - found)
            stray_unread = _unread(strays, read)
            for _ in range(min(len(strays) - len(stray_unread), len(holes))):
                missing.discard(holes.pop())
            wanted = missing | stray_unread
            before = state.added
            if wanted:
                yield from _recover_chunk(
                    header, data, scan, wanted, builder, report, batch_rows, state
                )
            for _ in range(min(len(stray_unread - wanted), len(holes))):
                wanted.discard(holes.pop())
            missing = wanted - stray_unread
            recovered = state.added - before
            if missing:
                lost += len(missing)
                report.fail_many(len(missing), None, _chunk_loss(scan, len(ids), len(missing)))
            if not scan.count_known:
                report.note(
                    None,
                    f"{_where(scan)}: its header is lost and its neighbours do not tell its"
                    f" records; {len(ids)} were found in it, more may have been lost",
                    "file",
                )
            if scan.size < _CHUNK:
                report.note(
                    None,
                    f"file truncated inside its last chunk: recovered {recovered} records"
                    f" from it ({len(missing)} failed)",
                    "file",
                )
            elif recovered:
                report.note(
                    None, f"{_where(scan)} damaged: {recovered} records read from a repaired copy"
                )
    if cut_only:
        return
    if declared_chunks is not None and present < declared_chunks < (size - _HEADER) // _CHUNK + 2:
        report.note(
            None,
            f"file truncated: its header declares {declared_chunks} chunks, {present} are"
            " present; the records of the missing ones cannot be counted",
            "file",
        )
    if state.errors and not lost:
        report.note(None, f"the parser reported {state.errors} errors, yet every record was read")
    if state.added + report.records_failed != expected:
        report.note(
            None,
            f"{state.added} records read and {report.records_failed} failed, where the chunks"
            f" declare {expected} (records numbered twice, or not at all)",
            "file",
        )


def _tail_scans(fh: IO[bytes], size: int) -> list[ChunkScan]:
    """The chunk cut short at the end of a file, if any, after the whole chunks back to
    the last one written: all that accounting the last part of a file read in parts
    looks at (its other chunks are sound, read by the parser; :func:`infer_bounds`
    needs only the cut chunk's nearest written neighbour). Scanning every chunk of the
    file there cost that part's reader a pass over the whole file."""
    whole = (size - _HEADER) // _CHUNK if size > _HEADER else 0
    if size <= _HEADER + whole * _CHUNK:
        return []
    scans: list[ChunkScan] = []
    for index in range(whole, -1, -1):
        offset = _HEADER + index * _CHUNK
        fh.seek(offset)
        scan = scan_chunk(fh.read(_CHUNK), index, offset)
        scans.append(scan)
        if index < whole and not scan.empty:
            break
    return scans[::-1]


def _unread(ids: set[int], read: np.ndarray) -> set[int]:
    """The ``ids`` not among the sorted ``read``."""
    if not ids:
        return set()
    held = np.asarray(sorted(ids), np.int64)
    return set(held[~np.isin(held, read)].tolist())


def _where(scan: ChunkScan) -> str:
    return f"chunk {scan.index} (byte {scan.offset})"


def _chunk_loss(scan: ChunkScan, holds: int, missing: int) -> str:
    if scan.size < _CHUNK:
        why = f"file truncated {scan.size} bytes into it"
    elif not scan.header_ok:
        why = "its header is damaged"
    else:
        why = "records damaged"
    return f"{_where(scan)}: {missing} of its {holds} records cannot be read ({why})"


def _recover_chunk(
    header: bytes,
    data: bytes,
    scan: ChunkScan,
    missing: set[int],
    builder: BatchBuilder,
    report: UnitReport,
    batch_rows: int,
    state: _Progress,
) -> Iterator[pa.RecordBatch]:
    """Read the ``missing`` records (ids) of a chunk from a repaired copy of it; those
    read leave ``missing``."""
    chunk = repaired_chunk(data, scan)
    if chunk is None:
        return
    try:
        records = evtx.PyEvtxParser(
            io.BytesIO(mini_file(header, chunk)), number_of_threads=1, indent=False
        ).records_json()
    except (RuntimeError, OSError, ValueError):
        return
    state.wanted = missing
    try:
        yield from _drain(records, builder, report, batch_rows, state)
    finally:
        state.wanted = None


def sniff_evtx(head: bytes, ext: str) -> Claim | None:
    """EVTX by its file signature, or by its extension: a damaged header is then reported
    by the reader as a file issue instead of the file being skipped."""
    return Claim.CERTAIN if head.startswith(_FILE_MAGIC) or ext == ".evtx" else None


register(Format("evtx", sniff_evtx, read_evtx, chunk_spans, gathers=True))
