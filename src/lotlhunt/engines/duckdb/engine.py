"""DuckDB, the embedded default engine: events in memory or in a case file.

The engine is the :class:`~lotlhunt.engines.base.Engine` a hunt talks to; its work is
done by one module per job: the events table (:mod:`.store`), slices of it
(:mod:`.slices`), rule evaluation (:mod:`.evaluate`), explanations (:mod:`.explain`),
correlations (:mod:`.correlate`) and reading events back (:mod:`.case`). This module
sets up the database they share and holds them together.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import duckdb
import duckdb.func
import duckdb.sqltypes
import pyarrow as pa

from ...errors import CaseError
from ...events.parts import EventPart, PartsTarget
from ...rules.compile.dialect import DUCKDB, IP_HEX_FUNCTION, ip_hex_vectorised
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ...scope import EventScope
from ...tempfiles import SPILL_PREFIX, owned_prefix, remove_stale
from ..base import (
    CaseTotals,
    CorrelationPlan,
    CorrelationRun,
    EngineOptions,
    Evaluation,
    ExplainRequest,
    FrameRequest,
    InputCounts,
)
from ..planning import SliceKey, rule_variant
from . import case, search
from .correlate import correlate
from .evaluate import Evaluator
from .explain import explain
from .memory import PARTS_QUERY_SHARE, QUERY_SHARE, MemoryGuard
from .queries import SearchTerms, scope_condition
from .slices import CORE_ALIASES, SLICE, WORK_DB, Slices
from .store import EVENTS, ROW_ID, EventStore

#: The compressed in-memory database holding the events when there is no case file.
EVENTS_DB = "lotlhunt_events"

#: Connection settings: DuckDB must never fetch an extension (a case file in another
#: format, e.g. SQLite, made it try to download a reader for it).
CONNECT_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}
#: A DuckDB database file: its magic at byte 8, and its size a whole number of 4 KiB
#: pages (headers and blocks), so a file cut short is noticed before it is read.
_DUCKDB_MAGIC = b"DUCK"
_PAGE = 4096

__all__ = ["EVENTS", "ROW_ID", "SLICE", "CaseError", "DuckDBEngine", "Evaluation"]


def connect(path: str | None) -> duckdb.DuckDBPyConnection:
    """A connection to the case file ``path`` (or an in-memory database), never reaching
    the network, or :class:`CaseError` when the file is not a sound DuckDB database."""
    if path is not None and os.path.exists(path):
        _check_case_file(path)
    try:
        return duckdb.connect(path or ":memory:", config=dict(CONNECT_CONFIG))
    except duckdb.Error as exc:
        raise CaseError(f"cannot open case file {path}: {exc}") from exc


def _check_case_file(path: str) -> None:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise CaseError(f"cannot read case file {path}: {exc.strerror or exc}") from exc
    if size == 0:
        return  # an empty file becomes a new case
    if head[8:12] != _DUCKDB_MAGIC:
        raise CaseError(f"{path} is not a lotlhunt case (not a DuckDB database)")
    if size % _PAGE:
        raise CaseError(
            f"case file {path} is damaged: {size} bytes is not a whole number of"
            f" {_PAGE}-byte pages (cut short or padded)"
        )


class DuckDBEngine:
    """The events table and rule evaluation on an in-process DuckDB database."""

    name = "duckdb"
    dialect = DUCKDB

    def __init__(self, path: str | None = None, options: EngineOptions | None = None) -> None:
        self.path = path
        self.options = options or EngineOptions()
        self.con = connect(path)
        self._use: str | None = None
        if path is None:
            # A compressed in-memory database: DuckDB keeps plain in-memory tables
            # uncompressed, ten times the size of the same table checkpointed with
            # dictionary/FSST compression (Mordor: 120 MB resident instead of 550 MB
            # resident plus 1.3 GB spilled; without it wide scans ran out of memory).
            self._execute(f"ATTACH ':memory:' AS {EVENTS_DB} (COMPRESS)")
            self._execute(f"USE {EVENTS_DB}")
            self._use = EVENTS_DB
        if self.options.threads:
            self._execute(f"SET threads = {int(self.options.threads)}")
        # Bounded memory: past the limit DuckDB spills table data and operators to a
        # private temporary folder, so a hunt never needs memory in proportion to its input
        # (measured on Mordor: 4.8 GB resident without a limit, 1.8 GB with 1 GB).
        # Marked with this process's pid: a later hunt removes it if this one is killed.
        remove_stale()
        self._spill = tempfile.mkdtemp(prefix=owned_prefix(SPILL_PREFIX))
        # Removed by close(), or when the engine is collected or the program ends if
        # close() was never called: a leftover folder per hunt would pile up.
        self._remove_spill = weakref.finalize(self, shutil.rmtree, self._spill, True)
        self.memory = MemoryGuard(
            self.con,
            self.options.memory_limit,
            lambda: f"wide input: {len(self.store.columns)} columns",
        )
        self._execute(f"SET temp_directory = {DUCKDB.literal(self._spill)}")
        self._execute("SET preserve_insertion_order = false")
        # DuckDB draws its own bar on the terminal for queries past two seconds (a keyword
        # search of a large case): it would garble the caller's progress and tables.
        self._execute("SET enable_progress_bar = false")
        # Freed allocator pages go back to the system from a background thread: without
        # it the pages of each row group inserted linger until the next allocation that
        # happens to purge them (Mordor, reading only: peak of the process tree 1.5 GB
        # instead of 1.96 GB, reading as fast).
        self._execute("SET allocator_background_threads = true")
        self.con.create_function(
            IP_HEX_FUNCTION,
            ip_hex_vectorised,
            [duckdb.sqltypes.VARCHAR],
            duckdb.sqltypes.VARCHAR,
            type=duckdb.func.PythonUDFType.ARROW,
            null_handling=duckdb.func.FunctionNullHandling.SPECIAL,
            side_effects=False,
        )
        self._execute(f"ATTACH ':memory:' AS {WORK_DB}")
        row = self.con.execute("SELECT current_setting('threads')").fetchone()
        self.threads = max(1, int(row[0])) if row else 1
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        try:
            # A new hunt's events may be Parquet parts the readers write (in the spill
            # folder, removed with it); a case file's stay in its table.
            new = path is None and self.options.parts is not False
            parts = os.path.join(self._spill, "parts") if new else None
            self.store = EventStore(
                self.con, self.memory, self.options, self.threads, self._use, parts
            )
        except duckdb.Error as exc:
            self.close(flush=False)
            raise CaseError(f"case file {path} is damaged or not a lotlhunt case: {exc}") from exc
        self.slices = Slices(self.store)
        self.evaluator = Evaluator(self)

    def _execute(self, query: str) -> None:
        self.con.execute(query).fetchall()

    # -- storage ----------------------------------------------------------------------

    def event_fields(self, rids: Sequence[int], fields: Sequence[str]) -> pa.Table:
        return self.memory.run(lambda: case.event_fields(self, rids, fields))

    def ingest(self, batch: pa.RecordBatch) -> None:
        self.store.ingest(batch)

    def flush(self) -> None:
        self.store.flush()

    def parts_target(self, input_bytes: int | None = None) -> PartsTarget | None:
        """Where reader processes write the events as Parquet parts (None: hand them
        rows), for inputs of ``input_bytes`` (see :attr:`EngineOptions.parts`)."""
        return self.store.parts_target(input_bytes)

    def add_part(self, part: EventPart) -> None:
        self.store.add_part(part)

    def count(self) -> int:
        return self.store.count()

    def close(self, flush: bool | None = None) -> None:
        """Insert what is buffered, close the database and remove the spill folder,
        whatever fails. Closed while an exception propagates (an error, a signal), or
        with ``flush=False``, nothing more is inserted."""
        if flush is None:
            flush = sys.exc_info()[1] is None
        try:
            if flush and hasattr(self, "store"):
                self.flush()
        finally:
            try:
                if hasattr(self, "store"):
                    self.store.stop()  # no background insert left running on the database
                for cur in self._cursors:
                    cur.close()
                self.con.close()
            finally:
                self._remove_spill()

    @property
    def notes(self) -> list[str]:
        return self.memory.notes

    # -- inventory --------------------------------------------------------------------

    @property
    def columns(self) -> dict[str, str]:
        """Columns of the events table, keyed by lower-cased name."""
        return self.store.columns

    def has_field(self, name: str) -> bool:
        """Whether some event has a field ``name`` of its own (any case)."""
        return self.store.column(name) is not None

    def can_search(self, name: str) -> bool:
        """Whether a search on field ``name`` can hold: an event field, or a Sigma name of
        a core value (``EventID``, ``Channel``, ``Computer``...)."""
        return self.has_field(name) or name.lower() in CORE_ALIASES

    # -- questions besides rules (:mod:`.search`) ---------------------------------------

    def restrict(self, scope: EventScope) -> None:
        """Rules run only on the events in ``scope``: a re-hunt of a case read earlier
        takes the same ``--from``/``--to``/``--host``/``--event-id`` as a first hunt,
        whose readers drop the rows outside it before they are stored."""
        self.slices.scope_sql = scope_condition(scope)

    def count_events(self, scope: EventScope | None = None) -> int:
        return search.count_events(self, scope)

    def search(self, terms: SearchTerms, scope: EventScope) -> pa.RecordBatchReader:
        return search.search(self, terms, scope)

    def select(self, sql: str, terms: SearchTerms, scope: EventScope) -> pa.RecordBatchReader:
        return search.select(self, sql, terms, scope)

    def event_counts(self, scope: EventScope | None = None) -> pa.Table:
        return search.event_counts(self, scope)

    def events_of(
        self,
        channel: str,
        event_ids: Sequence[int],
        fields: Sequence[str],
        scope: EventScope | None = None,
    ) -> pa.Table:
        return search.events_of(self, channel, event_ids, fields, scope)

    def adopt_cursor(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Close ``cur`` with the engine (a cursor a streamed result still reads)."""
        self._cursors.append(cur)

    def slice_size(self, variant: Variant) -> int:
        return case.slice_size(self, variant)

    def present_slices(self) -> list[SliceKey]:
        """(lower-cased channel, event id) pairs the events table holds."""
        return [
            (str(c or "").lower(), e if e is not None else -1) for c, e in self.store.inventory()
        ]

    def rule_variant(self, variant: Variant, rule: CompiledRule) -> Variant | None:
        """The part of ``variant`` the rule can match here (see
        :func:`~lotlhunt.engines.planning.rule_variant`)."""
        return rule_variant(variant, rule, self.has_field("EventID"))

    # -- evaluation -------------------------------------------------------------------

    def evaluate(
        self, rules: Sequence[CompiledRule], progress: Callable[[int], None] | None = None
    ) -> Evaluation:
        self.flush()
        # Reading is over: DuckDB needs less from here on, and less still on parts.
        parts = self.store.parts_dir is not None
        self.memory.stored(PARTS_QUERY_SHARE if parts else QUERY_SHARE)
        return self.evaluator.evaluate(rules, progress)

    def cursor(self) -> duckdb.DuckDBPyConnection:
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
            return self.memory.run(lambda: self.cursor().sql(query).to_arrow_table())

        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(run, queries))

    # -- after evaluation -------------------------------------------------------------

    def matched_events(self, matches: pa.Table) -> pa.Table:
        return self.memory.run(lambda: case.matched_events(self, matches))

    def event_rows(self, rids: Sequence[int], columns: Sequence[str]) -> pa.Table:
        return self.memory.run(lambda: case.event_rows(self, rids, columns))

    def events_frame(
        self, columns: Sequence[str], event_ids: Sequence[int], channels: Sequence[str]
    ) -> pa.Table:
        return case.events_frame(self, columns, event_ids, channels)

    def events_frames(self, requests: Sequence[FrameRequest]) -> list[pa.Table]:
        return case.events_frames(self, requests)

    def explain(
        self,
        rules: Sequence[CompiledRule],
        matches: pa.Table,
        requests: Mapping[int, ExplainRequest],
    ) -> list[pa.Table]:
        return self.memory.run(lambda: explain(self, rules, matches, requests))

    def correlate(
        self,
        rules: Sequence[CompiledRule],
        plans: Mapping[int, CorrelationPlan],
        order: Sequence[int],
        matches: pa.Table,
        case_sensitive: bool = False,
    ) -> CorrelationRun:
        return correlate(self, rules, plans, order, matches, case_sensitive)

    # -- the case ---------------------------------------------------------------------

    def record_inputs(self, inputs: Sequence[InputCounts]) -> None:
        case.record_inputs(self, inputs)

    def case_totals(self) -> CaseTotals | None:
        return case.case_totals(self)

    def case_labels(self) -> set[str]:
        """Inputs the case already holds (none for a new case)."""
        return case.case_labels(self)
