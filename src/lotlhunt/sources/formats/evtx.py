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
"""

from __future__ import annotations

import io
import os
import tempfile
import zlib
from array import array
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import evtx
import numpy as np
import orjson
import pyarrow as pa

from lotlhunt.sources.archives import open_unit, stream_error
from lotlhunt.sources.formats.evtx_scan import (
    ChunkScan,
    file_header_chunks,
    file_next_record,
    infer_bounds,
    mini_file,
    repaired_chunk,
    scan_chunks,
    walk_records,
)
from lotlhunt.sources.normalise import (
    CHANNEL,
    EVENT_ID,
    HOST,
    PROVIDER,
    RECORD_ID,
    TS,
    BatchBuilder,
)
from lotlhunt.sources.options import DEFAULT_OPTIONS, ReaderOptions
from lotlhunt.sources.registry import Claim, Format, register
from lotlhunt.sources.report import UnitReport
from lotlhunt.sources.unit import InputUnit
from lotlhunt.sources.values import leaves_into
from lotlhunt.tempfiles import MEMBER_PREFIX, owned_prefix

_HEADER = 4096
_CHUNK = 65536
_CHUNK_MAGIC = b"ElfChnk\x00"
_FILE_MAGIC = b"ElfFile\x00"
#: A chunk's header: its magic, record numbers and ids, offsets and checksums.
_CHUNK_HEADER = 512
_RECORD_MAGIC = b"\x2a\x2a\x00\x00"
#: The Rust parser's own threads; parallelism comes from reading many files at once.
PARSER_THREADS = 1
#: Consecutive errors after which a file is given up (guards against a parser that
#: keeps raising without making progress).
MAX_CONSECUTIVE_ERRORS = 100_000
#: Largest EVTX archive member copied out to be parsed (the temporary folder holds one
#: such copy per reader at a time; a larger member is read up to this, and an issue
#: says so). Zero-filled stretches (unwritten chunks, the stuff of archive bombs) are
#: not written but skipped, leaving a sparse file.
MAX_SPOOL_BYTES = 2 << 30


def read_evtx(
    unit: InputUnit, options: ReaderOptions, report: UnitReport
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of one EVTX unit (or of the chunks of its ``span``), filling
    ``report`` with failures."""
    batch_rows = options.batch_rows
    with _local_path(unit, report) as path:
        if path is None:
            return
        builder = BatchBuilder(unit.label, options)
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
        batch = builder.flush()
        if batch is not None:
            yield batch
        builder.report_dropped(report)


