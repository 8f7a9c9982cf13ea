"""Questions hunters ask of the events table besides rules, run on DuckDB.

Searches (keywords, field values, regular expressions), the analyst's own SELECT over a
view of the events, counts for metrics and the logon events of a logon summary; the SQL
text is built by :mod:`.queries` from values already quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from ...errors import UsageError
from ...events import schema
from ...rules.compile.dialect import DUCKDB
from ...rules.logsources import Variant
from ...scope import EventScope
from .memory import out_of_memory
from .queries import (
    SearchTerms,
    all_text,
    check_regexes,
    check_select,
    event_counts_query,
    scope_condition,
    search_condition,
)
from .store import EVENTS, ROW_ID

if TYPE_CHECKING:
    from .engine import DuckDBEngine

_EVERYTHING = Variant(name="all", channels=())


def count_events(engine: DuckDBEngine, scope: EventScope | None = None) -> int:
    """Events in the table (in ``scope`` when given)."""
    engine.flush()
    where = scope_condition(scope) if scope else None
    row = engine.store.one(f"SELECT count(*) FROM {EVENTS}" + (f" WHERE {where}" if where else ""))
    return int(row[0]) if row else 0


def _search_where(engine: DuckDBEngine, terms: SearchTerms, scope: EventScope) -> str:
    text = all_text(engine.store.field_columns())
    check_regexes([p for _, p in terms.regexes], engine.con)
    conds = [
        search_sql
        for search_sql in (
            scope_condition(scope),
            None
            if terms.empty
            else search_condition(
                terms, lambda n: engine.slices.field_expression(n, _EVERYTHING), text
            ),
        )
        if search_sql
    ]
    return " AND ".join(conds) or "true"


def search(engine: DuckDBEngine, terms: SearchTerms, scope: EventScope) -> pa.RecordBatchReader:
    """The events in ``scope`` matching ``terms``, in time order, every column but the
    row id, streamed in batches (a search may keep millions of events)."""
    engine.flush()
    query = (
        f"SELECT * EXCLUDE ({ROW_ID}) FROM {EVENTS} "
        f"WHERE {_search_where(engine, terms, scope)} "
        f"ORDER BY {schema.TIMESTAMP} NULLS FIRST, {ROW_ID}"
    )
    rows = engine.options.scan_rows
    return engine.memory.run(lambda: engine.con.sql(query).to_arrow_reader(rows))


def select(
    engine: DuckDBEngine, sql: str, terms: SearchTerms, scope: EventScope
) -> pa.RecordBatchReader:
    """The analyst's own SELECT over a view named ``events`` holding the events in
    ``scope`` that match ``terms``.

    Only one SELECT statement is taken (:func:`check_select`), and it runs with files,
    extensions and Python objects out of reach and the configuration locked: a query can
    read the events, not write the case or anything else.
    """
    check_select(sql)
    engine.flush()
    where = _search_where(engine, terms, scope)
    row = engine.store.one("SELECT current_database()")
    database = DUCKDB.ident(str(row[0])) if row else "memory"
    cur = engine.con.cursor()
    engine.adopt_cursor(cur)
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
    rows = engine.options.scan_rows
    try:
        return engine.memory.run(lambda: cur.sql(sql).to_arrow_reader(rows))
    except duckdb.Error as exc:
        if out_of_memory(exc):
            raise
        raise UsageError(f"--sql failed: {exc}") from None


def event_counts(engine: DuckDBEngine, scope: EventScope | None = None) -> pa.Table:
    """Events per (source, host, channel, provider, event id) with first and last time
    (:data:`~.queries.COUNT_COLUMNS`): what metrics are rolled up from."""
    engine.flush()
    query = event_counts_query(EVENTS, scope_condition(scope) if scope else None)
    return engine.memory.run(lambda: engine.con.sql(query).to_arrow_table())


def events_of(
    engine: DuckDBEngine,
    channel: str,
    event_ids: Sequence[int],
    fields: Sequence[str],
    scope: EventScope | None = None,
) -> pa.Table:
    """Time, host and event id of the events of ``channel`` (any case) with one of
    ``event_ids``, and their ``fields`` under the names asked (NULL where absent)."""
    engine.flush()
    cols = [
        f"CAST({engine.slices.field_expression(f, _EVERYTHING)} AS VARCHAR) AS {DUCKDB.ident(f)}"
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
    return engine.memory.run(lambda: engine.con.sql(query).to_arrow_table())
