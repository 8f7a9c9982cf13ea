"""JSON exports: JSON lines, JSON arrays, and (concatenated) pretty-printed documents.

The framing is decided once per unit from its first lines: one object per line is JSON
lines (the fast path: split, ``orjson.loads``, append); anything else goes through a
streaming document scanner that cuts top-level objects (and the elements of a top-level
array) out of the byte stream without holding the file in memory. The *flavour* (EVTX
dump, Winlogbeat, flattened NXLog/Logstash) is sniffed per document, since one export can
mix them.

Positions: the 1-based line number for JSON lines, the 0-based element index otherwise.
A line or element that is not a JSON object is a failed record, never a stop.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

import orjson
import pyarrow as pa

from lotlhunt.sources.archives import open_unit, stream_error
from lotlhunt.sources.formats.evtx import map_evtx_event
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
from lotlhunt.sources.values import flatten_into, leaves_into

JSON_EXTENSIONS = frozenset({".json", ".jsonl", ".ndjson", ".jsonlines"})
_STRUCT = re.compile(rb'[{}\[\]"]')
#: A run of digits this long may be a number orjson would change: integers beyond 64
#: bits become floats, and a float keeps 15-17 significant digits. Data holding one is
#: parsed again exactly (:func:`_exact_loads`); such runs are rare in logs, so the
#: fast path stays orjson.
_LONG_DIGITS = re.compile(rb"\d{16}")


def _string_end(buf: bytes, start: int) -> int:
    """Index just past the quote closing the string whose text starts at ``start``, or
    -1 when ``buf`` ends first. A quote closes it unless an odd number of backslashes
    precede it. (A regular expression over the string's characters took about 125
    bytes of memory per byte of a long string, and started again on every chunk.)"""
    at = start
    while True:
        quote = buf.find(b'"', at)
        if quote < 0:
            return -1
        back = quote
        while back > start and buf[back - 1] == 0x5C:  # backslash
            back -= 1
        if (quote - back) % 2 == 0:
            return quote + 1
        at = quote + 1


def read_json(
    unit: InputUnit, options: ReaderOptions, report: UnitReport
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of one JSON unit, filling ``report`` with failures."""
    builder = BatchBuilder(unit.label, options)
    try:
        with open_unit(unit) as stream:
            if unit.span is not None:
                start, end, first_line = unit.span
                stream.seek(start)
                chunks = _span_chunks(stream, end - start, start == 0, options.read_bytes)
                yield from _lines(chunks, builder, report, options, first_line - 1)
            else:
                chunks = _utf8_chunks(stream, options.read_bytes)
                head, ended = _head(chunks)
                reader = _documents if _is_document(head, ended) else _lines
                yield from reader(_prepend(head, chunks), builder, report, options)
            error = stream_error(stream)
    except OSError as e:
        report.note(None, f"cannot read: {e}", "file")
        error = None
    if error:
        report.note(None, error, "file")
    batch = builder.flush()
    if batch is not None:
        yield batch
    builder.report_dropped(report)