def chunk_spans(
    path: str, size: int, parts: int, options: ReaderOptions = DEFAULT_OPTIONS
) -> list[tuple[int, int, int]] | None:
    """``parts`` runs of whole chunks of an EVTX file, as (first byte, end byte, position
    of the first record), or None when the file is read whole (``options``: none apply).

    A record's position is its ordinal in the parser's iteration, errors included. The
    parser yields, for a sound chunk, the records its header numbers (last minus first
    record number, plus one; checked on all 277 files of evtx-attack-samples) and nothing
    for a chunk of zeros (space not written yet), so positions can be known without
    parsing. A chunk that is not sound (no magic where a chunk starts and not zeros, a
    header or records checksum that does not hold, numbers out of order) means the
    parser's count cannot be foretold (a damaged record can make it skip the rest of its
    chunk): the file is read whole, as before, and its positions stay those of one
    reader. Checking costs one pass over the file in this process (zlib's CRC-32). The
    last part also holds a chunk cut short by truncation, which its reader recovers.
    """
    whole = (size - _HEADER) // _CHUNK if size > _HEADER else 0
    if whole < 2 or parts < 2:
        return None
    counts: list[int] = []
    try:
        with open(path, "rb") as fh:
            if not fh.read(8).startswith(_FILE_MAGIC):
                return None
            fh.seek(_HEADER)
            for _ in range(whole):
                chunk = fh.read(_CHUNK)
                count = _chunk_records(chunk)
                if count is None and chunk.count(0) == _CHUNK:
                    count = 0
                if count is None:
                    return None
                counts.append(count)
    except OSError:  # the reader of the whole file says what went wrong
        return None
    per_part = -(-whole // min(parts, whole))
    spans: list[tuple[int, int, int]] = []
    position = 0
    for first in range(0, whole, per_part):
        last = min(first + per_part, whole)
        end = _HEADER + last * _CHUNK if last < whole else size
        spans.append((_HEADER + first * _CHUNK, end, position))
        position += sum(counts[first:last])
    return spans


def _chunk_records(chunk: bytes) -> int | None:
    """Records a sound chunk numbers, or None when it is not sound: its header's and its
    records' checksums must hold (a damaged record can make the parser skip others)."""
    if len(chunk) < _CHUNK or not chunk.startswith(_CHUNK_MAGIC):
        return None
    head = memoryview(chunk)[:_CHUNK_HEADER]
    if zlib.crc32(head[128:], zlib.crc32(head[:120])) != int.from_bytes(head[124:128], "little"):
        return None
    free = int.from_bytes(head[48:52], "little")
    if not _CHUNK_HEADER <= free <= _CHUNK:
        return None
    if zlib.crc32(memoryview(chunk)[_CHUNK_HEADER:free]) != int.from_bytes(head[52:56], "little"):
        return None
    first, last = int.from_bytes(head[8:16], "little"), int.from_bytes(head[16:24], "little")
    return last - first + 1 if first <= last <= first + _CHUNK else None


class _ChunkRange(io.RawIOBase):
    """The file's header followed by its whole chunks from byte ``start`` to ``end``: what
    the parser takes for a file of those chunks, so each part of a large file is parsed
    in place, without a copy."""

    def __init__(self, path: str, start: int, end: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._header = self._file.read(_HEADER)
        self._start = start
        self._size = _HEADER + (end - start) // _CHUNK * _CHUNK
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._at)
        if n <= 0:
            return 0
        if self._at < _HEADER:
            n = min(n, _HEADER - self._at)
            view[:n] = self._header[self._at : self._at + n]
        else:
            self._file.seek(self._start + self._at - _HEADER)
            n = self._file.readinto(view[:n]) or 0
        self._at += n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


class _Progress:
    """Where iteration stands: next position, highest record id seen, rows added."""

    def __init__(self) -> None:
        self.position = 0
        self.max_record_id = -1
        self.added = 0
        self.skip_upto = -1  # rows with a record id up to this were read already
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
    loads = orjson.loads
    errors_in_a_row = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError) as e:
            errors_in_a_row += 1
            if errors_in_a_row >= MAX_CONSECUTIVE_ERRORS:
                report.note(state.position, "too many consecutive errors; rest skipped", "file")
                return
            if state.wanted is not None:
                continue  # a recovery pass: what stays missing is counted afterwards
            if state.accounted:
                state.errors += 1
                report.note(state.position, f"EVTX: {e}")
            else:
                report.fail(state.position, f"EVTX: {e}")
            state.position += 1
            continue
        errors_in_a_row = 0
        rid = record.get("event_record_id")
        if state.wanted is not None:
            if rid not in state.wanted:
                continue
            state.wanted.discard(rid)
        elif state.accounted and type(rid) is int:
            state.read_ids.append(rid)  # read, as a row or as a failed record
        try:
            row = map_evtx_event(loads(record["data"]))
        except Exception as e:  # noqa: BLE001 - one odd record, not the file
            row = None
            report.fail(state.position, f"EVTX record not renderable: {e!r}")
        else:
            if row is None:
                report.fail(state.position, "EVTX record without Event/System")
        if row is not None:
            if row[TS] is None:  # no TimeCreated: the record header's time is close
                row[TS] = record.get("timestamp")
            if type(rid) is int:
                if rid <= state.skip_upto:
                    state.position += 1
                    continue
                state.max_record_id = max(state.max_record_id, rid)
            builder.add(row, state.position, len(record["data"]))
            state.added += 1
            if builder.full(batch_rows):
                batch = builder.flush()
                if batch is not None:
                    yield batch
        state.position += 1


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
        scans = [scan for scan, _ in scan_chunks(fh, size)]
        infer_bounds(scans, file_next_record(header))
        for scan in scans:
            if scan.empty or (cut_only and scan.size == _CHUNK):
                continue
            present += 1
            fh.seek(scan.offset)
            data = fh.read(scan.size)
            if scan.sound:
                got = int(
                    np.searchsorted(read, scan.last, "right")
                    - np.searchsorted(read, scan.first, "left")
                )
                if got >= scan.declared:
                    expected += scan.declared
                    continue
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


@contextmanager
def _local_path(unit: InputUnit, report: UnitReport) -> Iterator[str | None]:
    """A path the Rust parser can open: the file itself, or an archive member spooled to a
    temporary file (the parser needs random access, archive streams do not seek cheaply)."""
    if unit.member is None:
        yield unit.path
        return
    with tempfile.NamedTemporaryFile(prefix=owned_prefix(MEMBER_PREFIX), suffix=".evtx") as tmp:
        try:
            with open_unit(unit) as src:
                error = _copy(src, tmp, MAX_SPOOL_BYTES) or stream_error(src)
        except (OSError, NotImplementedError) as e:
            report.note(None, f"cannot extract member: {e}", "file")
            yield None
            return
        if error:
            report.note(None, error, "file")
        tmp.flush()
        yield tmp.name


