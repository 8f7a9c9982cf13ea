"""DuckDB, the embedded default engine: events in memory or in a case file.

Ingest appends Arrow batches to one wide ``events`` table (new field columns are added as
they appear). A hunt groups rules by the slice of events their logsource covers, builds
each slice once with exactly the columns its rules read (renamed for that slice, lowered
once for case-insensitive matching, addresses normalised once for CIDR matching, NULL
where the data has no such field), skips the rules whose required literals occur nowhere
in it, and runs the others as one small query each, several at a time on the engine's
threads.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from ...errors import UsageError
from ...events import schema
from ...events.arrow_runs import with_null_gaps
from ...rules.compile.dialect import (
    ALL_TEXT_FIELD,
    DUCKDB,
    IP_HEX_FUNCTION,
    IP_SUFFIX,
    LOWER_SUFFIX,
    Dialect,
    ip_hex_vectorised,
)
from ...rules.loader import CompiledRule
from ...rules.logsources import Variant, narrowed
from ...scope import EventScope
from ..prefilter import (
    BITS_KEY,
    SCAN_ROWS,
    RulePlan,
    alternation,
    candidate_test,
    distinct_query,
    literal_index,
    plan_by_presence,
    plan_rules,
    present_by_search,
    present_literals,
)
from .arrow_view import arrow_view
from .memory import MemoryGuard, out_of_memory
from .presence import ColumnPresence
from .queries import (
    SearchTerms,
    all_text,
    check_regexes,
    check_select,
    event_counts_query,
    scope_condition,
    search_condition,
)

ROW_ID = "__rid"
EVENTS = "events"
#: The compressed in-memory database holding the events when there is no case file.
EVENTS_DB = "lotlhunt_events"
#: DuckDB's row group. Events are inserted in whole row groups: appending to a partly
#: filled one of a wide table is several times slower, and more so the larger the table
#: (measured on 755 k simulated events of 155 columns: 34 s in inserts of 65,536 rows,
#: 7.5 s in inserts of 122,880).
ROW_GROUP_ROWS = 122_880
#: Rows inserted into it between checkpoints (each compresses what came since the last).
CHECKPOINT_ROWS = ROW_GROUP_ROWS
#: Chunks the copy of a row group is made in (see ``take_unified``). Inserted on one
#: thread, four chunks went in as fast as one (Mordor: 1.6 s against 1.5 s).
COPY_PARTS = 4
#: In-memory database for working tables (not temporary: every thread's connection sees
#: it; not in the case file: a re-hunt leaves the case as it was).
WORK_DB = "lotlhunt_work"
#: The slice of events the current group of rules runs on.
SLICE = f"{WORK_DB}.slice"
#: Candidate bits of the slice's rows, for the rules that run on their candidates only.
SLICE_BITS = f"{WORK_DB}.slice_bits"
#: Rules per evaluation query (see ``DuckDBEngine._run_rules``).
RULES_PER_QUERY = 16
#: Column of a distinct slice listing the events each of its rows stands for.
GROUPED_IDS = "__rids"
#: Rules in a group from which its slice is built distinct: grouping costs one hash pass
#: over every column the rules read and pays back when many rules read the result
#: (process creation: 3x fewer rows on the simulated corpus, 1,226 rules).
DISTINCT_MIN_RULES = 64
#: Rules in a distinct slice from which candidate rows are worked out (which rows hold a
#: literal each rule needs, so a rule runs on those rows only). That is a pass over
#: every distinct row's values: it saves time per rule and costs it per row, so it pays
#: where very many rules share a slice (process creation, 1,458 SigmaHQ rules), not on
#: slices of a few hundred (on 1 M events: 171 Security rules, 47 of them left by the
#: presence prefilter, ran in less time than the pass took; evaluation 19.8, 20.3 ->
#: 16.8-18.6 s; unchanged on Mordor and the samples).
CANDIDATE_MIN_RULES = 512
#: Distinct values of a field past which DuckDB, not Python, finds which literals occur.
SEARCH_BYTES = 8 * 2**20
#: DuckDB's memory limit unless LOTLHUNT_MEMORY_LIMIT says otherwise; beyond it, spill.
DEFAULT_MEMORY_LIMIT = "1GB"
#: Share of that limit set aside while whole row groups are inserted, for the Arrow buffer
#: of a row group and its copy, which the process holds beside DuckDB (on Mordor 300-380
#: MB and 450-560 MB). DuckDB appends and compresses a whole row group in the rest as fast
#: (Mordor: 1.1-1.8 s per 552-column row group with 512 MB, 1.5-2.6 s with 1 GB).
READING_SHARE = 0.5

#: Sigma field names that refer to core columns, as the event's own System values.
_CORE_ALIASES: dict[str, str] = {
    "eventid": f"CAST({schema.EVENT_ID} AS VARCHAR)",
    "channel": schema.CHANNEL,
    "computer": schema.HOST,
    "eventrecordid": f"CAST({schema.RECORD_ID} AS VARCHAR)",
}
_COLUMN_REF = re.compile(r"\{([^{}]+)\}")
_CORE_NAMES = frozenset([*schema.CORE_COLUMNS, ROW_ID])


@dataclass
class Evaluation:
    """Matches of a hunt: ``(rule index, row id)`` pairs, plus rules that failed to run."""

    matches: pa.Table  # columns: rule (int32), rid (int64)
    failed: list[tuple[int, str]] = field(default_factory=list)
    slices: int = 0
    #: Rule runs the literal prefilter proved unnecessary (no required literal present).
    skipped: int = 0


class DuckDBEngine:
    """The events table and rule evaluation on an in-process DuckDB database."""

    name = "duckdb"

    def __init__(
        self,
        path: str | None = None,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self.path = path
        self.con = duckdb.connect(path or ":memory:")
        #: Rows inserted since the last checkpoint of an in-memory events database.
        self._unchecked = 0
        self._use: str | None = None
        if path is None:
            # A compressed in-memory database: DuckDB keeps plain in-memory tables
            # uncompressed, ten times the size of the same table checkpointed with
            # dictionary/FSST compression (Mordor: 120 MB resident instead of 550 MB
            # resident plus 1.3 GB spilled; without it wide scans ran out of memory).
            self._one(f"ATTACH ':memory:' AS {EVENTS_DB} (COMPRESS)")
            self._one(f"USE {EVENTS_DB}")
            self._use = EVENTS_DB
        if threads:
            self._one(f"SET threads = {int(threads)}")
        # Bounded memory: past the limit DuckDB spills table data and operators to a
        # private temporary folder, so a hunt never needs memory in proportion to its input
        # (measured on Mordor: 4.8 GB resident without a limit, 1.8 GB with 1 GB).
        limit = memory_limit or os.environ.get("LOTLHUNT_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
        self._spill = tempfile.mkdtemp(prefix="lotlhunt-spill-")
        # Removed by close(), or when the engine is collected or the program ends if
        # close() was never called: a leftover folder per hunt would pile up.
        self._remove_spill = weakref.finalize(self, shutil.rmtree, self._spill, True)
        self.memory = MemoryGuard(
            self.con, limit, lambda: f"wide input: {len(self._columns)} columns"
        )
        self._one(f"SET temp_directory = {DUCKDB.literal(self._spill)}")
        self._one("SET preserve_insertion_order = false")
        # DuckDB draws its own bar on the terminal for queries past two seconds (a keyword
        # search of a large case): it would garble the caller's progress and tables.
        self._one("SET enable_progress_bar = false")
        # Freed allocator pages go back to the system from a background thread: without
        # it the pages of each row group inserted linger until the next allocation that
        # happens to purge them (Mordor, reading only: peak of the process tree 1.5 GB
        # instead of 1.96 GB, reading as fast).
        self._one("SET allocator_background_threads = true")
        self.con.create_function(
            IP_HEX_FUNCTION,
            ip_hex_vectorised,
            ["VARCHAR"],
            "VARCHAR",
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
        self._one(f"ATTACH ':memory:' AS {WORK_DB}")
        row = self._one("SELECT current_setting('threads')")
        self.threads = max(1, int(row[0])) if row else 1
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._pairs: list[tuple[str | None, int | None]] | None = None
        self._presence = ColumnPresence()
        self._columns: dict[str, str] = {}
        self._spaceless: dict[str, str] = {}
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._reading = False
        self._pending_columns: list[str] = []
        self._next_rid = 0
        #: SQL keeping only the events a re-hunt is restricted to (see ``restrict``).
        self._scope_sql: str | None = None
        self._ensure_table()

    # -- the events table -------------------------------------------------------------

    def _ensure_table(self) -> None:
        exists = self._one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [EVENTS]
        )
        if not exists or not exists[0]:
            cols = ", ".join(
                f"{Dialect.ident(f.name)} {_duck_type(f.type)}" for f in schema.CORE_FIELDS
            )
            self._one(f"CREATE TABLE {EVENTS} ({ROW_ID} BIGINT, {cols})")
        rows = self.con.execute(f"DESCRIBE {EVENTS}").fetchall()
        self._columns = {r[0].lower(): r[0] for r in rows}
        self._spaceless = {k.replace(" ", ""): c for k, c in reversed(self._columns.items())}
        last = self._one(f"SELECT max({ROW_ID}) FROM {EVENTS}")
        self._next_rid = (last[0] + 1) if last and last[0] is not None else 0
        if self._next_rid:
            self._presence.load(self.con)

    @property
    def columns(self) -> dict[str, str]:
        """Columns of the events table, keyed by lower-cased name."""
        return dict(self._columns)

    def field_columns(self) -> list[str]:
        core = {c.lower() for c in schema.CORE_COLUMNS} | {ROW_ID}
        return [c for k, c in self._columns.items() if k not in core]

    def events_frame(
        self,
        columns: Sequence[str],
        event_ids: Iterable[int] | None = None,
        channels: Iterable[str] | None = None,
        rows: pa.Array | None = None,
    ) -> pa.Table:
        """The core columns, the row id and the field ``columns`` (as strings, under the
        names asked for, NULL where the events have no such field) of the events with one
        of ``event_ids`` on one of ``channels`` (compared without case) or, given ``rows``,
        of those row ids. The one way analytics read events: they work on what it returns
        with Arrow, so they need no SQL and run on any engine that offers this method."""
        self.flush()
        picked = [f"{ROW_ID}"] + [Dialect.ident(c) for c in schema.CORE_COLUMNS]
        for name in dict.fromkeys(columns):
            known = self._columns.get(name.lower())
            value = Dialect.ident(known) if known else "NULL"
            picked.append(f"CAST({value} AS VARCHAR) AS {Dialect.ident(name)}")
        where = []
        if event_ids is not None:
            ids = sorted({int(i) for i in event_ids})
            where.append(f"{schema.EVENT_ID} IN ({', '.join(map(str, ids)) or 'NULL'})")
        if channels is not None:
            names = ", ".join(DUCKDB.literal(c.lower()) for c in sorted(set(channels)))
            where.append(f"lower({schema.CHANNEL}) IN ({names or 'NULL'})")
        query = f"SELECT {', '.join(picked)} FROM {EVENTS}"
        if rows is not None:
            wanted = pa.table({"rid": pa.array(rows, pa.int64())})
            with arrow_view(self.con, "__frame_rows", wanted):
                query += f" WHERE {ROW_ID} IN (SELECT rid FROM __frame_rows)"
                query += "".join(f" AND {w}" for w in where)
                return self.memory.run(lambda: self.con.sql(query).to_arrow_table())
        if where:
            query += " WHERE " + " AND ".join(where)
        return self.memory.run(lambda: self.con.sql(query).to_arrow_table())

    def ingest(self, batch: pa.RecordBatch) -> None:
        """Append one batch. Batches are buffered and inserted in large groups.

        Each INSERT into a wide table has a fixed cost, and readers hand over many small
        batches (one per file at least), so inserting per batch would cost more than
        reading. Field names take the spelling the table already has, whatever their case.
        """
        if batch.num_rows == 0:
            return
        names = []
        for name in batch.schema.names:
            known = self._columns.get(name.lower())
            if known is None:
                self._pending_columns.append(name)
                self._columns[name.lower()] = name
                self._spaceless.setdefault(name.lower().replace(" ", ""), name)
                known = name
            names.append(known)
        if names != batch.schema.names:
            batch = batch.rename_columns(names)
        rids = pa.array(range(self._next_rid, self._next_rid + batch.num_rows), pa.int64())
        self._next_rid += batch.num_rows
        piece = pa.Table.from_batches([batch]).append_column(ROW_ID, rids)
        self._buffer.append(_without_empty_fields(piece))
        self._buffered += batch.num_rows
        if not self._reading:
            self._reading = True
            self.memory.reserve(int(self.memory.limit * READING_SHARE))
        if self._buffered >= ROW_GROUP_ROWS:
            self._insert(whole_groups=True)

    def flush(self) -> None:
        """Insert whatever is buffered; called before every query on the events table.

        Reading is over then: DuckDB gets its whole memory limit back, before the last
        insert, which is a partial row group. A partial group is appended at commit with
        a block pinned per column, so it needs more memory than whole ones (written
        compressed as they come), and DuckDB 1.5 does not recover from running out of
        memory at commit: it invalidates the database. Measured on Mordor's last 65,949
        rows of 552 columns on one thread: out of memory at 512 MB, fine at 1 GB.
        """
        if self._reading:
            self._reading = False
            self.memory.reserve(0)
        self._insert(whole_groups=False)

    def _insert(self, whole_groups: bool) -> None:
        """Insert the buffer, or as many whole row groups of it as it holds (the rest
        stays buffered)."""
        if self._pending_columns and self._next_rid == self._buffered:
            # Nothing inserted yet: make the table with all its columns in one statement
            # (an export can bring hundreds of fields; one ALTER each costs more than
            # reading them).
            self._one(f"DROP TABLE {EVENTS}")
            cols = [f"{ROW_ID} BIGINT"]
            cols += [f"{Dialect.ident(f.name)} {_duck_type(f.type)}" for f in schema.CORE_FIELDS]
            core = {c.lower() for c in schema.CORE_COLUMNS} | {ROW_ID}
            cols += [
                f"{Dialect.ident(c)} VARCHAR" for k, c in self._columns.items() if k not in core
            ]
            self._one(f"CREATE TABLE {EVENTS} ({', '.join(cols)})")
            self._pending_columns = []
        for name in self._pending_columns:
            self._one(f"ALTER TABLE {EVENTS} ADD COLUMN {Dialect.ident(name)} VARCHAR")
        self._pending_columns = []
        if not self._buffer:
            return
        # An aligned copy in a few contiguous parts: IPC-received buffers may be
        # unaligned, which the Arrow scan DuckDB uses warns about and handles slowly.
        pieces, self._buffer, self._buffered = self._buffer, [], 0
        table = take_unified(pieces, COPY_PARTS)
        if whole_groups:
            whole = table.num_rows - table.num_rows % ROW_GROUP_ROWS
            if whole < table.num_rows:  # keep a copy of the rest, not the whole buffer
                rest = table.num_rows - whole
                kept = table.slice(whole).take(pa.array(range(rest), pa.int32()))
                self._buffer = [_without_empty_fields(kept)]
                self._buffered = rest
                table = table.slice(0, whole)
        self._presence.note(table, schema.CHANNEL, ignore=[ROW_ID])
        self._presence.save(self.con)
        self._pairs = None
        with arrow_view(self.con, "__batch", table), self._one_thread():
            self.memory.run(
                lambda: self._one(f"INSERT INTO {EVENTS} BY NAME SELECT * FROM __batch")
            )
        inserted = table.num_rows
        del table  # DuckDB has the rows: not held through the checkpoint (Mordor: 0.5 GB)
        pa.default_memory_pool().release_unused()
        if self._use:
            self._unchecked += inserted
            if self._unchecked >= CHECKPOINT_ROWS:
                self.checkpoint()

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """DuckDB on one thread for the block. The parts of a copy are scanned one after
        another into whole row groups then; threads would each append part of a group,
        which is slower and needs more memory (two parts of a Mordor group on two threads
        ran out of 512 MB; on one thread they went in as fast as one contiguous copy)."""
        if self.threads == 1:
            yield
            return
        self._one("SET threads = 1")
        try:
            yield
        finally:
            self._one(f"SET threads = {self.threads}")

    def checkpoint(self) -> None:
        """Compress what was inserted into an in-memory events database since the last
        checkpoint (a case file is checkpointed by DuckDB itself)."""
        if self._use and self._unchecked:
            self._one(f"CHECKPOINT {self._use}")
            self._unchecked = 0

    def _one(self, query: str, params: Sequence[object] = ()) -> tuple[object, ...] | None:
        """First row of a query, with the result fully consumed (DuckDB requires it)."""
        rows = self.con.execute(query, list(params)).fetchall()
        return rows[0] if rows else None

    def count(self) -> int:
        self.flush()
        row = self._one(f"SELECT count(*) FROM {EVENTS}")
        return int(row[0]) if row else 0

    def sql(self, query: str, params: Sequence[object] = ()) -> pa.Table:
        self.flush()
        return self.con.sql(query, params=list(params) or None).to_arrow_table()

    def close(self) -> None:
        self.flush()
        for cur in self._cursors:
            cur.close()
        self.con.close()
        self._remove_spill()

    # -- questions besides rules (their SQL is built in .queries) ---------------

    def restrict(self, scope: EventScope) -> None:
        """Rules run only on the events in ``scope``: a re-hunt of a case read earlier
        takes the same ``--from``/``--to``/``--host``/``--event-id`` as a first hunt,
        whose readers drop the rows outside it before they are stored."""
        self._scope_sql = scope_condition(scope)

    def count_events(self, scope: EventScope | None = None) -> int:
        """Events in the table (in ``scope`` when given)."""
        self.flush()
        where = scope_condition(scope) if scope else None
        row = self._one(f"SELECT count(*) FROM {EVENTS}" + (f" WHERE {where}" if where else ""))
        return int(row[0]) if row else 0

    def has_field(self, name: str) -> bool:
        """Whether some event has field ``name`` (any case), or it names a core value."""
        return self._column(name) is not None or name.lower() in _CORE_ALIASES

    def _search_where(self, terms: SearchTerms, scope: EventScope) -> str:
        everything = Variant(name="all", channels=())
        text = all_text(self.field_columns())
        check_regexes([p for _, p in terms.regexes], self.con)
        conds = [
            search_sql
            for search_sql in (
                scope_condition(scope),
                None
                if terms.empty
                else search_condition(terms, lambda n: self.field_expression(n, everything), text),
            )
            if search_sql
        ]
        return " AND ".join(conds) or "true"

    def search(self, terms: SearchTerms, scope: EventScope) -> pa.RecordBatchReader:
        """The events in ``scope`` matching ``terms``, in time order, every column but
        the row id, streamed in batches (a search may keep millions of events)."""
        self.flush()
        query = (
            f"SELECT * EXCLUDE ({ROW_ID}) FROM {EVENTS} WHERE {self._search_where(terms, scope)} "
            f"ORDER BY {schema.TIMESTAMP} NULLS FIRST, {ROW_ID}"
        )
        return self.memory.run(lambda: self.con.sql(query).to_arrow_reader(SCAN_ROWS))

    def select(self, sql: str, terms: SearchTerms, scope: EventScope) -> pa.RecordBatchReader:
        """The analyst's own SELECT over a view named ``events`` holding the events in
        ``scope`` that match ``terms``.

        Only one SELECT statement is taken (:func:`check_select`), and it runs with
        files, extensions and Python objects out of reach and the configuration locked:
        a query can read the events, not write the case or anything else.
        """
        check_select(sql)
        self.flush()
        where = self._search_where(terms, scope)
        row = self._one("SELECT current_database()")
        database = Dialect.ident(str(row[0])) if row else "memory"
        cur = self.con.cursor()
        self._cursors.append(cur)
        cur.execute(
            f"CREATE TEMP VIEW {EVENTS} AS SELECT * EXCLUDE ({ROW_ID}) "
            f"FROM {database}.main.{EVENTS} WHERE {where}"
        )
        for setting in (
            "enable_progress_bar = false",
            "python_enable_replacements = false",
            "enable_external_access = false",
            "lock_configuration = true",
        ):
            cur.execute(f"SET {setting}")
        try:
            return self.memory.run(lambda: cur.sql(sql).to_arrow_reader(SCAN_ROWS))
        except duckdb.Error as exc:
            if out_of_memory(exc):
                raise
            raise UsageError(f"--sql failed: {exc}") from None

    def event_counts(self, scope: EventScope | None = None) -> pa.Table:
        """Events per (source, host, channel, provider, event id) with first and last
        time (:data:`~.queries.COUNT_COLUMNS`): what metrics are rolled up from."""
        self.flush()
        query = event_counts_query(EVENTS, scope_condition(scope) if scope else None)
        return self.memory.run(lambda: self.con.sql(query).to_arrow_table())

    def events_of(
        self,
        channel: str,
        event_ids: Sequence[int],
        fields: Sequence[str],
        scope: EventScope | None = None,
    ) -> pa.Table:
        """Time, host and event id of the events of ``channel`` (any case) with one of
        ``event_ids``, and their ``fields`` under the names asked (NULL where absent)."""
        self.flush()
        everything = Variant(name="all", channels=())
        cols = [
            f"CAST({self.field_expression(f, everything)} AS VARCHAR) AS {Dialect.ident(f)}"
            for f in fields
        ]
        conds = [
            f"lower({schema.CHANNEL}) = {DUCKDB.literal(channel.lower())}",
            f"{schema.EVENT_ID} IN ({', '.join(str(int(i)) for i in event_ids)})",
        ]
        if scope and (where := scope_condition(scope)):
            conds.append(where)
        query = (
            f"SELECT {schema.TIMESTAMP}, {schema.HOST}, {schema.EVENT_ID}, {', '.join(cols)} "
            f"FROM {EVENTS} WHERE {' AND '.join(conds)}"
        )
        return self.memory.run(lambda: self.con.sql(query).to_arrow_table())

    # -- slices -------------------------------------------------------------------------

    def _column(self, name: str) -> str | None:
        """The column holding field ``name``, ignoring case and, as a fallback, spaces.

        Some providers name EventData items with spaces (Defender's ``Threat Name``);
        Sigma rules spell them without (``ThreatName``).
        """
        key = schema.field_column(name).lower()
        col = self._columns.get(key)
        if col is None:
            col = self._spaceless.get(key.replace(" ", ""))
        return col

    def _resolve_refs(self, expr: str) -> str:
        def sub(m: re.Match[str]) -> str:
            col = self._column(m.group(1))
            return Dialect.ident(col) if col else "CAST(NULL AS VARCHAR)"

        if "{" not in expr:
            expr = "{" + expr + "}"
        return _COLUMN_REF.sub(sub, expr)

    def field_expression(self, name: str, variant: Variant) -> str:
        """SQL giving Sigma field ``name`` on rows of ``variant`` (NULL when absent)."""
        lower = name.lower()
        for target, expr in variant.renames:
            if target.lower() == lower:
                return self._resolve_refs(expr)
        if lower == ALL_TEXT_FIELD:
            names = self.field_columns()
            if variant.channels:
                # Columns no event of these channels fills are NULL on every row of the
                # slice, and concat_ws skips NULLs: leaving them out changes nothing but
                # the cost (Mordor's 552 columns for a channel that fills 30).
                names = self._presence.filled(variant.channels, names)
            cols = [Dialect.ident(c) for c in names]
            return f"concat_ws(chr(10), {', '.join(cols)})" if cols else "''"
        if lower == "provider_name":
            col = self._column(name)
            return f"coalesce({Dialect.ident(col)}, {schema.PROVIDER})" if col else schema.PROVIDER
        col = self._column(name)
        if col is not None:
            return Dialect.ident(col)
        if lower in _CORE_ALIASES:
            return _CORE_ALIASES[lower]
        return "CAST(NULL AS VARCHAR)"

    def _inventory(self) -> list[tuple[str | None, int | None]]:
        """The distinct (channel, event id) pairs of the events table, cached until the
        next insert: they decide which slices exist and how channels are spelled."""
        if self._pairs is None:
            rows = self.con.execute(
                f"SELECT DISTINCT {schema.CHANNEL}, {schema.EVENT_ID} FROM {EVENTS}"
            ).fetchall()
            self._pairs = [(c, e) for c, e in rows]
        return self._pairs

    def _channel_spellings(self) -> dict[str, list[str]]:
        """Lower-cased channel -> the spellings the events table holds."""
        spellings: dict[str, list[str]] = {}
        for name, _ in self._inventory():
            if name is not None and name not in spellings.get(name.lower(), ()):
                spellings.setdefault(name.lower(), []).append(name)
        return spellings

    def slice_filter(self, variant: Variant) -> str:
        """SQL selecting the rows of ``variant``. Channels match whatever their case, by
        the exact spellings present: an exact comparison is pushed into the scan, which
        then reads no other column of rows on other channels (``lower(channel)`` cannot
        be, and made every slice cost a read of every column it projects)."""
        conds = []
        if variant.channels:
            known = self._channel_spellings()
            chans = [s for c in variant.channels for s in known.get(c.lower(), ())]
            if not chans:
                return "false"
            conds.append(f"{schema.CHANNEL} IN ({', '.join(map(DUCKDB.literal, chans))})")
        if variant.event_ids:
            conds.append(f"{schema.EVENT_ID} IN ({', '.join(str(i) for i in variant.event_ids)})")
        if self._scope_sql:
            conds.append(self._scope_sql)
        return " AND ".join(conds) or "true"

    def slice_columns(
        self,
        variant: Variant,
        fields: Iterable[str],
        ip_fields: Iterable[str] = (),
        used: str | None = None,
        grouped: bool = False,
    ) -> list[str]:
        """Projections giving compiled rules the columns they read on rows of ``variant``:
        each field, its lowered twin, and for ``ip_fields`` its address twin.

        With ``used`` (the SQL that will read them), only the columns it names: most
        rules compare lowered text only, and computing a column no rule reads costs as
        much as one they do (the all-text column of a keyword rule is the whole event).
        With ``grouped``, the fields are read from columns of their own name (a query
        that already projected and grouped them) instead of the events table.
        """
        seen: dict[str, str] = {}
        for f in fields:
            seen.setdefault(f.lower(), f)
        want_ip = {f.lower() for f in ip_fields}
        used = used.lower() if used is not None else None
        exprs = []
        for f in seen.values():
            e = Dialect.ident(f) if grouped else self.field_expression(f, variant)
            wanted = [
                (e, f),
                (f"lower({e})", f + LOWER_SUFFIX),
                *([(f"{IP_HEX_FUNCTION}({e})", f + IP_SUFFIX)] if f.lower() in want_ip else []),
            ]
            exprs.extend(
                f"{expr} AS {Dialect.ident(name)}"
                for expr, name in wanted
                if used is None or Dialect.ident(name).lower() in used
            )
        return exprs

    def build_slice(
        self,
        variant: Variant,
        fields: Iterable[str],
        name: str = SLICE,
        ip_fields: Iterable[str] = (),
        used: str | None = None,
        distinct: bool = False,
    ) -> int:
        """Materialise the rows of ``variant`` with the columns its rules read.

        With ``distinct``, one row per distinct combination of the fields, with the ids of
        its events in ``GROUPED_IDS`` (and the first of them as the row id): logs repeat
        themselves (services, scheduled tasks, agents), and a rule evaluated on the
        distinct rows gives the same answer for a fraction of the work.
        """
        query = self.slice_query(variant, fields, ip_fields, used, distinct)
        if query is None:
            self._one(f"CREATE OR REPLACE TABLE {name} AS SELECT NULL::BIGINT AS {ROW_ID} LIMIT 0")
            return 0
        self.memory.run(lambda: self._one(f"CREATE OR REPLACE TABLE {name} AS {query}"))
        row = self._one(f"SELECT count(*) FROM {name}")
        return int(row[0]) if row else 0

    def slice_query(
        self,
        variant: Variant,
        fields: Iterable[str],
        ip_fields: Iterable[str] = (),
        used: str | None = None,
        distinct: bool = False,
    ) -> str | None:
        """The query :meth:`build_slice` materialises, or None when no row is in it."""
        fields = list(dict.fromkeys(fields))
        where = f"FROM {EVENTS} WHERE {self.slice_filter(variant)}"
        # Rows of one channel come in runs (one input file after another): bounding the
        # row ids lets the scan skip the row groups outside them, reading only the
        # channel and event id columns to find the bounds.
        span = self._one(f"SELECT min({ROW_ID}), max({ROW_ID}) {where}")
        if not span or span[0] is None:
            return None
        where += f" AND {ROW_ID} BETWEEN {int(span[0])} AND {int(span[1])}"
        if distinct:
            seen: dict[str, str] = {}
            for f in fields:
                seen.setdefault(f.lower(), f)
            base = ", ".join(
                f"{self.field_expression(f, variant)} AS {Dialect.ident(f)}" for f in seen.values()
            )
            outer = self.slice_columns(variant, seen.values(), ip_fields, used, grouped=True)
            query = (
                f"SELECT {ROW_ID}, {GROUPED_IDS}{''.join(', ' + e for e in outer)} FROM "
                f"(SELECT min({ROW_ID}) AS {ROW_ID}, list({ROW_ID}) AS {GROUPED_IDS}, "
                f"{base} {where} GROUP BY ALL)"
            )
        else:
            exprs = [ROW_ID, *self.slice_columns(variant, fields, ip_fields, used)]
            query = f"SELECT {', '.join(exprs)} {where}"
        return query

    # -- evaluation ---------------------------------------------------------------------

    def evaluate(
        self,
        rules: Sequence[CompiledRule],
        progress: Callable[[int], None] | None = None,
    ) -> Evaluation:
        """Run every rule on the slices its logsource covers; return all matches."""
        self.flush()
        self.checkpoint()
        present = self._present_slices()
        groups, unheld = self._by_event_ids(_rule_groups(rules), rules, present)
        if progress and unheld:
            progress(unheld)
        parts: list[pa.Table] = []
        failed: dict[int, str] = {}
        skipped = 0
        with ThreadPoolExecutor(self.threads) as pool:
            for variant, idxs in groups:
                if not any(self._covers(variant, key) for key in present):
                    if progress:
                        progress(len(idxs))
                    continue
                fields: set[str] = set()
                for i in idxs:
                    fields |= rules[i].fields
                ips = address_fields([rules[i] for i in idxs])
                used = "\n".join(
                    [rules[i].sql for i in idxs]
                    + [Dialect.ident(f + LOWER_SUFFIX) for f in literal_index(rules, idxs)]
                )
                if len(idxs) == 1 and ALL_TEXT_FIELD in fields:
                    # One rule on the whole event's text: that column is most of the cost
                    # of a slice, and this rule its only reader. Matching it as the text
                    # is made, in one pass, costs 25-45% less than making the slice and
                    # then scanning it (and a literal prefilter would scan it too).
                    query = self.slice_query(variant, sorted(fields), ips, used)
                    if query is not None:
                        table, errors, _ = self._run_rules(rules, idxs, source=f"({query})")
                        failed.update(errors)
                        if table.num_rows:
                            parts.append(table)
                    if progress:
                        progress(1)
                    continue
                distinct = ALL_TEXT_FIELD not in fields and len(idxs) >= DISTINCT_MIN_RULES
                if self.build_slice(variant, sorted(fields), SLICE, ips, used, distinct) == 0:
                    if progress:
                        progress(len(idxs))
                    continue
                plan = self._plan(rules, idxs, distinct)
                skipped += len(plan.skipped)
                if progress:
                    progress(len(plan.skipped))
                runnable = plan.plain + list(plan.masked)
                batches = [
                    runnable[k : k + RULES_PER_QUERY]
                    for k in range(0, len(runnable), RULES_PER_QUERY)
                ]
                futures = [pool.submit(self._run_rules, rules, b, plan) for b in batches]
                found: list[pa.Table] = []
                for future in as_completed(futures):
                    table, errors, done = future.result()
                    failed.update(errors)
                    if table.num_rows:
                        found.append(table)
                    if progress:
                        progress(done)
                if distinct and found:
                    found = [self._expand(pa.concat_tables(found))]
                parts.extend(found)
        self._one(f"DROP TABLE IF EXISTS {SLICE}")
        self._one(f"DROP TABLE IF EXISTS {SLICE_BITS}")
        if parts:
            # A rule whose variants overlap (never in the shipped mapping) matches once.
            with arrow_view(self.con, "__parts", pa.concat_tables(parts)):
                matches = self.con.sql("SELECT DISTINCT rule, rid FROM __parts").to_arrow_table()
        else:
            matches = _NO_MATCHES
        return Evaluation(
            matches=matches, failed=sorted(failed.items()), slices=len(groups), skipped=skipped
        )

    def rule_variant(self, variant: Variant, rule: CompiledRule) -> Variant | None:
        """The part of ``variant`` the rule can match: only the events its detection names
        (:func:`~lotlhunt.logsources.narrowed`), unless an event field of that name
        stands for ``EventID`` here instead of the event's own id."""
        if rule.event_ids is None or self._column("EventID") is not None:
            return variant
        return narrowed(variant, rule.event_ids)

    def _by_event_ids(
        self,
        groups: list[tuple[Variant, list[int]]],
        rules: Sequence[CompiledRule],
        present: list[tuple[str, int]],
    ) -> tuple[list[tuple[Variant, list[int]]], int]:
        """Each group's rules on the events they name, and how many rule runs need events
        the logs do not hold (not run at all).

        The rules of a group whose detections name their event ids share one slice of
        the ids among them the logs hold; the others keep the group's whole slice. Of
        SigmaHQ's 171 rules on the Security channel as a whole, 170 name their events:
        on a million simulated events their slice fell from 636 k events to the few
        kinds they name, and evaluation from 15-16 s to 11-14 s (same matches). One
        slice per set of ids was measured too: no faster there, slower on Mordor.
        """
        out: list[tuple[Variant, list[int]]] = []
        unheld = 0
        for variant, idxs in groups:
            held = {key[1] for key in present if self._covers(variant, key)}
            named: list[int] = []
            ids: set[int] = set()
            whole: list[int] = []
            for i in idxs:
                part = self.rule_variant(variant, rules[i])
                if part is variant:
                    whole.append(i)
                    continue
                here = held.intersection(part.event_ids) if part else set()
                if here:
                    named.append(i)
                    ids |= here
                else:
                    unheld += 1
            if named:
                out.append((narrowed(variant, ids) or variant, named))
            if whole:
                out.append((variant, whole))
        return out, unheld

    def _expand(self, found: pa.Table) -> pa.Table:
        """Matches on the rows of a distinct slice, as matches on the events they stand for."""
        with arrow_view(self.con, "__found", found):
            return self.con.sql(
                f"SELECT f.rule, unnest(s.{GROUPED_IDS}) AS rid FROM __found f "
                f"JOIN {SLICE} s ON s.{ROW_ID} = f.rid"
            ).to_arrow_table()

    def _present_slices(self) -> list[tuple[str, int]]:
        """(lower-cased channel, event id) pairs the events table holds."""
        return [(str(c or "").lower(), e if e is not None else -1) for c, e in self._inventory()]

    @staticmethod
    def _covers(variant: Variant, key: tuple[str, int]) -> bool:
        """Whether rows with this (channel, event id) belong to the slice of ``variant``
        (the same test as :meth:`slice_filter`, so an empty slice is never built)."""
        channel, event_id = key
        if variant.channels and channel not in {c.lower() for c in variant.channels}:
            return False
        return not variant.event_ids or event_id in variant.event_ids

    def _plan(self, rules: Sequence[CompiledRule], idxs: list[int], distinct: bool) -> RulePlan:
        """Which rules among ``idxs`` can match the current slice (:mod:`.prefilter`);
        on a distinct slice, also on which rows (their bits go to ``SLICE_BITS``)."""
        if not distinct or len(idxs) < CANDIDATE_MIN_RULES:
            return plan_by_presence(rules, idxs, self._present_literals)

        def batches(names: list[str]) -> Iterable[pa.RecordBatch]:
            cols = "".join(f", {Dialect.ident(n + LOWER_SUFFIX)}" for n in names)
            yield from self.con.sql(f"SELECT {ROW_ID}{cols} FROM {SLICE}").to_arrow_reader(
                SCAN_ROWS
            )

        plan = plan_rules(rules, idxs, batches)
        if plan.words is not None:
            with arrow_view(self.con, "__words", plan.words):
                self._one(f"CREATE OR REPLACE TABLE {SLICE_BITS} AS SELECT * FROM __words")
        return plan

    def _present_literals(self, by_field: dict[str, set[str]]) -> set[tuple[str, str]]:
        """Which literals occur in the slice's fields.

        A field's distinct values are scanned in Python (:func:`present_literals`) while
        they are small; past ``SEARCH_BYTES`` DuckDB searches them instead
        (:func:`present_by_search`): Python's pass runs at tens of MB/s, and the rounds of
        a search cost more than that pass on small values.
        """
        found: set[tuple[str, str]] = set()
        for name, literals in by_field.items():
            chunks = self._small_distinct_values(name)
            if chunks is None:
                found |= self._search_literals(name, literals)
            else:
                found |= present_literals({name: literals}, lambda _name, held=chunks: held)
        return found

    def _small_distinct_values(self, name: str) -> list[pa.Array] | None:
        """The distinct values of field ``name`` if they fit in ``SEARCH_BYTES``, else
        None (the reading stops there)."""
        chunks: list[pa.Array] = []
        size = 0
        values = self._distinct_values(name)
        for chunk in values:
            chunks.append(chunk)
            size += chunk.nbytes
            if size > SEARCH_BYTES:
                values.close()  # the query's result, before the next query runs
                return None
        return chunks

    def _distinct_values(self, name: str) -> Generator[pa.Array, None, None]:
        """The slice's distinct lower-cased values of field ``name``, in chunks."""
        reader = self.con.sql(distinct_query(name, SLICE)).to_arrow_reader(SCAN_ROWS)
        try:
            for batch in reader:
                yield batch.column(0)
        finally:
            reader.close()

    def _search_literals(self, name: str, literals: set[str]) -> set[tuple[str, str]]:
        """Which ``literals`` occur in field ``name`` of the slice, by DuckDB's search
        (or Python's pass if DuckDB cannot compile the search)."""

        def search(field: str, ordered: list[str]) -> set[str]:
            pattern = DUCKDB.literal(alternation(ordered))
            rows = self.con.execute(
                f"SELECT DISTINCT unnest(regexp_extract_all(v, {pattern})) "
                f"FROM ({distinct_query(field, SLICE)})"
            ).fetchall()
            return {row[0] for row in rows}

        try:
            return self.memory.run(lambda: present_by_search({name: literals}, search))
        except duckdb.Error as exc:
            if out_of_memory(exc):
                raise
        return present_literals({name: literals}, self._distinct_values)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database (a connection is not shared
        between threads; the slice lives in an attached database all of them see)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self.con.cursor()
            if self._use:
                cur.execute(f"USE {self._use}")
            self._cursors.append(cur)
        return cur

    def query_all(self, queries: Sequence[str]) -> list[pa.Table]:
        """Results of independent queries, run several at once on the engine's threads
        (many small queries are dominated by planning, which one thread does serially)."""
        self.flush()

        def run(query: str) -> pa.Table:
            return self.memory.run(lambda: self._cursor().sql(query).to_arrow_table())

        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(run, queries))

    def _run_rules(
        self,
        rules: Sequence[CompiledRule],
        idxs: list[int],
        plan: RulePlan | None = None,
        source: str = SLICE,
    ) -> tuple[pa.Table, dict[int, str], int]:
        """Matches of rules ``idxs`` on the slice (or on ``source``, a relation with its
        columns), the rules whose query failed, and how many rules were run.

        A few rules per query (a UNION ALL of one filter each), several queries at once on
        the engine's threads: a slice of a hundred thousand rows is one row group, which
        DuckDB scans on one thread, so concurrency between queries is what uses the
        cores; and on small slices the fixed cost per query dominates, which the union
        shares. (One pass evaluating many rules per row was measured slower: every row
        then pays for a list of results.) A failing query is retried rule by rule so one
        broken rule does not hide the others' matches. A rule with candidate rows runs on
        those only: the CASE tests its bit before the rule's own conditions (a plain AND
        may be reordered to scan every row's strings first).
        """
        masked = plan.masked if plan else {}

        def select(i: int) -> str:
            head = f"SELECT {i}::INTEGER AS rule"
            if i not in masked:
                return f"{head}, {ROW_ID} AS rid FROM {source} WHERE {rules[i].sql}"
            test = candidate_test(*masked[i])
            # The bit test alone is pushed into the scan of the (small) bits table; the
            # CASE keeps the rule's conditions off every row that is not a candidate.
            return (
                f"{head}, s.{ROW_ID} AS rid FROM {SLICE} s "
                f"JOIN {SLICE_BITS} b ON b.{BITS_KEY} = s.{ROW_ID} WHERE {test} "
                f"AND CASE WHEN {test} THEN ({rules[i].sql}) ELSE false END"
            )

        query = " UNION ALL ".join(select(i) for i in idxs)
        try:
            table = self.memory.run(lambda: self._cursor().sql(query).to_arrow_table())
            return table, {}, len(idxs)
        except duckdb.Error as exc:
            if out_of_memory(exc):
                raise
            if len(idxs) == 1:
                return _NO_MATCHES, {idxs[0]: f"query failed: {exc}"}, 1
        parts, errors = [], {}
        for i in idxs:
            table, error, _ = self._run_rules(rules, [i], plan, source)
            parts.append(table)
            errors.update(error)
        return pa.concat_tables(parts), errors, len(idxs)


