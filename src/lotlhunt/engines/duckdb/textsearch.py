"""Keywords on the whole event's text found column by column, in each column's raw bytes.

A keyword rule with no channel tests ``lower(concat_ws(chr(10), <every field>))`` for
literals on every event: Mordor's 680 k events and 543 columns, the costliest slice of
the hunt. Joining and lower-casing that text costs seconds, and a regular expression
over it (RE2 finds ~20 literals at a few hundred MB/s) costs more. Here each column's
values are read once, batch by batch, and their Arrow data buffer is searched in one
call for every keyword at once, case-insensitively (Hyperscan's SIMD literal matcher,
~1.5 GB/s on one core); a match's end offset names its value through the offsets
buffer, and a match across two values (the buffer joins them with nothing between) is
dropped. The rows found are a superset of the rows the test can be true on, so the
test as written then runs on them alone (usually a handful): on the values found, where
the test is a literal or an alternation of literals (true of the joined text exactly
where true of one of its values, :func:`per_value`); else on the rows' joined text.

A superset because:

* a keyword without ``\\n`` lies within one field's value of the joined text, so a row
  whose lower-cased text holds it has a value holding it;
* Hyperscan folds ASCII letters only: keywords of ASCII alone are searched, and a
  value holding a character DuckDB lower-cases to one of a keyword's characters that
  ASCII folding does not give (the Kelvin sign to ``k``, U+0130 to ``i``, asked of the
  engine itself, :func:`.keywords.lower_sources`) is found as well;
* the literals of a regular expression or ``LIKE`` test are those one of which every
  match holds (:func:`lotlhunt.rules.compile.literals.regex_literals`).

A test this cannot search (a keyword with ``\\n`` or beyond ASCII, no literal known)
goes the way it went before (:func:`.keywords.cheaper`), as do all when Hyperscan
cannot be imported, and a search that finds more than :data:`MAX_SHARE` of the slice's
rows stops: the test as written on that many rows costs what the old way costs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...events.parts import EventPart
from ...rules.compile.dialect import ALL_TEXT_FIELD, DUCKDB, LOWER_SUFFIX
from ...rules.compile.literals import regex_literals
from ...rules.compile.tree import Op, kernel_test
from ...rules.logsources import Variant
from .arrow_view import arrow_view
from .keywords import lower_sources
from .slices import Slices
from .spans import Span
from .store import EVENTS, ROW_ID

hyperscan: Any
try:  # a compiled extension: where it cannot be loaded, keywords go the old way
    import hyperscan
except ImportError:  # pragma: no cover - exercised by monkeypatching ``hyperscan``
    hyperscan = None

#: Rows per batch of one column read for the search: Mordor's widest column
#: (``ContextInfo``, ~5 kB a value) then holds ~80 MB at once.
BATCH_ROWS = 16_384
#: Share of the slice's rows past which the search stops and the old way is taken.
MAX_SHARE = 0.25
#: Matches (not rows) counted against that share, plus this many: a keyword repeated
#: in one value is reported at each occurrence.
SLACK = 10_000
#: Bytes of values found past which the search stops (as past its share of rows).
MAX_BYTES = 64 << 20
#: The column of a found value in :class:`Found`'s table.
VALUE = "value"
#: The lower-cased event's text as a row unit reads it.
LOWER_TEXT = DUCKDB.ident(ALL_TEXT_FIELD + LOWER_SUFFIX)


@dataclass(frozen=True)
class Keywords:
    """What to search for the row units it serves: byte strings, each caseless or not."""

    units: tuple[str, ...]
    #: Of ``units``, those true of the joined text where true of one of its values.
    per_value: frozenset[str]
    caseless: tuple[bytes, ...]
    exact: tuple[bytes, ...]

    @property
    def shortest(self) -> int:
        """Characters of the shortest literal: a value with fewer holds none of them, nor
        does its lower-cased form (DuckDB lower-cases one character to one)."""
        return min((len(w) for w in self.caseless), default=0)


def literals(sql: str) -> tuple[frozenset[str], bool] | None:
    """Literals one of which the lower-cased event's text holds wherever ``sql`` is true,
    if ``sql`` is a test of that text this search can serve (ASCII, no ``\\n`` nor NUL); and
    whether the test is true of the joined text exactly where it is true of one of its
    values (a literal or an alternation of literals: none spans two values)."""
    op, column, values = kernel_test(sql)
    if column != ALL_TEXT_FIELD + LOWER_SUFFIX:
        return None
    found: frozenset[str] | None
    if op is Op.CONTAINS:
        found, per_value = frozenset(values[:1]), True
    elif op is Op.SEARCH:
        found, per_value = frozenset(_alternatives(values[0][len("(?s)") :])), True
    elif op is Op.LIKE:
        found, per_value = regex_literals(values[0]), False
    else:
        return None
    # NUL: Hyperscan's literals end at it, and a shorter literal's match would be placed
    # before its value's start and dropped.
    if not found or any(not w or "\n" in w or "\0" in w or not w.isascii() for w in found):
        return None
    return found, per_value


def _alternatives(pattern: str) -> list[str]:
    """The literals of an alternation of escaped literals (as the compiler writes it)."""
    out: list[str] = []
    word: list[str] = []
    escaped = False
    for c in pattern:
        if escaped:
            word.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == "|":
            out.append("".join(word))
            word = []
        else:
            word.append(c)
    out.append("".join(word))
    return out


def keywords(con: duckdb.DuckDBPyConnection, units: Iterable[str]) -> Keywords | None:
    """The search serving those of ``units`` it can (None: none, or no Hyperscan)."""
    if hyperscan is None:
        return None
    served: list[str] = []
    per_value: set[str] = set()
    words: set[str] = set()
    for sql in units:
        found = literals(sql)
        if found is not None:
            served.append(sql)
            words |= found[0]
            if found[1]:
                per_value.add(sql)
    if not served:
        return None
    sources = lower_sources(con)
    odd: set[str] = set()
    for ch in {c for w in words for c in w}:
        odd.update(c for c in sources.get(ch, ()) if c.lower() != ch.lower() or not c.isascii())
    return Keywords(
        units=tuple(served),
        per_value=frozenset(per_value),
        caseless=tuple(sorted(w.encode() for w in words)),
        exact=tuple(sorted(c.encode() for c in odd)),
    )


_lock = threading.Lock()
_databases: dict[tuple[tuple[bytes, ...], tuple[bytes, ...]], Any] = {}


def _database(words: Keywords) -> Any:
    """A compiled Hyperscan database of ``words``' literals (ids: their positions, the
    caseless first), one per set of literals per process."""
    key = (words.caseless, words.exact)
    with _lock:
        db = _databases.get(key)
        if db is None:
            patterns = [*words.caseless, *words.exact]
            flags = [hyperscan.HS_FLAG_CASELESS] * len(words.caseless) + [0] * len(words.exact)
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(
                expressions=patterns,
                ids=list(range(len(patterns))),
                elements=len(patterns),
                flags=flags,
                literal=True,
            )
            _databases[key] = db
    return db


class TooMany(Exception):
    """The search found more than its share of the rows."""


class Matcher:
    """Finds which values of string arrays hold one of :class:`Keywords`' literals."""

    def __init__(self, words: Keywords) -> None:
        self.db = _database(words)
        self.scratch = hyperscan.Scratch(self.db)
        self.lengths = np.array([len(p) for p in (*words.caseless, *words.exact)], np.int64)
        self.shortest = words.shortest

    def values(self, array: pa.Array, limit: int) -> np.ndarray:
        """Indices of ``array``'s values holding a literal, sorted and distinct; raises
        :class:`TooMany` past ``limit`` matches."""
        if len(array) == 0 or array.null_count == len(array):
            return np.empty(0, np.int64)
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            array = array.cast(pa.large_string())
        wide = pa.types.is_large_string(array.type)
        buffers = array.buffers()
        if buffers[2] is None:
            return np.empty(0, np.int64)
        raw = np.frombuffer(buffers[1], np.int64 if wide else np.int32)
        offsets: np.ndarray = raw[array.offset : array.offset + len(array) + 1].astype(np.int64)
        start, stop = int(offsets[0]), int(offsets[-1])
        if stop <= start:
            return np.empty(0, np.int64)
        ends: list[int] = []
        ids: list[int] = []

        def found(pattern: int, _from: int, to: int, _flags: int, _ctx: object) -> bool:
            ends.append(to)
            ids.append(pattern)
            return len(ends) > limit

        try:
            self.db.scan(
                memoryview(buffers[2])[start:stop], match_event_handler=found, scratch=self.scratch
            )
        except hyperscan.ScanTerminated:
            raise TooMany from None
        if not ends:
            return np.empty(0, np.int64)
        end = np.asarray(ends, np.int64) + start
        begin = end - self.lengths[np.asarray(ids, np.int64)]
        at = np.searchsorted(offsets, end, side="left") - 1
        at = at[begin >= offsets[at]]  # not across two values
        at = np.unique(at)
        if array.null_count:
            at = at[np.asarray(array.is_valid())[at]]
        return at