def line_spans(
    path: str, size: int, parts: int, options: ReaderOptions = DEFAULT_OPTIONS
) -> list[tuple[int, int, int]] | None:
    """``parts`` byte ranges of a JSON lines file, each cut just after a line end, with
    the number of its first line; None when the file is not plain UTF-8 JSON lines (a
    document, an array, UTF-16), which is read whole.

    A SIEM export often comes as one large file, which one worker would parse alone.
    Finding the cuts reads the file up to the last cut to count line ends, so positions
    stay line numbers (733 MB: 0.75 s from the page cache, against 19-25 s of reading).
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(2) in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: re-encoded whole
                return None
            fh.seek(0)
            head, ended = _head(_utf8_chunks(fh, options.read_bytes))
            if ended or _is_document(head, ended):
                return None
            targets = [size * k // parts for k in range(1, parts)]
            spans: list[tuple[int, int, int]] = []
            start, first_line, lines, at = 0, 1, 0, 0
            fh.seek(0)
            while targets:
                chunk = fh.read(options.read_bytes)
                if not chunk:
                    break
                while targets:
                    cut = chunk.find(b"\n", max(targets[0] - at, 0))
                    if cut < 0:
                        break
                    end = at + cut + 1  # past ``start``: the chunk begins at or after it
                    targets.pop(0)
                    line_count = lines + chunk.count(b"\n", 0, cut + 1)
                    spans.append((start, end, first_line))
                    start, first_line = end, line_count + 1
                    lines, at, chunk = line_count, end, chunk[cut + 1 :]
                lines += chunk.count(b"\n")
                at += len(chunk)
    except OSError:
        return None
    if start < size:
        spans.append((start, size, first_line))
    return spans if len(spans) > 1 else None


def _span_chunks(stream: IO[bytes], length: int, first: bool, read: int) -> Iterator[bytes]:
    """``length`` bytes of the stream from where it stands, in chunks (the file's first
    part without its byte order mark, as a whole file is read)."""
    while length > 0:
        chunk = stream.read(min(read, length))
        if not chunk:
            return
        length -= len(chunk)
        if first:
            chunk, first = chunk.removeprefix(b"\xef\xbb\xbf"), False
        yield chunk


def _utf8_chunks(stream: IO[bytes], read: int) -> Iterator[bytes]:
    """The stream as UTF-8 chunks without BOM (UTF-16 exports are re-encoded)."""
    first = stream.read(read)
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        decoder = codecs.getincrementaldecoder("utf-16")("replace")
        chunk = first
        while chunk:
            yield decoder.decode(chunk).encode("utf-8", "surrogatepass")
            chunk = stream.read(read)
        yield decoder.decode(b"", final=True).encode("utf-8", "surrogatepass")
        return
    chunk = first.removeprefix(b"\xef\xbb\xbf")
    while chunk:
        yield chunk
        chunk = stream.read(read)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _head(chunks: Iterator[bytes]) -> tuple[bytes, bool]:
    """Enough leading data to judge the framing: a few lines, 64 KiB, or all there is."""
    parts: list[bytes] = []
    size = lines = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        lines += chunk.count(b"\n")
        if lines >= 4 or size >= 1 << 16:
            return b"".join(parts), False
    return b"".join(parts), True


def _is_document(head: bytes, ended: bool) -> bool:
    """True unless the data is one JSON object per line (checked on its first lines)."""
    stripped = head.lstrip()
    if stripped[:1] == b"[":
        return True
    if stripped[:1] != b"{":
        return False
    candidates = [line for line in stripped.split(b"\n", 3)[:3] if line.strip()]
    for line in candidates[1:]:
        # A pretty-printed document: a line that opens an object alone, or an indented
        # member (a first line ``{}`` parses, and must not make the rest JSON lines).
        text = line.strip()
        if text in (b"{", b"[") or (line[:1] in b" \t" and text[:1] in b'"}]'):
            return True
    for line in candidates[:2]:
        try:
            orjson.loads(line)
            return False
        except orjson.JSONDecodeError:
            continue
    return len(candidates) > 1 or ended


def _lines(
    chunks: Iterator[bytes],
    builder: BatchBuilder,
    report: UnitReport,
    options: ReaderOptions,
    lineno: int = 0,
) -> Iterator[pa.RecordBatch]:
    """JSON lines; ``lineno`` is the number of the line before the first."""
    batch_rows, max_record = options.batch_rows, options.max_record_bytes
    loads = orjson.loads
    decode_error = (ValueError, RecursionError)  # orjson's, or the exact parser's
    rows, positions = builder.rows, builder.positions
    size, max_bytes = 0, builder.max_bytes  # source bytes of ``rows``, kept here: per line
    rest = b""
    skipping = False  # inside a line that was too long
    for chunk in chunks:
        if skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                continue
            chunk, skipping, lineno = chunk[cut + 1 :], False, lineno + 1
        exact = _LONG_DIGITS.search(rest[-16:] + chunk[:16]) or _LONG_DIGITS.search(chunk)
        lines = (rest + chunk if rest else chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            lineno += 1
            try:
                doc = _loads(line) if exact else loads(line)
            except decode_error as e:
                if not line.strip():
                    continue
                doc = _salvage(line, e, lineno, report)
                if doc is None:
                    continue
            if type(doc) is dict:
                if "Event" in doc or "winlog" in doc or "event_data" in doc or "log_name" in doc:
                    try:
                        doc = map_document(doc)
                    except Exception as e:  # noqa: BLE001 - one odd document, not the file
                        report.fail(lineno, f"unexpected document shape: {e!r}")
                        continue
                rows.append(doc)
                positions.append(lineno)
                size += len(line)
                if len(rows) >= batch_rows or size >= max_bytes:
                    yield builder.flush()
                    rows, positions, size = builder.rows, builder.positions, 0
            else:
                report.fail(lineno, f"JSON value is not an object ({type(doc).__name__})")
        if len(rest) > max_record:
            report.fail(lineno + 1, f"line longer than {max_record} bytes")
            rest, skipping = b"", True
    if rest.strip():
        lineno += 1
        try:
            doc = _loads(rest)
        except decode_error as e:
            doc = _salvage(rest, e, lineno, report)
        if type(doc) is dict:
            try:
                builder.add(map_document(doc), lineno)
            except Exception as e:  # noqa: BLE001 - one odd document, not the file
                report.fail(lineno, f"unexpected document shape: {e!r}")
        elif doc is not None:
            report.fail(lineno, f"JSON value is not an object ({type(doc).__name__})")


def _exact_loads(data: bytes) -> Any:
    """A JSON value with every number as written: integers exact however large, floats
    kept as their text when a float would not give that text back (``1e400``,
    ``12345678901234567890.5``). Field values are stored as text anyway."""
    return json.loads(data, parse_float=_float_or_text)


def _float_or_text(text: str) -> float | str:
    value = float(text)
    return value if repr(value) == text else text


def _loads(data: bytes) -> Any:
    """orjson's parse, or the exact one where a long number may be in ``data``."""
    if _LONG_DIGITS.search(data):
        return _exact_loads(data)
    return orjson.loads(data)


