"""The events of a DuckDB engine: Parquet parts scanned in place, or one wide table.

A new hunt's events (no case file) are Parquet parts (:mod:`lotlhunt.events.parts`):
reader workers write them and hand over only what each holds; batches handed to
:meth:`EventStore.ingest` wait in a spool file (not in memory) until they make a row
group of rows, which the store's own thread writes as a part. ``events`` is
then a view over the parts: the main process inserts no row (``bench/README.md``,
"Storing in the readers": as fast to hunt on simulated EVTX, slower on Mordor).

A case file keeps one wide ``events`` table, appended in whole row groups (new fields
added as columns as they appear, spelled as the table first saw them), as one aligned
copy, on one thread, with the memory the copy needs set aside from DuckDB's limit while
reading lasts; a thread of its own copies, inserts and checkpoints each group while the
caller reads on. Either way the store knows the events' columns, their (channel, event
id) pairs, and which columns each channel fills.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from time import perf_counter
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ...events import schema
from ...events.parquet_store import nonempty_fields
from ...events.parts import EventPart, PartsTarget, Spool, take_unified
from ...rules.compile.dialect import DUCKDB
from ..base import EngineOptions
from .arrow_view import arrow_view
from .columns import CORE_NAMES, duck_type, fold_fields
from .memory import MemoryGuard
from .presence import ColumnPresence
from .row_groups import COPY_PARTS, ONE_PART_BYTES, STORE_AHEAD_BYTES, RowGroup, RowGroupBuffer

ROW_ID = "__rid"
EVENTS = "events"
#: Share of the memory limit set aside while whole row groups are inserted, for the Arrow
#: buffer of a row group and its copy, which the process holds beside DuckDB (on Mordor
#: 300-380 MB and 450-560 MB). DuckDB appends and compresses a whole row group in the rest
#: as fast (Mordor: 1.1-1.8 s per 552-column row group with 512 MB, 1.5-2.6 s with 1 GB).
READING_SHARE = 0.5
#: Columns of the events table past which new fields are folded into one JSON column
#: (``schema.EXTRA_FIELDS``). Appending to a table pins a block (256 KiB) per column: an
#: export with a new key on every line made tens of thousands of columns and ran out of
#: memory whatever the limit; 2,100 columns stay within DuckDB's default limit (Mordor,
#: the widest real corpus here, has 552).
MAX_TABLE_COLUMNS = 2100


class EventStore:
    """The ``events`` table of one DuckDB database and what it holds.

    Row groups: events are inserted in whole row groups (``options.row_group_rows``,
    DuckDB's 122,880 by default): appending to a partly filled one of a wide table is
    several times slower, and more so the larger the table (measured on 755 k simulated
    events of 155 columns: 34 s in inserts of 65,536 rows, 7.5 s in inserts of 122,880).
    An in-memory database is checkpointed as often (each compresses what came since).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        memory: MemoryGuard,
        options: EngineOptions,
        threads: int,
        use: str | None,
        parts_dir: str | None = None,
    ) -> None:
        self.con = con
        self.memory = memory
        self.options = options
        self.threads = threads
        #: The attached in-memory database holding the events (None: a case file).
        self._use = use
        #: Rows inserted since the last checkpoint of an in-memory events database.
        self._unchecked = 0
        self._pairs: list[tuple[str | None, int | None]] | None = None
        self.presence = ColumnPresence()
        self._columns: dict[str, str] = {}
        self._spaceless: dict[str, str] = {}
        self._buffer = RowGroupBuffer()
        #: The one thread that stores whole row groups while reading goes on, and the
        #: group it is storing (its result raises what storing raised).
        self._storer: ThreadPoolExecutor | None = None
        self._storing: Future[EventPart | None] | None = None
        self._reading = False
        self._pending_columns: list[str] = []
        self._next_rid = 0
        #: Fields folded into ``schema.EXTRA_FIELDS`` by the column cap.
        self.folded_fields = 0
        #: Seconds spent storing, per step (copy, presence, insert, checkpoint), and
        #: waiting for the storing thread: where the time of the read phase goes.
        self.seconds: dict[str, float] = {}
        self._ensure_table()
        #: Where the events may be Parquet parts: a new events table's (a case file's not).
        self._parts_home = parts_dir if not self._next_rid else None
        #: Where the events are Parquet parts (None: DuckDB's own table). Decided by
        #: the inputs' size at the first :meth:`parts_target` unless the options say.
        self.parts_dir = self._parts_home if options.parts else None
        self._parts: list[EventPart] = []
        #: Batches gathered for the next part this process writes, in a file.
        self._spool: Spool | None = None
        self._next_part = 0
        self._viewed = 0
        self._next_unit = 1
        self._pair_set: set[tuple[str | None, int | None]] = set()

    def _ensure_table(self) -> None:
        exists = self.one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [EVENTS]
        )
        if not exists or not exists[0]:
            cols = ", ".join(
                f"{DUCKDB.ident(f.name)} {duck_type(f.type)}" for f in schema.CORE_FIELDS
            )
            self.one(f"CREATE TABLE {EVENTS} ({ROW_ID} BIGINT, {cols})")
        rows = self.con.execute(f"DESCRIBE {EVENTS}").fetchall()
        self._columns = {r[0].lower(): r[0] for r in rows}
        self._spaceless = {k.replace(" ", ""): c for k, c in reversed(self._columns.items())}
        last = self.one(f"SELECT max({ROW_ID}) FROM {EVENTS}")
        self._next_rid = (last[0] + 1) if last and last[0] is not None else 0
        if self._next_rid:
            self.presence.load(self.con)

    @property
    def columns(self) -> dict[str, str]:
        """Columns of the events table, keyed by lower-cased name."""
        return dict(self._columns)

    @property
    def parts(self) -> tuple[EventPart, ...]:
        """The Parquet parts the events table is a view over (none: DuckDB's own table)."""
        return tuple(self._parts) if self._viewed else ()

    def field_columns(self) -> list[str]:
        core = {c.lower() for c in schema.CORE_COLUMNS} | {ROW_ID}
        return [c for k, c in self._columns.items() if k not in core]

    def ingest(self, batch: pa.RecordBatch) -> None:
        """Append one batch. Batches are buffered and inserted in large groups.

        Each INSERT into a wide table has a fixed cost, and readers hand over many small
        batches (one per file at least), so inserting per batch would cost more than
        reading. Field names take the spelling the table already has, whatever their case.
        """
        if batch.num_rows == 0:
            return
        new = [n for n in batch.schema.names if n.lower() not in self._columns]
        if new and len(self._columns) + len(new) > MAX_TABLE_COLUMNS:
            batch = self._fold_new_fields(batch, new)
        if self.parts_dir is None:
            batch = self._spelled(batch)
        if ROW_ID in batch.schema.names:
            # Numbered by the reader that wrote its unit's parts (``u << UNIT_BITS | n``):
            # the same ids whichever batch arrives first.
            piece = nonempty_fields(pa.Table.from_batches([batch]))
        else:
            rids = pa.array(range(self._next_rid, self._next_rid + batch.num_rows), pa.int64())
            self._next_rid += batch.num_rows
            piece = nonempty_fields(pa.Table.from_batches([batch]).append_column(ROW_ID, rids))
        if self.parts_dir is not None:
            # Fields some row fills (a part has no others), counted now for the cap.
            self._note_columns(n for n in piece.schema.names if n not in CORE_NAMES)
            self._spooled(piece)
            return
        self._buffer.add(piece)
        if not self._reading:
            self._reading = True
            if self.parts_dir is None:
                self.memory.reserve(int(self.memory.limit * READING_SHARE))
        if self._buffer.rows >= self.options.row_group_rows:
            self._hand_off()
        elif self._buffer.nbytes > STORE_AHEAD_BYTES:
            self.settle()

    def _spelled(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` with its fields spelled as the table spells them, new ones noted."""
        names = []
        for name in batch.schema.names:
            known = self._columns.get(name.lower())
            if known is None:
                self._pending_columns.append(name)
                self._columns[name.lower()] = name
                self._spaceless.setdefault(name.lower().replace(" ", ""), name)
                known = name
            names.append(known)
        return batch.rename_columns(names) if names != batch.schema.names else batch

    def _fold_new_fields(self, batch: pa.RecordBatch, new: list[str]) -> pa.RecordBatch:
        """``batch`` with the new fields the table has no room for (see
        :data:`MAX_TABLE_COLUMNS`) folded into :data:`schema.EXTRA_FIELDS`, one JSON
        object per row (the fields most rows have get the room there is)."""
        extra = schema.EXTRA_FIELDS
        room = MAX_TABLE_COLUMNS - len(self._columns) - (extra.lower() not in self._columns)
        batch, folded = fold_fields(batch, new, room)
        if not folded:
            return batch
        if not self.folded_fields:
            self.memory.notes.append(
                f"the events table has {MAX_TABLE_COLUMNS} columns, its cap: further fields"
                f" are kept as JSON in {extra} (e.g. {folded[0]!r})"
            )
        self.folded_fields += len(folded)
        return batch

    def flush(self) -> None:
        """Insert whatever is buffered; called before every query on the events table.

        Reading is over then: DuckDB gets its whole memory limit back, before the last
        insert, which is a partial row group. A partial group is appended at commit with
        a block pinned per column, so it needs more memory than whole ones (written
        compressed as they come), and DuckDB 1.5 does not recover from running out of
        memory at commit: it invalidates the database. Measured on Mordor's last 65,949
        rows of 552 columns on one thread: out of memory at 512 MB, fine at 1 GB.
        """
        self.settle()
        if self._reading:
            self._reading = False
            if self.parts_dir is None:
                self.memory.reserve(0)
        if self.parts_dir is None:
            self._store(self._take(self._buffer.rows))
            return
        spool, self._spool = self._spool, None
        if spool is not None:
            self._accept(self._write_spool(spool))
        self._publish()

    def settle(self) -> None:
        """Wait for the row group being stored in the background, if any; raise what
        storing it raised."""
        storing = self._storing
        if storing is None:
            return
        started = perf_counter()
        try:
            part = storing.result()
            if part is not None:
                self._accept(part)
        finally:
            self._spent("waiting", started)
            if storing.done():  # not when the wait itself was interrupted (Ctrl-C)
                self._storing = None

    def _spent(self, step: str, started: float) -> float:
        now = perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - started
        return now

    def stop(self) -> None:
        """Wait for background storing and end its thread, whatever it raised (the
        engine is closing: a failure was raised already, or is being)."""
        try:
            self.settle()
        except Exception:  # noqa: BLE001, S110 - closing after a failure
            pass
        finally:
            if self._spool is not None:
                self._spool.close()
                self._spool = None
            if self._storer is not None:
                self._storer.shutdown(wait=True)
                self._storer = None

    def _hand_off(self) -> None:
        """Give the buffer's whole row groups to the storing thread, once it is done with
        the previous group; the rest stays buffered."""
        rows = self._buffer.rows
        group = self._take(rows - rows % self.options.row_group_rows)
        self.settle()
        if self._storer is None:
            self._storer = ThreadPoolExecutor(1, thread_name_prefix="lotlhunt-store")
        self._storing = self._storer.submit(self._store, group)

    def _take(self, rows: int) -> RowGroup:
        """The first ``rows`` buffered rows as a group to store, with the columns the
        table needs first."""
        first = self._next_rid == self._buffer.rows  # nothing handed to the table yet
        group = RowGroup(self._buffer.take(rows))
        if self._pending_columns and first:
            # Nothing inserted yet: make the table with all its columns in one statement
            # (an export can bring hundreds of fields; one ALTER each costs more than
            # reading them).
            core = {c.lower() for c in schema.CORE_COLUMNS} | {ROW_ID}
            group.create = [c for k, c in self._columns.items() if k not in core]
        else:
            group.add = list(self._pending_columns)
        self._pending_columns = []
        return group

    # -- events as Parquet parts ------------------------------------------------------

    def parts_target(self, input_bytes: int | None = None) -> PartsTarget | None:
        """Where reader processes write their rows as parts, and how they number them
        (None: the events are DuckDB's own table, handed rows). With parts left to the
        inputs' size (``options.parts`` None), inputs of ``input_bytes`` at least
        ``options.parts_min_bytes`` make the events parts, if nothing is stored yet."""
        empty = not self._next_rid and not self._buffer.rows and not self._parts
        if (
            self.parts_dir is None
            and self._parts_home is not None
            and self.options.parts is None
            and empty
            and input_bytes is not None
            and input_bytes >= self.options.parts_min_bytes
        ):
            self.parts_dir = self._parts_home
        if self.parts_dir is None:
            return None
        return PartsTarget(self._folder(), self._claim_units)

    def _claim_units(self, count: int) -> int:
        first = self._next_unit
        self._next_unit += count
        return first

    def add_part(self, part: EventPart) -> None:
        """Take a part a reader wrote. A part that would take the events past
        :data:`MAX_TABLE_COLUMNS` columns is read back and ingested here instead, so its
        new fields are folded as a table's would be."""
        new = {c.lower() for c in part.columns} - self._columns.keys()
        if self.parts_dir is None or len(self._columns) + len(new) > MAX_TABLE_COLUMNS:
            table = pq.read_table(part.path)
            os.unlink(part.path)
            for batch in table.drop_columns([ROW_ID]).to_batches():
                self.ingest(batch)
            return
        self._accept(part)

    def _spooled(self, piece: pa.Table) -> None:
        """Append ``piece`` to the part being gathered, kept in a file (:class:`Spool`);
        a row group of rows gathered is written as a part by the storing thread while
        the next one is gathered."""
        if self._spool is None:
            self._spool = Spool(self._folder())
        self._spool.add(piece)
        if self._spool.rows < self.options.row_group_rows:
            return
        spool, self._spool = self._spool, None
        self.settle()
        if self._storer is None:
            self._storer = ThreadPoolExecutor(1, thread_name_prefix="lotlhunt-store")
        self._storing = self._storer.submit(self._write_spool, spool)

    def _write_spool(self, spool: Spool) -> EventPart:
        """Write a gathered part (on the storing thread, or the caller's once it is idle)."""
        started = perf_counter()
        try:
            path = os.path.join(self._folder(), f"engine-{self._next_part:06d}.parquet")
            self._next_part += 1
            return spool.write(path)
        finally:
            self._spent("part", started)

    def _folder(self) -> str:
        assert self.parts_dir is not None
        os.makedirs(self.parts_dir, exist_ok=True)
        return self.parts_dir

    def _note_columns(self, names: Iterable[str]) -> None:
        for name in names:
            if name.lower() not in self._columns:
                self._columns[name.lower()] = name
                self._spaceless.setdefault(name.lower().replace(" ", ""), name)

    def _accept(self, part: EventPart) -> None:
        """Account a written part: its fields, the columns its channels fill, its pairs."""
        self._note_columns(part.columns)
        self.presence.merge(part.presence)
        self._pair_set |= part.pairs
        self._pairs = None
        self._parts.append(part)

    def _publish(self) -> None:
        """Make the events table a view over the parts, when parts came since the last
        time (a table without parts stays the empty table it was made)."""
        if len(self._parts) == self._viewed:
            return
        if not self._viewed:
            self.one(f"DROP TABLE {EVENTS}")
            # Each query reads the parts' footers (hundreds of columns) unless cached.
            self.one("SET parquet_metadata_cache = true")
            # But not their data: parts are local files the system caches already, and
            # DuckDB's own copy of what it read stayed resident through the hunt
            # (Mordor: 90 MB of the evaluation's peak).
            self.one("SET enable_external_file_cache = false")
        files = ", ".join(DUCKDB.literal(p.path) for p in self._parts)
        self.one(
            f"CREATE OR REPLACE VIEW {EVENTS} AS SELECT * FROM read_parquet([{files}],"
            " union_by_name = true)"
        )
        self._viewed = len(self._parts)
        self.presence.save(self.con)

    def _store(self, group: RowGroup) -> None:
        """Make the columns ``group`` needs, then insert its tables as one aligned copy
        and checkpoint an in-memory database past a row group of rows. Runs on the storing
        thread, or on the caller's once that thread is idle (never both at once)."""
        if group.create is not None:
            self.one(f"DROP TABLE {EVENTS}")
            cols = [f"{ROW_ID} BIGINT"]
            cols += [f"{DUCKDB.ident(f.name)} {duck_type(f.type)}" for f in schema.CORE_FIELDS]
            cols += [f"{DUCKDB.ident(c)} VARCHAR" for c in group.create]
            self.one(f"CREATE TABLE {EVENTS} ({', '.join(cols)})")
        for name in group.add:
            self.one(f"ALTER TABLE {EVENTS} ADD COLUMN {DUCKDB.ident(name)} VARCHAR")
        if not group.pieces:
            return
        # An aligned copy in a few contiguous parts: IPC-received buffers may be
        # unaligned, which the Arrow scan DuckDB uses warns about and handles slowly.
        started = perf_counter()
        small = sum(piece.nbytes for piece in group.pieces) < ONE_PART_BYTES
        table = take_unified(group.pieces, 1 if small else COPY_PARTS)
        started = self._spent("copy", started)
        self.presence.note(table, schema.CHANNEL, ignore=[ROW_ID])
        self.presence.save(self.con)
        self._pairs = None
        started = self._spent("presence", started)
        with arrow_view(self.con, "__batch", table), self._one_thread():
            self.memory.run(lambda: self.one(f"INSERT INTO {EVENTS} BY NAME SELECT * FROM __batch"))
        inserted = table.num_rows
        del table  # DuckDB has the rows: not held through the checkpoint (Mordor: 0.5 GB)
        pa.default_memory_pool().release_unused()
        started = self._spent("insert", started)
        if self._use:
            self._unchecked += inserted
            if self._unchecked >= self.options.row_group_rows:
                self.checkpoint()
                self._spent("checkpoint", started)

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """DuckDB on one thread for the block. The parts of a copy are scanned one after
        another into whole row groups then; threads would each append part of a group,
        which is slower and needs more memory (two parts of a Mordor group on two threads
        ran out of 512 MB; on one thread they went in as fast as one contiguous copy)."""
        if self.threads == 1:
            yield
            return
        self.one("SET threads = 1")
        try:
            yield
        finally:
            self.one(f"SET threads = {self.threads}")

    def checkpoint(self) -> None:
        """Compress what was inserted into an in-memory events database since the last
        checkpoint (a case file is checkpointed by DuckDB itself)."""
        if self._use and self._unchecked:
            self.one(f"CHECKPOINT {self._use}")
            self._unchecked = 0

    def one(self, query: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """First row of a query, with the result fully consumed (DuckDB requires it)."""
        rows = self.con.execute(query, list(params)).fetchall()
        return rows[0] if rows else None

    def count(self) -> int:
        self.flush()
        row = self.one(f"SELECT count(*) FROM {EVENTS}")
        return int(row[0]) if row else 0

    def column(self, name: str) -> str | None:
        """The column holding field ``name``, ignoring case and, as a fallback, spaces.

        Some providers name EventData items with spaces (Defender's ``Threat Name``);
        Sigma rules spell them without (``ThreatName``).
        """
        key = schema.field_column(name).lower()
        col = self._columns.get(key)
        if col is None:
            col = self._spaceless.get(key.replace(" ", ""))
        return col

    def inventory(self) -> list[tuple[str | None, int | None]]:
        """The distinct (channel, event id) pairs of the events table, cached until the
        next insert: they decide which slices exist and how channels are spelled."""
        if self._pairs is None and self._viewed:
            self._pairs = sorted(self._pair_set, key=lambda p: (p[0] or "", p[1] or -1))
        if self._pairs is None:
            rows = self.con.execute(
                f"SELECT DISTINCT {schema.CHANNEL}, {schema.EVENT_ID} FROM {EVENTS}"
            ).fetchall()
            self._pairs = [(c, e) for c, e in rows]
        return self._pairs

    def channel_spellings(self) -> dict[str, list[str]]:
        """Lower-cased channel -> the spellings the events table holds."""
        spellings: dict[str, list[str]] = {}
        for name, _ in self.inventory():
            if name is not None and name not in spellings.get(name.lower(), ()):
                spellings.setdefault(name.lower(), []).append(name)
        return spellings