@dataclass
class Found:
    """What a search found: the rows (sorted row ids) and the values holding a literal,
    each with its row id (a table of :data:`ROW_ID` and ``value``)."""

    rids: np.ndarray
    values: pa.Table


class _Collector:
    """The values a search finds, with their row ids, within its bounds."""

    def __init__(self, matcher: Matcher, limit: int) -> None:
        self.matcher = matcher
        self.limit = limit
        self.rids: list[pa.Array] = []
        self.values: list[pa.Array] = []
        self.held = 0
        self.nbytes = 0

    def add(self, rids: pa.Array, values: pa.Array) -> None:
        """Search ``values`` (row ids ``rids``); raises :class:`TooMany` past the bounds."""
        at = self.matcher.values(values, self.limit - self.held)
        if not len(at):
            return
        index = pa.array(at)
        self.rids.append(rids.take(index).cast(pa.int64()))
        self.values.append(values.take(index).cast(pa.large_string()))
        self.held += len(at)
        self.nbytes += self.values[-1].nbytes
        if self.nbytes > MAX_BYTES:
            raise TooMany

    def found(self) -> Found:
        table = pa.table(
            {
                ROW_ID: pa.concat_arrays(self.rids) if self.rids else pa.array([], pa.int64()),
                VALUE: pa.concat_arrays(self.values)
                if self.values
                else pa.array([], pa.large_string()),
            }
        )
        return Found(np.unique(table.column(0).to_numpy()), table)