def _copy(src: Any, dst: Any, limit: int) -> str | None:
    """Copy at most ``limit`` bytes (an archive bomb must not fill the disk); runs of
    zeros are skipped, not written (see :data:`MAX_SPOOL_BYTES`)."""
    copied = 0
    while chunk := src.read(_CHUNK):
        copied += len(chunk)
        if copied > limit:
            dst.write(chunk[: len(chunk) - (copied - limit)])
            return f"member larger than {limit} bytes; only the first {limit} were read"
        if chunk.count(0) == len(chunk):
            dst.seek(len(chunk), os.SEEK_CUR)
        else:
            dst.write(chunk)
    dst.truncate(copied)  # a file ending in zeros keeps its length
    return None


def map_evtx_event(doc: dict[str, Any]) -> dict[Any, Any] | None:
    """An ``{"Event": {"System": .., "EventData" | "UserData": ..}}`` document as a row.

    This is the JSON that the ``evtx`` package renders and that EVTX dumps contain.
    EventData items keep their names (unnamed ``<Data>`` become ``Data``); UserData is
    flattened to leaf names; the System values Sigma rules use become fields too.
    Returns None when the document is not of that shape. Runs once per record: kept flat.
    """
    ev = doc.get("Event")
    if type(ev) is not dict:
        return None
    system = ev.get("System")
    if type(system) is not dict:
        return None
    data = ev.get("EventData")
    if type(data) is dict:
        row: dict[Any, Any] = dict(data)
        if "#attributes" in row:
            del row["#attributes"]
        if "#text" in row:
            row.setdefault("Data", row.pop("#text"))
    else:
        row = {} if data is None else {"EventData": data}
    if "UserData" in ev:
        leaves_into(row, ev["UserData"], "UserData")
    if "ProcessingErrorData" in ev:
        leaves_into(row, ev["ProcessingErrorData"], "ProcessingErrorData")
    get = system.get
    provider = _attrs(get("Provider"))
    execution = _attrs(get("Execution"))
    source_name = provider.get("EventSourceName")
    if _SYSTEM_FIELDS.isdisjoint(row):  # the usual case: no name clashes
        row["Provider_Name"] = provider.get("Name")
        row["Provider_Guid"] = provider.get("Guid")
        row["Level"] = get("Level")
        row["Task"] = get("Task")
        row["Opcode"] = get("Opcode")
        row["Keywords"] = get("Keywords")
        row["Version"] = get("Version")
        row["Execution_ProcessID"] = execution.get("ProcessID")
        row["Execution_ThreadID"] = execution.get("ThreadID")
        row["Security_UserID"] = _attrs(get("Security")).get("UserID")
        row["Correlation_ActivityID"] = _attrs(get("Correlation")).get("ActivityID")
        if source_name is not None:
            row["EventSourceName"] = source_name
    else:  # EventData already has some of these names: it wins
        extras = {
            "Provider_Name": provider.get("Name"),
            "Provider_Guid": provider.get("Guid"),
            "Level": get("Level"),
            "Task": get("Task"),
            "Opcode": get("Opcode"),
            "Keywords": get("Keywords"),
            "Version": get("Version"),
            "Execution_ProcessID": execution.get("ProcessID"),
            "Execution_ThreadID": execution.get("ThreadID"),
            "Security_UserID": _attrs(get("Security")).get("UserID"),
            "Correlation_ActivityID": _attrs(get("Correlation")).get("ActivityID"),
        }
        if source_name is not None:
            extras["EventSourceName"] = source_name
        for key, value in extras.items():
            row.setdefault(key, value)
    time_created = get("TimeCreated")
    row[TS] = _attrs(time_created).get("SystemTime") if time_created else None
    row[HOST] = get("Computer")
    row[CHANNEL] = get("Channel")
    row[PROVIDER] = provider.get("Name") or source_name
    row[EVENT_ID] = get("EventID")
    row[RECORD_ID] = get("EventRecordID")
    return row


_SYSTEM_FIELDS = frozenset(
    "Provider_Name Provider_Guid Level Task Opcode Keywords Version Execution_ProcessID"
    " Execution_ThreadID Security_UserID Correlation_ActivityID EventSourceName".split()
)


def _attrs(node: Any) -> dict[str, Any]:
    if type(node) is dict:
        attrs = node.get("#attributes")
        return attrs if type(attrs) is dict else node
    return {}


def sniff_evtx(head: bytes, ext: str) -> Claim | None:
    """EVTX by its file signature, or by its extension: a damaged header is then reported
    by the reader as a file issue instead of the file being skipped."""
    return Claim.CERTAIN if head.startswith(_FILE_MAGIC) or ext == ".evtx" else None


register(Format("evtx", sniff_evtx, read_evtx, chunk_spans))