def _without_empty_fields(table: pa.Table) -> pa.Table:
    """``table`` without the field columns that are null on every row: INSERT BY NAME
    fills them, where buffered they would cost a null run each in the copy that is
    inserted (Mordor: 70-110 MB of its 470-590 MB per row group)."""
    empty = [
        f.name
        for f, column in zip(table.schema, table.columns, strict=True)
        if column.null_count == table.num_rows and f.name not in _CORE_NAMES
    ]
    return table.drop_columns(empty) if empty else table


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
    """
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


def _rule_groups(rules: Sequence[CompiledRule]) -> list[tuple[Variant, list[int]]]:
    """The rules of each slice: one group per variant (logsource), except that rules
    searching the whole event's text get a group of their own where the others are many
    enough for a distinct slice. That column is nearly unique per row: one keyword rule
    among 1,459 process creation rules kept those scanning every event instead of their
    candidate rows. Among fewer rules the slice is not distinct anyway, and one slice
    costs less than two."""
    by_variant: dict[tuple[object, ...], tuple[Variant, list[int]]] = {}
    for idx, rule in enumerate(rules):
        for v in rule.variants:
            by_variant.setdefault(v.key, (v, []))[1].append(idx)
    groups: list[tuple[Variant, list[int]]] = []
    for variant, idxs in by_variant.values():
        keyword = [i for i in idxs if ALL_TEXT_FIELD in rules[i].fields]
        others = [i for i in idxs if ALL_TEXT_FIELD not in rules[i].fields]
        if keyword and len(others) >= DISTINCT_MIN_RULES:
            groups += [(variant, others), (variant, keyword)]
        else:
            groups.append((variant, idxs))
    return groups


_NO_MATCHES = pa.table({"rule": pa.array([], pa.int32()), "rid": pa.array([], pa.int64())})


def address_fields(rules: Iterable[CompiledRule]) -> set[str]:
    """Fields that CIDR conditions of ``rules`` read through their address twin."""
    out: set[str] = set()
    for rule in rules:
        if rule.cidr:
            out.update(f for f in rule.fields if Dialect.ident(f + IP_SUFFIX) in rule.sql)
    return out


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int64(t):
        return "BIGINT"
    return "VARCHAR"