def candidates(
    con: duckdb.DuckDBPyConnection,
    slices: Slices,
    variant: Variant,
    words: Keywords,
    rows: int,
    span: Span | None = None,
) -> Found | None:
    """The rows of the slice of ``variant`` (within ``span``) where a field's value holds
    one of ``words``' literals, and those values (rows out of the slice may be among
    them: the caller keeps its own); None past :data:`MAX_SHARE` of its ``rows`` or
    :data:`MAX_BYTES` of values found, or for literals Hyperscan refuses. Parts are read
    by pyarrow, a row group at a time; DuckDB's table one column at a time,
    :data:`BATCH_ROWS` values at once."""
    try:
        matcher = Matcher(words)
    except hyperscan.error:  # literals it refuses (past its length limit): the old way
        return None
    collector = _Collector(matcher, int(rows * MAX_SHARE) + SLACK)
    try:
        parts = slices.store.parts
        if not (parts and _from_parts(parts, span, collector)):
            collector = _Collector(collector.matcher, collector.limit)
            _from_table(con, slices, variant, span, collector)
    except TooMany:
        return None
    return collector.found()


def _from_table(
    con: duckdb.DuckDBPyConnection,
    slices: Slices,
    variant: Variant,
    span: Span | None,
    collector: _Collector,
) -> None:
    """Search each field column of the events table, on the slice's rows, one query a
    column (its non-NULL values only: one scan of every column gave every row's NULLs
    to Arrow, and cost more). Values shorter than the shortest literal are left in
    DuckDB: they hold none (:attr:`Keywords.shortest`; a literal's ASCII characters are
    as many bytes, and a value has at least as many bytes as characters), and giving
    values to Arrow is about half the cost of reading them."""
    where = slices.slice_filter(variant)
    if span is not None:
        where += f" AND {ROW_ID} BETWEEN {int(span[0])} AND {int(span[1])}"
    shortest = collector.matcher.shortest
    short = short_columns(con, max(shortest, 1))
    for name in slices.store.field_columns():
        if name in short:
            continue
        text = f"CAST({DUCKDB.ident(name)} AS VARCHAR)"
        long = f"strlen({text}) >= {shortest}" if shortest > 1 else f"{text} IS NOT NULL"
        query = f"SELECT {ROW_ID}, {text} FROM {EVENTS} WHERE {long} AND {where}"
        reader = con.sql(query).to_arrow_reader(BATCH_ROWS)
        try:
            for batch in reader:
                collector.add(batch.column(0), batch.column(1))
        finally:
            reader.close()


