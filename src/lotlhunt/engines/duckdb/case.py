"""Reading events back out of a DuckDB case: by row id, by match, by kind; its inputs.

After evaluation the analytics need the identity of matched events (time, host,
channel...), a few fields of whole kinds of events, and what the case was read from.
Results are read column by column as Arrow: nothing as wide as the events table is
copied (with hundreds of columns such a copy pins a block per column per thread, which
a bounded memory cannot always give).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa

from ...errors import CaseError
from ...events import schema
from ...rules.compile.dialect import DUCKDB
from ...rules.logsources import Variant
from ..base import RID, RULE, CaseTotals, FrameRequest, InputCounts
from .arrow_view import arrow_view
from .store import EVENTS, ROW_ID

if TYPE_CHECKING:
    from .engine import DuckDBEngine

#: Per-input counts kept in the case, so a re-hunt reports what the case holds.
META_TABLE = "lotlhunt_inputs"


def matched_events(engine: DuckDBEngine, matches: pa.Table) -> pa.Table:
    """``rule``, ``rid`` and the core columns of each match's event, ordered by time,
    rule, row id."""
    engine.flush()
    cores = ", ".join("e." + c for c in schema.CORE_COLUMNS)
    with arrow_view(engine.con, "__matches", matches.select([RULE, RID])):
        return engine.con.sql(
            f"SELECT m.{RULE}::INTEGER AS {RULE}, e.{ROW_ID} AS {RID}, {cores} "
            f"FROM __matches m JOIN {EVENTS} e ON e.{ROW_ID} = m.{RID} "
            f"ORDER BY e.{schema.TIMESTAMP}, m.{RULE}, e.{ROW_ID}"
        ).to_arrow_table()


def event_rows(engine: DuckDBEngine, rids: Sequence[int], columns: Sequence[str]) -> pa.Table:
    """``rid`` and the core ``columns`` of the events with these row ids, by time then id."""
    engine.flush()
    wanted = [c for c in columns if c in schema.CORE_COLUMNS]
    if len(wanted) != len(columns):
        raise ValueError(f"not core columns: {sorted(set(columns) - set(wanted))}")
    ids = pa.table({"rid": pa.array(sorted(rids), pa.int64())})
    cols = "".join(f", {DUCKDB.ident(c)}" for c in wanted)
    with arrow_view(engine.con, "__rids", ids):
        return engine.con.sql(
            f"SELECT {ROW_ID} AS {RID}{cols} FROM {EVENTS} "
            f"WHERE {ROW_ID} IN (SELECT rid FROM __rids) "
            f"ORDER BY {schema.TIMESTAMP}, {ROW_ID}"
        ).to_arrow_table()


def event_fields(engine: DuckDBEngine, rids: Sequence[int], fields: Sequence[str]) -> pa.Table:
    """``rid``, channel, event id and ``fields`` (NULL where absent) of these events."""
    engine.flush()
    everything = Variant(name="all", channels=())
    names = list(dict.fromkeys(fields))
    exprs = "".join(
        f", CAST({engine.slices.field_expression(n, everything)} AS VARCHAR) AS {DUCKDB.ident(n)}"
        for n in names
    )
    ids = pa.table({"rid": pa.array(sorted(set(rids)), pa.int64())})
    with arrow_view(engine.con, "__rids", ids):
        return in_row_order(
            engine,
            f"SELECT {ROW_ID} AS {RID}, {schema.CHANNEL}, {schema.EVENT_ID}{exprs} "
            f"FROM {EVENTS} WHERE {ROW_ID} IN (SELECT rid FROM __rids)",
        )


def events_frame(
    engine: DuckDBEngine,
    columns: Sequence[str],
    event_ids: Sequence[int],
    channels: Sequence[str],
) -> pa.Table:
    """Fields ``columns`` and ``rid`` of the events of ``event_ids`` on ``channels``
    (see :meth:`lotlhunt.engines.base.Engine.events_frame`)."""
    request = FrameRequest(tuple(columns), tuple(event_ids), tuple(channels))
    return events_frames(engine, [request])[0]


def events_frames(engine: DuckDBEngine, requests: Sequence[FrameRequest]) -> list[pa.Table]:
    """Each request's frame (:func:`events_frame`), the requests run at once."""
    engine.flush()
    return in_row_order_all(engine, [frame_query(engine, r) for r in requests])


def frame_query(engine: DuckDBEngine, request: FrameRequest) -> str:
    """The query of one frame. A field stored in a column that no event of the asked
    channels fills (as the case's column presence records it) is a NULL constant rather
    than a read: the same values, without scanning and converting a column of NULLs
    (Sysmon's process starts fill 8 of the 17 process fields the frame asks for)."""
    variant = Variant(name="frame", channels=request.channels, event_ids=request.event_ids)
    names = list(dict.fromkeys(request.columns))
    exprs = [
        DUCKDB.ident(n)
        if n in schema.CORE_COLUMNS
        else f"{_frame_field(engine, n, variant)} AS {DUCKDB.ident(n)}"
        for n in names
    ]
    select = ", ".join([f"{ROW_ID} AS {RID}", *exprs])
    return f"SELECT {select} FROM {EVENTS} WHERE {engine.slices.slice_filter(variant)}"


