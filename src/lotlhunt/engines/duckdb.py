"""DuckDB, the embedded default engine: events in memory or in a case file.

Ingest appends Arrow batches to one wide ``events`` table (new field columns are added as
they appear). A hunt groups rules by the slice of events their logsource covers, builds
each slice once with exactly the columns its rules read (renamed for that slice, lowered
once for case-insensitive matching, NULL where the data has no such field), then
evaluates many rules per pass, so the fixed cost of a query is paid per batch of rules,
not per rule.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..logsources import Variant
from ..rules import CompiledRule
from ..sigma_sql import (
    ALL_TEXT_FIELD,
    DUCKDB,
    IP_HEX_FUNCTION,
    LOWER_SUFFIX,
    Dialect,
    ip_hex_vectorised,
)
from .prefilter import SCAN_ROWS, distinct_query, literal_index, may_match, present_literals

ROW_ID = "__rid"
EVENTS = "events"
#: Rules evaluated per query. Larger batches pay less fixed cost per rule but plan slower;
#: measured on SigmaHQ process_creation rules (see bench/).
RULE_BATCH = 48
#: DuckDB's memory limit unless LOTLHUNT_MEMORY_LIMIT says otherwise; beyond it, spill.
DEFAULT_MEMORY_LIMIT = "1GB"
#: Rows buffered before one INSERT: large enough to amortise the insert's fixed cost on a
#: wide table, small enough to keep memory bounded.
INSERT_ROWS = 65_536

#: Sigma field names that refer to core columns, as the event's own System values.
_CORE_ALIASES: dict[str, str] = {
    "eventid": f"CAST({schema.EVENT_ID} AS VARCHAR)",
    "channel": schema.CHANNEL,
    "computer": schema.HOST,
    "eventrecordid": f"CAST({schema.RECORD_ID} AS VARCHAR)",
}
_COLUMN_REF = re.compile(r"\{([^{}]+)\}")


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
        if threads:
            self._one(f"SET threads = {int(threads)}")
        # Bounded memory: past the limit DuckDB spills table data and operators to a
        # private temporary folder, so a hunt never needs memory in proportion to its input
        # (measured on Mordor: 4.8 GB resident without a limit, 1.8 GB with 1 GB).
        limit = memory_limit or os.environ.get("LOTLHUNT_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
        self._spill = tempfile.mkdtemp(prefix="lotlhunt-spill-")
        self._one(f"SET memory_limit = {DUCKDB.literal(limit)}")
        self._one(f"SET temp_directory = {DUCKDB.literal(self._spill)}")
        self._one("SET preserve_insertion_order = false")
        self.con.create_function(
            IP_HEX_FUNCTION,
            ip_hex_vectorised,
            ["VARCHAR"],
            "VARCHAR",
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
        self._columns: dict[str, str] = {}
        self._spaceless: dict[str, str] = {}
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._pending_columns: list[str] = []
        self._next_rid = 0
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

    @property
    def columns(self) -> dict[str, str]:
        """Columns of the events table, keyed by lower-cased name."""
        return dict(self._columns)

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
        self._buffer.append(pa.Table.from_batches([batch]).append_column(ROW_ID, rids))
        self._buffered += batch.num_rows
        if self._buffered >= INSERT_ROWS:
            self.flush()

    def flush(self) -> None:
        """Insert whatever is buffered; called before every query on the events table."""
        for name in self._pending_columns:
            self._one(f"ALTER TABLE {EVENTS} ADD COLUMN {Dialect.ident(name)} VARCHAR")
        self._pending_columns = []
        if not self._buffer:
            return
        # One contiguous, aligned copy: IPC-received buffers may be unaligned, which the
        # Arrow scan DuckDB uses warns about and handles slowly.
        table = pa.concat_tables(self._buffer, promote_options="default").combine_chunks()
        self._buffer, self._buffered = [], 0
        self.con.register("__batch", table)
        try:
            self._one(f"INSERT INTO {EVENTS} BY NAME SELECT * FROM __batch")
        finally:
            self.con.unregister("__batch")

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
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

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
            cols = [Dialect.ident(c) for c in self.field_columns()]
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

    def slice_filter(self, variant: Variant) -> str:
        conds = []
        if variant.channels:
            chans = ", ".join(DUCKDB.literal(c.lower()) for c in variant.channels)
            conds.append(f"lower({schema.CHANNEL}) IN ({chans})")
        if variant.event_ids:
            conds.append(f"{schema.EVENT_ID} IN ({', '.join(str(i) for i in variant.event_ids)})")
        return " AND ".join(conds) or "true"

    def build_slice(self, variant: Variant, fields: Iterable[str], name: str = "__slice") -> int:
        """Materialise the rows of ``variant`` with the given fields and their lowered twins."""
        seen: dict[str, str] = {}
        for f in fields:
            seen.setdefault(f.lower(), f)
        exprs = [ROW_ID]
        for f in seen.values():
            e = self.field_expression(f, variant)
            exprs.append(f"{e} AS {Dialect.ident(f)}")
            exprs.append(f"lower({e}) AS {Dialect.ident(f + LOWER_SUFFIX)}")
        self._one(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {', '.join(exprs)} "
            f"FROM {EVENTS} WHERE {self.slice_filter(variant)}"
        )
        row = self._one(f"SELECT count(*) FROM {name}")
        return int(row[0]) if row else 0

    # -- evaluation ---------------------------------------------------------------------

    def evaluate(
        self,
        rules: Sequence[CompiledRule],
        progress: Callable[[int], None] | None = None,
    ) -> Evaluation:
        """Run every rule on the slices its logsource covers; return all matches."""
        self.flush()
        groups: dict[tuple[object, ...], tuple[Variant, list[int]]] = {}
        for idx, rule in enumerate(rules):
            for v in rule.variants:
                groups.setdefault(v.key, (v, []))[1].append(idx)
        parts: list[pa.Table] = []
        failed: dict[int, str] = {}
        skipped = 0
        for variant, idxs in groups.values():
            fields: set[str] = set()
            for i in idxs:
                fields |= rules[i].fields
            if self.build_slice(variant, sorted(fields)) == 0:
                if progress:
                    progress(len(idxs))
                continue
            runnable = self._prefilter(rules, idxs)
            skipped += len(idxs) - len(runnable)
            if progress:
                progress(len(idxs) - len(runnable))
            idxs = runnable
            for start in range(0, len(idxs), RULE_BATCH):
                chunk = idxs[start : start + RULE_BATCH]
                parts.extend(self._run_batch(rules, chunk, failed))
                if progress:
                    progress(len(chunk))
        self._one("DROP TABLE IF EXISTS __slice")
        if parts:
            # A rule whose variants overlap (never in the shipped mapping) matches once.
            self.con.register("__parts", pa.concat_tables(parts))
            try:
                matches = self.con.sql("SELECT DISTINCT rule, rid FROM __parts").to_arrow_table()
            finally:
                self.con.unregister("__parts")
        else:
            matches = pa.table({"rule": pa.array([], pa.int32()), "rid": pa.array([], pa.int64())})
        return Evaluation(
            matches=matches, failed=sorted(failed.items()), slices=len(groups), skipped=skipped
        )

    def _prefilter(self, rules: Sequence[CompiledRule], idxs: list[int]) -> list[int]:
        """The rules among ``idxs`` whose required literals occur in the current slice."""
        by_field = literal_index(rules, idxs)
        if not by_field:
            return idxs

        def distinct_values(name: str) -> Iterable[pa.Array]:
            reader = self.con.sql(distinct_query(name, "__slice")).to_arrow_reader(SCAN_ROWS)
            for batch in reader:
                yield batch.column(0)

        found = present_literals(by_field, distinct_values)
        return [i for i in idxs if may_match(rules[i], found)]

    def _run_batch(
        self, rules: Sequence[CompiledRule], idxs: list[int], failed: dict[int, str]
    ) -> list[pa.Table]:
        cases = ", ".join(f"CASE WHEN {rules[i].sql} THEN {i} END" for i in idxs)
        query = (
            f"SELECT {ROW_ID} AS rid, hits FROM (SELECT {ROW_ID}, "
            f"list_filter([{cases}], lambda x: x IS NOT NULL) AS hits FROM __slice) "
            "WHERE len(hits) > 0"
        )
        try:
            table = self.con.sql(query).to_arrow_table()
        except duckdb.Error as exc:
            if len(idxs) == 1:
                failed[idxs[0]] = f"query failed: {exc}"
                return []
            out: list[pa.Table] = []
            for i in idxs:  # find the rule that broke the batch; the others still run
                out.extend(self._run_batch(rules, [i], failed))
            return out
        if table.num_rows == 0:
            return []
        hits = table.column("hits").combine_chunks()
        parents = pc.list_parent_indices(hits)
        return [
            pa.table(
                {
                    "rule": pc.cast(pc.list_flatten(hits), pa.int32()),
                    "rid": pc.take(table.column("rid"), parents),
                }
            )
        ]


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int64(t):
        return "BIGINT"
    return "VARCHAR"
