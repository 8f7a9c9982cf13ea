"""JSON lines: a stream cut into lines, each parsed by orjson (or exactly, when needed).

Also the stream handling both JSON framings share: UTF-8 chunks (UTF-16 re-encoded, BOM
dropped), a byte span of a file, and the look at the first lines that decides the framing.
A line that is not a JSON object is a failed record, never a stop.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

import orjson
import pyarrow as pa

from lotlhunt.sources.formats.json_flavours import map_document
from lotlhunt.sources.normalise import BatchBuilder
from lotlhunt.sources.options import ReaderOptions
from lotlhunt.sources.report import UnitReport

#: A run of digits this long may be a number orjson would change: integers beyond 64
#: bits become floats, and a float keeps 15-17 significant digits. A line holding one
#: where a number can be (:data:`_LONG_NUMBER`), whose orjson parse holds a float, is
#: parsed again exactly (:func:`_exact_loads`); that is rare, so the fast path stays
#: orjson (parsing every line with such a run exactly took 40 % of Mordor's reading).
_LONG_DIGITS = re.compile(rb"\d{16}")
#: Such a run where a number can hold it: after what may start a number or a part of
#: one (``:``, ``[``, ``,``, white space, a sign, a decimal point, an exponent). Runs
#: inside text after a letter (a hex string ``"0x8020000000000000"``, a hash) are no
#: number: Winlogbeat writes such a ``Keywords`` on every event.
_LONG_NUMBER = re.compile(rb"[:\[,\s.eE+-]\d{16}")


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
    builder.size += size  # what is left in the builder (a builder shared by small units)
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
    """orjson's parse, or the exact one where a long number may be in ``data``.

    orjson parses first in any case: it rejects what the exact parser would let through
    into the events table (a lone surrogate ``"\\ud800"`` that no Arrow string holds),
    and when its result holds no float it is already exact (integers within 64 bits
    are kept as written; beyond them, and for every float, it gives a float)."""
    doc = orjson.loads(data)
    if type(doc) is dict:
        types = set(map(type, doc.values()))
        if float not in types and dict not in types and list not in types:
            return doc  # a flat document without a float: the usual case, checked inline
    elif type(doc) is not list:
        return doc
    if _has_float(doc) and _LONG_NUMBER.search(data):
        return _exact_loads(data)
    return doc


def _has_float(value: Any) -> bool:
    """True when a float is anywhere in the parsed ``value``: the types of each object's
    or array's values are taken at once, and only nested ones are visited (without
    recursion: orjson nests up to 1,024 levels, deeper than Python's recursion limit)."""
    todo = [value]
    while todo:
        v = todo.pop()
        items = v.values() if type(v) is dict else v
        types = set(map(type, items))
        if float in types:
            return True
        if dict in types or list in types:
            todo.extend(x for x in items if type(x) is dict or type(x) is list)
    return False


def _has_lone_surrogate(value: Any) -> bool:
    """True when a string of the parsed ``value`` (keys too) holds a lone surrogate,
    which the exact parser accepts from an escape and no UTF-8 string can hold."""
    todo = [value]
    while todo:
        v = todo.pop()
        t = type(v)
        if t is str:
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif t is dict:
            todo.extend(v)
            todo.extend(v.values())
        elif t is list:
            todo.extend(v)
    return False


def _salvage(line: bytes, error: Exception, position: int, report: UnitReport) -> Any:
    """Retry a line whose only fault is bad UTF-8 (exporters writing a legacy code page)
    or a number orjson cannot hold (``1e400``); anything else is a failed record.
    Returns the parsed value or None."""
    if "number" in str(error):
        try:
            doc = _exact_loads(line)
        except (ValueError, RecursionError):
            pass
        else:
            if not _has_lone_surrogate(doc):
                return doc
            error = ValueError("a lone surrogate in a string")
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