def _salvage(line: bytes, error: Exception, position: int, report: UnitReport) -> Any:
    """Retry a line whose only fault is bad UTF-8 (exporters writing a legacy code page)
    or a number orjson cannot hold (``1e400``); anything else is a failed record.
    Returns the parsed value or None."""
    if "number" in str(error):
        try:
            return _exact_loads(line)
        except (ValueError, RecursionError):
            pass
    if "UTF-8" in str(error):
        try:
            doc = orjson.loads(line.decode("utf-8", "replace"))
        except orjson.JSONDecodeError:
            pass
        else:
            report.note(position, "invalid UTF-8 replaced by U+FFFD")
            return doc
    report.fail(position, f"not JSON: {error}")
    return None


class _Scanner:
    """Cuts top-level JSON values out of a byte stream, chunk by chunk.

    Tracks only nesting depth and string boundaries; each complete top-level object (or
    element of a top-level array) is handed to orjson. Stray text at the top level is one
    failed element per run; a document that never closes fails once, and scanning resumes
    at the next line that starts the way it did. A document larger than
    ``MAX_RECORD_BYTES`` fails once and is skipped to its end, its bytes let go as they
    are scanned (a string is scanned on from where the last chunk ended, not from its
    start): the documents after it are read.
    """

    def __init__(self, builder: BatchBuilder, report: UnitReport, options: ReaderOptions) -> None:
        self.builder, self.report, self.batch_rows = builder, report, options.batch_rows
        self.max_record = options.max_record_bytes
        self.ready: list[pa.RecordBatch] = []
        self.buf = b""
        self.pos = 0  # scan position in buf
        self.depth = 0
        self.base = 0  # 1 inside a top-level array
        self.start = -1  # start of the current element in buf, or -1
        self.index = 0  # element counter (the position column)
        self.lines_before = 0  # newlines in data already dropped from buf
        #: Inside a string that the data so far does not close: where to scan on.
        self.string_from = -1
        #: Inside an element too large to keep, skipped to its end.
        self.skipping = False

    def feed(self, chunk: bytes) -> None:
        keep = self.start if self.start >= 0 else self.pos
        if self.string_from >= 0:
            keep = min(keep, self.string_from)
        self.lines_before += self.buf.count(b"\n", 0, keep)
        self.buf = self.buf[keep:] + chunk
        self.pos -= keep
        if self.string_from >= 0:
            self.string_from -= keep
        if self.start >= 0:
            self.start = 0
        self._scan(final=False)
        if self.start >= 0 and len(self.buf) - self.start > self.max_record:
            self._skip(f"document larger than {self.max_record} bytes")

    def finish(self) -> None:
        self._scan(final=True)
        if self.skipping:
            self.report.note(
                None, "a document too large to read never closed: the rest was skipped", "file"
            )
            return
        while self.start >= 0:
            self._abandon("truncated JSON document (no closing bracket)")
            self._scan(final=True)
        self._stray(len(self.buf))

    def _line(self, offset: int) -> int:
        return self.lines_before + self.buf.count(b"\n", 0, offset) + 1

    def _stray(self, end: int) -> None:
        if self.buf[self.pos : end].strip(b" \t\r\n,"):
            self.report.fail(self.index, f"not a JSON object (line {self._line(self.pos)})")
            self.index += 1

    def _scan(self, final: bool) -> None:
        buf, search = self.buf, _STRUCT.search
        if self.string_from >= 0:  # a string left open by the last chunk
            end = _string_end(buf, self.string_from)
            if end < 0:
                self._string_open(buf)
                return
            self.pos, self.string_from = end, -1
        while True:
            m = search(buf, self.pos)
            if m is None:
                if self.start < 0 and final:
                    self._stray(len(buf))
                    self.pos = len(buf)
                return
            at, c = m.start(), buf[m.start()]
            if c == 0x22:  # '"'
                end = _string_end(buf, at + 1)
                if end < 0:
                    if final and self.start < 0:
                        self._stray(len(buf))
                        self.pos = len(buf)
                    elif self.depth > self.base:  # inside an element: scan on later
                        self.pos = at + 1
                        self._string_open(buf)
                    return
                if self.depth == self.base:  # a bare string at top level
                    self._stray(end)
                    self.pos = end
                else:
                    self.pos = end
                continue
            if self.depth == self.base:
                self._stray(at)
                self.pos = at + 1
                if c == 0x5B and self.depth == 0:  # '[' opens the top-level array
                    self.depth = self.base = 1
                elif c in (0x7B, 0x5B):  # '{' or a nested '[' starts an element
                    self.start, self.depth = at, self.depth + 1
                elif c == 0x5D and self.base == 1:  # ']' closes the top-level array
                    self.depth = self.base = 0
                else:
                    self.report.fail(self.index, f"stray {chr(c)!r} (line {self._line(at)})")
                    self.index += 1
                continue
            self.pos = at + 1
            if c in (0x7B, 0x5B):
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == self.base:
                    if self.skipping:
                        self.skipping = False
                    else:
                        self._element(buf[self.start : at + 1])
                    self.start = -1

    def _element(self, data: bytes) -> None:
        try:
            doc = _loads(data)
        except (ValueError, RecursionError) as e:
            doc = _salvage(data, e, self.index, self.report)
            if doc is None:
                self.index += 1
                return
        if type(doc) is dict:
            try:
                row = map_document(doc)
            except Exception as e:  # noqa: BLE001 - one odd document, not the file
                self.report.fail(self.index, f"unexpected document shape: {e!r}")
                self.index += 1
                return
            self.builder.add(row, self.index, len(data))
            if self.builder.full(self.batch_rows):
                self.ready.append(self.builder.flush())
        else:
            self.report.fail(self.index, f"JSON value is not an object ({type(doc).__name__})")
        self.index += 1

    def _string_open(self, buf: bytes) -> None:
        """Remember where to scan an open string on: past its text so far, less a run of
        trailing backslashes (the next chunk decides what they escape). Skipping, the
        scanned text is let go."""
        resume = len(buf)
        while resume > self.pos and buf[resume - 1] == 0x5C:
            resume -= 1
        self.string_from = max(resume, self.pos)
        if self.skipping:
            self.pos = self.string_from

    def _skip(self, why: str) -> None:
        """Fail the open element and skip it to its end, holding none of it."""
        self.report.fail(self.index, f"{why} (line {self._line(self.start)})")
        self.index += 1
        self.skipping, self.start = True, -1
        if self.string_from >= 0:
            self.pos = self.string_from

    def _abandon(self, why: str) -> None:
        """Fail the open element; resume at the next line indented like its first line."""
        start = self.start
        line_start = self.buf.rfind(b"\n", 0, start) + 1
        indent = self.buf[line_start:start]
        resume = self.buf.find(b"\n" + indent + b"{", start + 1) if not indent.strip() else -1
        self.report.fail(self.index, f"{why} (line {self._line(start)})")
        self.index += 1
        self.depth, self.start = self.base, -1
        self.pos = len(self.buf) if resume < 0 else resume + 1