def short_columns(con: duckdb.DuckDBPyConnection, bound: int) -> frozenset[str]:
    """The text columns of the events table whose every stored value (NULL: none) is
    shorter than ``bound`` bytes, by the statistics DuckDB keeps of each segment: not
    worth a query (the simulated 1 M case: 68 of its 156 text columns for the shortest
    Mimikatz keyword, ``lsadump::``). A segment whose statistics give no length, or a
    column whose segments do not cover every row, is never short; where the table's
    statistics cannot be read (a view), no column is."""
    try:
        total = con.sql(f"SELECT count(*) FROM {EVENTS}").fetchone()
        rows = con.sql(
            f"SELECT column_name, sum(count), list(stats) FROM pragma_storage_info('{EVENTS}') "
            "WHERE segment_type = 'VARCHAR' GROUP BY column_name"
        ).fetchall()
    except duckdb.Error:
        return frozenset()
    if total is None:
        return frozenset()
    out: set[str] = set()
    for name, covered, stats in rows:
        if int(covered or 0) != int(total[0]):
            continue
        lengths = [_MAX_LENGTH.search(s or "") for s in stats]
        if all(m is not None and int(m.group(1)) < bound for m in lengths):
            out.add(name)
    return frozenset(out)


#: The longest value of a text segment, as DuckDB's statistics print it.
_MAX_LENGTH = re.compile(r"Max String Length: (\d+)\b")


def _from_parts(parts: Sequence[EventPart], span: Span | None, collector: _Collector) -> bool:
    """Search each field column of each part's row groups (within ``span``); False,
    having searched nothing that counts, where a part holds a field that is not text
    (its text is the engine's cast, not pyarrow's)."""
    for part in parts:
        if span is not None and (part.last_rid < span[0] or part.first_rid > span[1]):
            continue
        file = pq.ParquetFile(part.path)
        schema = file.schema_arrow  # made anew at each access
        names = [n for n in part.columns if schema.get_field_index(n) >= 0]
        for name in names:
            kind = schema.field(name).type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                return False
        for group in range(file.num_row_groups):
            table = file.read_row_group(group, columns=[ROW_ID, *names])
            rids = table.column(0).combine_chunks()
            for k in range(1, table.num_columns):
                column = table.column(k)
                if column.null_count == len(column):
                    continue
                at = 0
                for chunk in column.chunks:  # as read, not copied into one
                    collector.add(rids.slice(at, len(chunk)), chunk)
                    at += len(chunk)
            del table
    return True


def per_value(
    con: duckdb.DuckDBPyConnection, units: Sequence[str], found: Found
) -> dict[str, np.ndarray]:
    """For each of ``units`` (tests true of the joined text where true of one of its
    values), the rows of ``found.rids`` where it is true: the test as written on each
    value found, lower-cased as the slice would, ORed by row."""
    if not units or not len(found.rids):
        return {u: np.zeros(len(found.rids), bool) for u in units}
    lowered = f"lower({DUCKDB.ident(VALUE)})"
    tests = [
        f"bool_or({u.replace(LOWER_TEXT, lowered)}) AS {DUCKDB.ident(f'__u{k}')}"
        for k, u in enumerate(units)
    ]
    with arrow_view(con, "__found", found.values):
        table = con.sql(
            f"SELECT {ROW_ID}, {', '.join(tests)} FROM __found GROUP BY {ROW_ID}"
        ).to_arrow_table()
    at = spread_rows(found.rids, table.column(0).to_numpy())
    out: dict[str, np.ndarray] = {}
    for k, u in enumerate(units):
        true = np.zeros(len(found.rids), bool)
        true[at] = table.column(k + 1).fill_null(False).to_numpy(zero_copy_only=False)
        out[u] = true
    return out


def spread_rows(rids: np.ndarray, sub_rids: np.ndarray) -> np.ndarray:
    """Positions in ``rids`` of the row ids ``sub_rids`` (each present)."""
    order = np.argsort(rids, kind="stable")
    pos = np.searchsorted(rids[order], sub_rids)
    pos = np.minimum(pos, max(len(rids) - 1, 0))
    if len(sub_rids) and not np.array_equal(rids[order][pos], sub_rids):
        raise RuntimeError("a search of the event's text found rows the slice does not hold")
    return order[pos]


def searched(units: Sequence[str], words: Keywords | None) -> list[str]:
    """The ``units`` the search ``words`` serves."""
    return [u for u in units if words is not None and u in words.units]
