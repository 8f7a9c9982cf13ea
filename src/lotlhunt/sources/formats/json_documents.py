"""JSON documents: top-level objects (and elements of a top-level array) cut out of a stream.

Pretty-printed or concatenated documents and JSON arrays are scanned chunk by chunk,
tracking only nesting depth and string boundaries, so a file is never held in memory and
a hostile document (never closed, too large) fails alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa

from lotlhunt.sources.formats.json_flavours import map_document
from lotlhunt.sources.formats.json_lines import _loads, _salvage
from lotlhunt.sources.normalise import BatchBuilder
from lotlhunt.sources.options import ReaderOptions
from lotlhunt.sources.report import UnitReport

_STRUCT = re.compile(rb'[{}\[\]"]')


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