def _frame_field(engine: DuckDBEngine, name: str, variant: Variant) -> str:
    expr = engine.slices.field_expression(name, variant)
    col = engine.store.column(name)
    if col is not None and expr == DUCKDB.ident(col) and variant.channels:
        if not engine.store.presence.filled(variant.channels, [col]):
            return "NULL::VARCHAR"
    return f"CAST({expr} AS VARCHAR)"


def in_row_order(engine: DuckDBEngine, query: str) -> pa.Table:
    """The rows of ``query`` (a scan of the events with ``rid``) in row-id order.

    Read in insertion order instead of sorted: a case's rows are inserted by row id, so
    the scan comes in order without the sort, which cost about half of reading the
    frames (a million events' core columns: 0.75 s sorted, 0.4 s in insertion order).
    Rows that come otherwise (events in Parquet parts) are sorted here.
    """
    con = engine.con
    row = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    before = "true" if row and row[0] else "false"
    con.execute("SET preserve_insertion_order = true")
    try:
        table = con.sql(query).to_arrow_table()
    finally:
        con.execute(f"SET preserve_insertion_order = {before}")
    return _by_rid(table)


def in_row_order_all(engine: DuckDBEngine, queries: Sequence[str]) -> list[pa.Table]:
    """The rows of each query (as :func:`in_row_order`), the queries run at once on the
    engine's threads, each query on one thread.

    A scan on one thread comes in insertion order at no cost, where keeping the order of
    a scan on two threads cost as much again as the scan (a million events' core
    columns: 0.2 s of CPU unordered on two threads or ordered on one, 0.45 s ordered on
    two); running the frames' queries side by side keeps both threads busy.
    """
    if len(queries) <= 1 or engine.threads <= 1:
        return [_ordered(engine, q) for q in queries]
    con = engine.con
    row = con.execute(
        "SELECT current_setting('preserve_insertion_order'), current_setting('threads')"
    ).fetchone()
    order = "true" if row and row[0] else "false"
    threads = int(row[1]) if row else engine.threads

    def run(query: str) -> pa.Table:
        return engine.memory.run(lambda: engine.cursor().sql(query).to_arrow_table())

    con.execute("SET preserve_insertion_order = true")
    con.execute("SET threads = 1")
    try:
        with ThreadPoolExecutor(engine.threads) as pool:
            tables = list(pool.map(run, queries))
    finally:
        con.execute(f"SET threads = {threads}")
        con.execute(f"SET preserve_insertion_order = {order}")
    return [_by_rid(t) for t in tables]


def _ordered(engine: DuckDBEngine, query: str) -> pa.Table:
    return engine.memory.run(lambda: in_row_order(engine, query))


def _by_rid(table: pa.Table) -> pa.Table:
    """``table`` sorted by ``rid`` unless it already is."""
    rid = table.column(RID).to_numpy()
    if rid.size > 1 and not bool(np.all(rid[1:] > rid[:-1])):
        table = table.take(pa.array(np.argsort(rid, kind="stable")))
    return table


def slice_size(engine: DuckDBEngine, variant: Variant) -> int:
    """Events in the slice of ``variant``."""
    engine.flush()
    row = engine.store.one(
        f"SELECT count(*) FROM {EVENTS} WHERE {engine.slices.slice_filter(variant)}"
    )
    return int(row[0]) if row else 0


def record_inputs(engine: DuckDBEngine, inputs: Sequence[InputCounts]) -> None:
    """Keep per-input counts in the case, so a re-hunt reports what the case holds."""
    engine.con.execute(
        f"CREATE TABLE IF NOT EXISTS {META_TABLE} "
        "(label VARCHAR, records BIGINT, records_failed BIGINT, issues VARCHAR)"
    )
    if not inputs:
        return
    # One Arrow insert: executemany costs milliseconds per row (hundreds of files).
    table = pa.table(
        {
            "label": pa.array([i.label for i in inputs], pa.string()),
            "records": pa.array([i.records for i in inputs], pa.int64()),
            "records_failed": pa.array([i.records_failed for i in inputs], pa.int64()),
            "issues": pa.array([json.dumps(list(i.issues)) for i in inputs], pa.string()),
        }
    )
    with arrow_view(engine.con, "__inputs", table):
        engine.con.execute(f"INSERT INTO {META_TABLE} BY NAME SELECT * FROM __inputs")


def case_totals(engine: DuckDBEngine) -> CaseTotals | None:
    """The recorded inputs summed; None for a case without the record (made by hand)."""
    try:
        rows = engine.con.execute(
            f"SELECT count(*), sum(records), sum(records_failed) FROM {META_TABLE}"
        ).fetchall()
    except duckdb.CatalogException:  # a case made by hand may lack the table
        return None
    except duckdb.Error as exc:  # one it cannot read is damaged
        raise CaseError(f"case file {engine.path} is damaged: {exc}") from exc
    files, records, failed = rows[0]
    return CaseTotals(int(files or 0), int(records or 0), int(failed or 0))


def case_labels(engine: DuckDBEngine) -> set[str]:
    """The labels of the inputs a case recorded (none for a new case)."""
    try:
        rows = engine.con.execute(f"SELECT DISTINCT label FROM {META_TABLE}").fetchall()
    except duckdb.CatalogException:
        return set()
    except duckdb.Error as exc:
        raise CaseError(f"case file {engine.path} is damaged: {exc}") from exc
    return {row[0] for row in rows}