def _documents(
    chunks: Iterator[bytes], builder: BatchBuilder, report: UnitReport, options: ReaderOptions
) -> Iterator[pa.RecordBatch]:
    scanner = _Scanner(builder, report, options)
    for chunk in chunks:
        scanner.feed(chunk)
        yield from scanner.ready
        scanner.ready.clear()
    scanner.finish()
    yield from scanner.ready


# Winlogbeat keys that are System values, renamed to the EVTX field names Sigma uses.
_WINLOG_SYSTEM = {
    "provider_guid": "Provider_Guid",
    "provider_name": "Provider_Name",
    "task": "Task",
    "opcode": "Opcode",
    "keywords": "Keywords",
    "version": "Version",
    "activity_id": "Correlation_ActivityID",
    "level": "Level",
    "process_id": "Execution_ProcessID",
    "thread_id": "Execution_ThreadID",
}
_WINLOG_CORE = {
    "channel": CHANNEL,
    "log_name": CHANNEL,
    "provider_name": PROVIDER,
    "source_name": PROVIDER,
    "event_id": EVENT_ID,
    "record_id": RECORD_ID,
    "record_number": RECORD_ID,
    "computer_name": HOST,
}


def map_winlogbeat(doc: dict[str, Any]) -> dict[Any, Any]:
    """Winlogbeat 7+/ECS (``winlog.*``) or legacy 6.x (top-level ``event_data``) as a row."""
    winlog = doc.get("winlog")
    legacy = type(winlog) is not dict
    wl: dict[str, Any] = doc if legacy else winlog  # type: ignore[assignment]
    row: dict[Any, Any] = {}
    for section in ("event_data", "user_data"):
        if section in wl:
            leaves_into(row, wl[section], section)
    for key, role in _WINLOG_CORE.items():
        if key in wl and row.get(role) is None:
            row[role] = wl[key]
    for key, name in _WINLOG_SYSTEM.items():
        if key in wl and name not in row:
            row[name] = wl[key]
    process = wl.get("process") if not legacy else None
    if type(process) is dict:
        row.setdefault("Execution_ProcessID", process.get("pid"))
        thread = process.get("thread")
        row.setdefault("Execution_ThreadID", thread.get("id") if type(thread) is dict else None)
    user = wl.get("user")
    if type(user) is dict and "identifier" in user:
        row.setdefault("Security_UserID", user["identifier"])
    host = doc.get("host")
    if row.get(HOST) is None and type(host) is dict:
        row[HOST] = host.get("name") or host.get("hostname")
    if row.get(EVENT_ID) is None and type(doc.get("event")) is dict:
        row[EVENT_ID] = doc["event"].get("code")
    row[TS] = doc.get("@timestamp")
    skip = {"event_data", "user_data", "@timestamp", *_WINLOG_CORE, *_WINLOG_SYSTEM}
    for key, value in wl.items():
        if key not in skip and key != "winlog":
            flatten_into(row, key if legacy else f"winlog.{key}", value)
    if not legacy:
        for key, value in doc.items():
            if key not in ("winlog", "@timestamp"):
                flatten_into(row, key, value)
    return row


def map_document(doc: dict[str, Any]) -> dict[Any, Any]:
    """Sniff one JSON document's flavour and return its row (the doc itself when flat)."""
    if "Event" in doc:
        row = map_evtx_event(doc)
        if row is not None:
            return row
    if "winlog" in doc or "event_data" in doc or ("log_name" in doc and "event_id" in doc):
        return map_winlogbeat(doc)
    return doc


def looks_like_json(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 (PowerShell Out-File)
        text = head[2 : 2 + 64].decode("utf-16-le" if head[0] == 0xFF else "utf-16-be", "ignore")
        return text.lstrip()[:1] in ("{", "[")
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return stripped[:1] in (b"{", b"[")


def sniff_json(head: bytes, ext: str) -> Claim | str | None:
    """JSON by its first character; a JSON extension alone makes text starting badly JSON
    (its lines are counted as failed records), but not binary content."""
    if looks_like_json(head):
        return Claim.CONTENT
    if ext in JSON_EXTENSIONS:
        return "binary content, not JSON" if b"\x00" in head else Claim.NAME
    return None


register(Format("json", sniff_json, read_json, line_spans))
