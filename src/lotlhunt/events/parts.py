"""Events written as Parquet parts where they are read, and what each part holds.

An engine that scans Parquet in place need not be handed rows at all: the process that
read them writes them as a part (a Parquet file in the engine's folder) and hands over
only an :class:`EventPart`, which says what the engine would otherwise have to scan for
(rows, row ids, fields, the columns each channel fills, the (channel, event id) pairs).
Reader workers then do all the per-record work, and two of them read twice as fast as
one: storing no longer waits on one process copying and inserting every row.

Row ids stay unique without coordination: the rows a worker reads of unit number ``u``
are numbered ``u << UNIT_BITS | n``, as the Parquet case store numbers them.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import schema
from .arrow_runs import with_null_gaps
from .parquet_store import ROW_ID, UNIT_BITS, FieldSpellings

__all__ = [
    "ROW_ID",
    "UNIT_BITS",
    "EventPart",
    "PartBuffer",
    "PartsTarget",
    "SMALL_ROWS",
    "Layout",
    "Spool",
    "filled_by_channel",
    "take_unified",
    "write_part",
    "write_pieces",
    "write_stream",
]

#: Rows past which a buffer is written as a part: one of DuckDB's row groups, so a part
#: is as large as what the engine's scans skip or read at once.
PART_ROWS = 122_880
#: Bytes of Arrow past which a buffer is written whatever its rows (Mordor's wide rows:
#: a row group of them is 300-400 MB), bounding a reader's memory.
PART_BYTES = 64 << 20
#: Rows a reader hands on as batches rather than write as a part of their own (what
#: is left of a unit past its last whole part): the engine gathers them into parts.
SMALL_ROWS = 32_768
#: Rows per Parquet row group of a part: the unit a scan's filters (channel, event id,
#: row id bounds) skip by their statistics.
GROUP_ROWS = 16_384
#: Parquet compression of parts: snappy writes at 3.9 us a record, zstd 6.0 (simulated
#: EVTX); parts live only as long as the engine.
COMPRESSION = "snappy"


@dataclass(frozen=True)
class EventPart:
    """One Parquet part of the events: where, how many rows, and what they hold."""

    path: str
    rows: int
    first_rid: int
    last_rid: int
    #: Field columns (neither core nor the row id), as the part spells them.
    columns: tuple[str, ...]
    #: Lower-cased channel -> lower-cased columns its rows fill.
    presence: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Distinct (channel, event id) pairs of its rows.
    pairs: frozenset[tuple[str | None, int | None]] = frozenset()


@dataclass(frozen=True)
class PartsTarget:
    """Where readers write parts, and how they number rows: ``claim(n)`` reserves ``n``
    unit numbers and returns the first (never zero: the rows the engine numbers itself
    are below ``1 << UNIT_BITS``)."""

    folder: str
    claim: Callable[[int], int]
    #: Rows per part a reader writes.
    rows: int = PART_ROWS


def filled_by_channel(
    table: pa.Table, channel: str, ignore: Iterable[str] = ()
) -> dict[str, set[str]]:
    """Lower-cased channel -> lower-cased columns its rows of ``table`` fill: one grouped
    count of non-null values per column, in Arrow."""
    if channel not in table.schema.names or not table.num_rows:
        return {}
    skip = {channel, *ignore}
    names = [n for n in table.schema.names if n not in skip]
    one = _one_channel(table.column(channel))
    if one is not None:  # the usual table (a log file is one channel): no grouping
        rows = table.num_rows
        filled = {n.lower() for n in names if table.column(n).null_count < rows}
        return {str(one[0] or "").lower(): filled}
    # Positional names: Arrow reads a name starting with "." or "[" (a field of the
    # logs may be called anything) as a path into nested columns.
    plain = table.select([channel, *names]).rename_columns(
        ["channel", *(f"c{i}" for i in range(len(names)))]
    )
    counts = plain.group_by("channel").aggregate([(f"c{i}", "count") for i in range(len(names))])
    channels = [str(c or "").lower() for c in counts.column("channel").to_pylist()]
    out: dict[str, set[str]] = {c: set() for c in channels}
    for i, name in enumerate(names):
        filled = counts.column(f"c{i}_count").to_pylist()
        for value, n in zip(channels, filled, strict=True):
            if n:
                out[value].add(name.lower())
    return out


def _one_channel(column: pa.ChunkedArray | pa.Array) -> tuple[str | None] | None:
    """``(channel,)`` when every row has that one channel (None: every row's is null),
    else None. A column is then filled for that channel when not all its values are
    null, which Arrow keeps counted: a grouped count over every column cost a part
    writer 0.6-0.9 us a record."""
    nulls = column.null_count
    if nulls == len(column):
        return (None,)
    if nulls or pa.types.is_null(column.type):
        return None
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return (low,) if low == high else None


def _with_core_columns(table: pa.Table) -> pa.Table:
    """``table`` with every core column, of its type: each part then has the columns
    every query names, whatever the reader left out."""
    for f in schema.CORE_FIELDS:
        index = table.schema.get_field_index(f.name)
        if index < 0:
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
        elif table.schema.field(index).type != f.type:
            table = table.set_column(index, f, table.column(index).cast(f.type))
    return table


def write_part(table: pa.Table, path: str, group_rows: int | None = None) -> EventPart:
    """Write ``table`` (core columns, fields, ``__rid``) as the part ``path``, without
    the fields no row fills, and say what it holds. Written under a temporary name and
    renamed: a part that exists is whole."""
    return write_pieces([table], path, group_rows)


def write_pieces(pieces: list[pa.Table], path: str, group_rows: int | None = None) -> EventPart:
    """Write ``pieces`` one after another as the part ``path`` (see :func:`write_part`),
    one row group at a time: each group's rows are copied into one table with every
    column of the part (:func:`take_unified`'s copy, a group long), written, and let go,
    and ``pieces`` is emptied as it goes. Writing a buffer never holds it twice: the copy
    of a whole buffer beside it was the peak of the process that wrote it (Mordor: a
    64 MB reader buffer, a 300-400 MB row group in the engine's process)."""
    layout = Layout()
    for table in pieces:
        layout.add(table)
    pieces.reverse()  # popped from the end: pieces leave the list, in order, as used
    return write_stream(_popped(pieces), layout, path, group_rows)


def _popped(pieces: list[pa.Table]) -> Iterator[pa.Table]:
    while pieces:
        yield pieces.pop()


class Layout:
    """The columns of the tables of one part, gathered before the part is written: each
    name's type (the first that is not Arrow's null type) and whether a row fills it."""

    def __init__(self) -> None:
        self.types: dict[str, pa.DataType] = {}
        self.filled: set[str] = set()

    def add(self, table: pa.Table | pa.RecordBatch) -> None:
        for f, column in zip(table.schema, table.columns, strict=True):
            if pa.types.is_null(self.types.get(f.name, pa.null())):
                self.types[f.name] = f.type
            if column.null_count < len(column):
                self.filled.add(f.name)

    def columns(self) -> list[tuple[str, list[str]]]:
        """The part's columns, each with the names it is gathered from: a field spelled
        several ways (names equal but for case) is one column, spelled as first seen,
        its values the first spelling's that is not null (as :class:`FieldSpellings`
        merges them). Kept: the core columns, the row id, the fields a row fills."""
        spellings = FieldSpellings()
        gathered: dict[str, list[str]] = {}
        for name in self.types:
            gathered.setdefault(spellings.spell(name), []).append(name)
        return [
            (name, names)
            for name, names in gathered.items()
            if schema.is_core(name) or name == ROW_ID or any(n in self.filled for n in names)
        ]


def write_stream(
    tables: Iterable[pa.Table], layout: Layout, path: str, group_rows: int | None = None
) -> EventPart:
    """Write ``tables`` (whose columns ``layout`` gathered, no field spelled two ways) as
    the part ``path``, a row group at a time (see :func:`write_pieces`)."""
    group = max(group_rows or GROUP_ROWS, 1)
    columns = layout.columns()
    tmp = f"{path}.tmp"
    written = _Written()
    writer: pq.ParquetWriter | None = None
    try:
        for run, rows in _runs(tables, group):
            chunk = _with_core_columns(_part_run(run, rows, columns, layout.types))
            del run
            if writer is None:
                writer = pq.ParquetWriter(tmp, chunk.schema, compression=COMPRESSION)
            elif chunk.schema != writer.schema:
                chunk = chunk.cast(writer.schema)
            writer.write_table(chunk, row_group_size=group)
            written.add(chunk)
            del chunk
        if writer is None:  # no rows: an empty part, as the whole table would have been
            empty = _with_core_columns(_part_run([], 0, columns, layout.types))
            writer = pq.ParquetWriter(tmp, empty.schema, compression=COMPRESSION)
        names = list(writer.schema.names)
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, path)
    return written.part(path, names)


def _runs(tables: Iterable[pa.Table], rows: int) -> Iterator[tuple[list[pa.Table], int]]:
    """``tables`` as runs of ``rows`` rows each (the last one shorter), a table cut
    where a run ends (zero-copy slices); each table is taken from ``tables`` only when
    the run being made needs it."""
    run: list[pa.Table] = []
    held = 0
    for table in tables:
        while table.num_rows:
            take = min(rows - held, table.num_rows)
            run.append(table.slice(0, take) if take < table.num_rows else table)
            held += take
            table = table.slice(take)
            if held == rows:
                yield run, held
                run, held = [], 0
        del table
    if run:
        yield run, held


class Spool:
    """Tables waiting to be written as one part, kept in a file (Arrow IPC streams, one
    after another) instead of memory, and read back one at a time when the part is
    written (:meth:`write`). A part is worth a row group of rows (every query binds every
    part, so parts must be few), and on wide rows that is 300-400 MB of Arrow (Mordor):
    held in memory until written, then copied, it was the peak of the process that
    gathered it. In the file it costs the operating system's page cache, which it may
    drop, instead; written and read back at memory speed."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, f"spool-{uuid.uuid4().hex[:12]}.arrows")
        self._file = open(self.path, "w+b")  # noqa: SIM115 - closed by write() or close()
        self._spans: list[tuple[int, int]] = []
        self.layout = Layout()
        self.rows = 0
        self.nbytes = 0

    def add(self, table: pa.Table) -> None:
        """Append ``table`` to the file."""
        if not table.num_rows:
            return
        self.layout.add(table)
        at = self._file.seek(0, os.SEEK_END)
        with pa.ipc.new_stream(self._file, table.schema) as stream:
            stream.write_table(table)
        self._spans.append((at, self._file.tell() - at))
        self.rows += table.num_rows
        self.nbytes += table.nbytes

    def tables(self) -> Iterator[pa.Table]:
        """The tables appended, in order, each read back from the file as it is asked for."""
        self._file.flush()
        for at, size in self._spans:
            data = os.pread(self._file.fileno(), size, at)
            yield pa.ipc.open_stream(pa.py_buffer(data)).read_all()

    def write(self, path: str, group_rows: int | None = None) -> EventPart:
        """Write the tables as the part ``path`` and remove the file."""
        try:
            return write_stream(self.tables(), self.layout, path, group_rows)
        finally:
            self.close()

    def close(self) -> None:
        """Remove the file (what it held is not written)."""
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class _Written:
    """What the row groups written so far hold: rows, row id bounds, the columns each
    channel fills, the (channel, event id) pairs."""

    def __init__(self) -> None:
        self.rows = 0
        self.first: int | None = None
        self.last: int | None = None
        self.presence: dict[str, set[str]] = {}
        self.pairs: set[tuple[str | None, int | None]] = set()

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if not table.num_rows:
            return
        bounds = pc.min_max(table.column(ROW_ID))
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None:
            self.first = low if self.first is None else min(self.first, low)
            self.last = high if self.last is None else max(self.last, high)
        for channel, cols in filled_by_channel(table, schema.CHANNEL, ignore=[ROW_ID]).items():
            self.presence.setdefault(channel, set()).update(cols)
        one = _one_channel(table.column(schema.CHANNEL))
        if one is not None:
            ids = pc.unique(table.column(schema.EVENT_ID)).to_pylist()
            self.pairs.update((one[0], event_id) for event_id in ids)
            return
        distinct = (
            table.select([schema.CHANNEL, schema.EVENT_ID])
            .group_by([schema.CHANNEL, schema.EVENT_ID])
            .aggregate([])
        )
        self.pairs.update(
            zip(
                distinct.column(schema.CHANNEL).to_pylist(),
                distinct.column(schema.EVENT_ID).to_pylist(),
                strict=True,
            )
        )

    def part(self, path: str, columns: list[str]) -> EventPart:
        return EventPart(
            path=path,
            rows=self.rows,
            first_rid=int(self.first) if self.first is not None else 0,
            last_rid=int(self.last) if self.last is not None else 0,
            columns=tuple(n for n in columns if not schema.is_core(n) and n != ROW_ID),
            presence={c: frozenset(cols) for c, cols in self.presence.items()},
            pairs=frozenset(self.pairs),
        )


class PartBuffer:
    """Tables buffered and written as parts of about :data:`PART_ROWS` rows (or
    :data:`PART_BYTES` of Arrow) into ``folder``; ``written`` lists them.

    Field spellings are unified within a part (one field spelled two ways in one batch
    becomes one column); across parts the engine's scan unifies them.
    """

    def __init__(self, folder: str, rows: int = PART_ROWS, nbytes: int = PART_BYTES) -> None:
        self.folder = folder
        self.rows = rows
        self.nbytes = nbytes
        self.prefix = uuid.uuid4().hex[:12]
        self._seq = 0
        self._pieces: list[pa.Table] = []
        self._held_rows = 0
        self._held_bytes = 0
        self.written: list[EventPart] = []

    def add(self, table: pa.Table) -> None:
        """Buffer ``table`` (with its row ids); write a part once enough is held."""
        if not table.num_rows:
            return
        self._pieces.append(table)
        self._held_rows += table.num_rows
        self._held_bytes += table.nbytes
        if self._held_rows >= self.rows or self._held_bytes >= self.nbytes:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered as one part."""
        if not self._pieces:
            return
        pieces, self._pieces = self._pieces, []
        self._held_rows = self._held_bytes = 0
        path = os.path.join(self.folder, f"{self.prefix}-{self._seq:06d}.parquet")
        self._seq += 1
        self.written.append(write_pieces(pieces, path))

    def take(self) -> list[EventPart]:
        """The parts written since the last call."""
        written, self.written = self.written, []
        return written


#: Pieces that :func:`take_unified` concatenates by Arrow rather than column by column.
FEW_PIECES = 8


def take_unified(pieces: list[pa.Table], parts: int) -> pa.Table:
    """``pieces`` one after another as one table with every column any of them has
    (nulls where a piece lacks it), made in ``parts`` chunks of about equal rows (cut
    between pieces), each column one contiguous array per chunk.

    The same table as ``pa.concat_tables(pieces, promote_options="default")``,
    five times faster on the buffers of many small files of different shapes (277 EVTX
    files, 401 columns: 0.1 s against 0.5 s): that first makes every table as wide as
    all of them, a null array per missing column, then copies them all; this visits only
    the columns a piece has and adds one null run per gap. ``pieces`` is emptied as it
    goes: each piece is let go as soon as its chunk is made, so the buffer and its copy
    are never both held whole (Mordor: 300-410 MB of pieces and 380-500 MB of copy per
    row group).

    A few pieces into one chunk (the batches that small files now share) are
    concatenated by Arrow and combined: 3 pieces of 172-309 of 399 columns, 9-13 ms
    against 25-35 ms for the null runs column by column.
    """
    if parts <= 1 and 1 < len(pieces) <= FEW_PIECES:
        try:
            table = pa.concat_tables(pieces, promote_options="default").combine_chunks()
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass  # types that differ beyond nulls: cast below, as always
        else:
            pieces.clear()
            return table
    types: dict[str, pa.DataType] = {}
    total = 0
    for table in pieces:
        for f in table.schema:
            if pa.types.is_null(types.get(f.name, pa.null())):
                types[f.name] = f.type
        total += table.num_rows
    names = list(types)
    target = -(-total // max(parts, 1))
    chunks: list[pa.Table] = []
    pieces.reverse()  # pop from the end: pieces leave the list, in order, as they are used
    while pieces:
        run: list[pa.Table] = [pieces.pop()]
        rows = run[0].num_rows
        while pieces and (rows < target or len(chunks) + 1 >= parts):
            run.append(pieces.pop())
            rows += run[-1].num_rows
        chunks.append(_unified_run(run, rows, names, types))
        del run
    if not chunks:
        return pa.table({n: pa.array([], t) for n, t in types.items()})
    return pa.concat_tables(chunks)


def _part_run(
    run: list[pa.Table],
    rows: int,
    columns: list[tuple[str, list[str]]],
    types: dict[str, pa.DataType],
) -> pa.Table:
    """The ``rows`` rows of ``run`` as one table of the part's ``columns`` (see
    :meth:`Layout.columns`), each one contiguous array, nulls where a table lacks it."""
    names = [n for _, gathered in columns for n in gathered]
    table = _unified_run(run, rows, names, types)
    out: dict[str, pa.Array] = {}
    for name, gathered in columns:
        merged = table.column(gathered[0])
        for other in gathered[1:]:
            column = table.column(other)
            if pa.types.is_null(merged.type):  # a column of no value takes the other's type
                merged = merged.cast(column.type)
            elif pa.types.is_null(column.type):
                column = column.cast(merged.type)
            merged = pc.coalesce(merged, column)
        out[name] = merged
    return pa.table(out)


def _unified_run(
    run: list[pa.Table], rows: int, names: list[str], types: dict[str, pa.DataType]
) -> pa.Table:
    placed: dict[str, list[tuple[int, list[pa.Array]]]] = {}
    at = 0
    for table in run:
        for f, column in zip(table.schema, table.columns, strict=True):
            kind = types[f.name]
            chunks = (column if column.type == kind else column.cast(kind)).chunks
            placed.setdefault(f.name, []).append((at, chunks))
        at += table.num_rows
    columns = [with_null_gaps(placed.get(name, []), rows, types[name]) for name in names]
    return pa.table(columns, names=names)
