"""Apache Spark as a lotlhunt engine: the same rules, on a cluster, over a Parquet store.

Events live in a Parquet case store (:mod:`lotlhunt.events.parquet_store`): the one a
user made with ``lotlhunt ingest``, or a temporary one this engine writes while a hunt
reads raw logs (on the executors where it can, :mod:`.reading`). Rule evaluation
(:mod:`.evaluate`), explanations and every read of events run as Spark jobs over the
store's partitions. Sigma correlations run on the driver, in the embedded engine, over
the matched events only: they are a window over detections, a few thousand rows where
the events are billions, and one implementation of their semantics is worth more than
two.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...events import schema
from ...events.parquet_store import ROW_ID, Store, StoreWriter, is_store
from ...rules.compile.dialect import DUCKDB, IP_HEX_FUNCTION, SPARK, ip_hex
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ...scope import EventScope
from ..base import (
    RID,
    RULE,
    CaseTotals,
    CorrelationPlan,
    CorrelationRun,
    EngineOptions,
    Evaluation,
    ExplainRequest,
    FrameRequest,
    InputCounts,
)
from ..planning import SliceKey
from .evaluate import evaluate
from .explain import explain
from .session import INTERPRETED_CONF, SparkOptions, spark_session
from .tables import StoreTables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from ...sources import InputUnit, UnitReport


class SparkEngine:
    """Events in a Parquet store, rules evaluated by a Spark session."""

    name = "spark"
    dialect = SPARK
    #: The dialect of the rules' twins it evaluates per field on the executors
    #: (:mod:`.by_field`); a hunt hands them over with :meth:`set_twins`.
    twin_dialect = DUCKDB

    def __init__(
        self,
        case: str | None = None,
        options: EngineOptions | None = None,
        spark: SparkOptions | None = None,
    ) -> None:
        self.options = options or EngineOptions()
        self.spark_options = spark or SparkOptions()
        self.spark = spark_session(self.spark_options)
        self._register_functions()
        self._notes: list[str] = []
        self._writer: StoreWriter | None = None
        self._store: Store | None = None
        self._tables: StoreTables | None = None
        self._temp: str | None = None
        self._rows: pa.Table | None = None
        self._row_ids: set[int] = set()
        #: The rules of the next :meth:`evaluate` compiled in :attr:`twin_dialect`.
        self.twins: list[CompiledRule] | None = None
        #: The rules the last :meth:`evaluate` ran per field (the others: Spark SQL).
        self.by_field_rules: set[int] = set()
        if case is not None and is_store(Path(case)):
            self._open(Path(case))
        else:
            if case is None:
                self._temp = tempfile.mkdtemp(prefix="lotlhunt-store-")
                weakref.finalize(self, shutil.rmtree, self._temp, True)
                root = Path(self._temp) / "case"
            else:
                root = Path(case)
            self._writer = StoreWriter(root)

    def _register_functions(self) -> None:
        from pyspark.sql.functions import udf
        from pyspark.sql.types import StringType

        self.spark.udf.register(
            IP_HEX_FUNCTION,
            udf(ip_hex, StringType(), useArrow=True),
        )

    def _open(self, root: Path) -> None:
        self._store = Store.open(root)
        self._tables = StoreTables(self.spark, self._store)

    # -- storage ----------------------------------------------------------------------

    @property
    def writer(self) -> StoreWriter:
        if self._writer is None:
            raise RuntimeError("this case store is complete: it cannot take more events")
        return self._writer

    def ingest(self, batch: pa.RecordBatch) -> None:
        self.writer.ingest(batch)

    def flush(self) -> None:
        """Events become visible when the store is sealed (:meth:`record_inputs`)."""

    def record_inputs(self, inputs: Sequence[InputCounts]) -> None:
        writer = self.writer
        writer.record_inputs(inputs)
        self._writer = None
        self._open(writer.root)

    @property
    def reads_files(self) -> bool:
        """Whether raw files are read on the executors (a store still being written)."""
        return self.spark_options.read_on_executors and self._writer is not None

    def read_units(self, units: Sequence[InputUnit]) -> list[UnitReport]:
        """Read ``units`` on the executors into the store; their reports."""
        from .reading import read_on_executors

        writer = self.writer
        parts, reports = read_on_executors(self.spark, units, writer.root)
        writer.add_parts(parts)
        return reports

    @property
    def store_root(self) -> Path:
        if self._writer is not None:
            return self._writer.root
        assert self._store is not None
        return self._store.root

    @property
    def tables(self) -> StoreTables:
        if self._tables is None:
            # Events ingested without inputs recorded (a test, the Python API).
            self.record_inputs([])
        assert self._tables is not None
        return self._tables

    @property
    def interprets(self) -> bool:
        """Whether rules are evaluated with expressions interpreted (a small case), not
        compiled: unless the user set Spark's code generation themselves."""
        own = {k for k, _ in self.spark_options.conf}
        if any(k in own for k, _ in INTERPRETED_CONF) or self.spark_options.session is not None:
            return False
        return self.count() < self.spark_options.interpret_below_rows

    def count(self) -> int:
        return self.tables.store.manifest.rows

    def close(self) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    @property
    def notes(self) -> list[str]:
        return self._notes

    # -- inventory --------------------------------------------------------------------

    def has_field(self, name: str) -> bool:
        key = schema.field_column(name).lower()
        return any(c.lower() == key for c in self.tables.store.manifest.columns)

    def restrict(self, scope: EventScope) -> None:
        self.tables.restrict(scope)

    def present_slices(self) -> list[SliceKey]:
        return [(c.lower(), e) for c, e in self.tables.store.manifest.inventory()]

    def slice_size(self, variant: Variant) -> int:
        found = self.tables.rows_of(variant)
        if found is None:
            return 0
        channels, df = found
        return int(df.where(self.tables.row_filter(variant, channels)).count())

    # -- evaluation -------------------------------------------------------------------

    def set_twins(self, twins: Sequence[CompiledRule]) -> None:
        """The rules :meth:`evaluate` will be given, in the same order, compiled in
        :attr:`twin_dialect`: with them, rules run per field on the executors."""
        self.twins = list(twins)

    def evaluate(
        self, rules: Sequence[CompiledRule], progress: Callable[[int], None] | None = None
    ) -> Evaluation:
        return evaluate(self, rules, progress)

    # -- after evaluation -------------------------------------------------------------

    def _frame(self, table: pa.Table) -> DataFrame:
        return self.spark.createDataFrame(table)

    def matched_events(self, matches: pa.Table) -> pa.Table:
        cores = ", ".join(f"e.{c}" for c in schema.CORE_COLUMNS)
        if matches.num_rows == 0:
            return _empty_core([pa.field(RULE, pa.int32()), pa.field(RID, pa.int64())])
        events = self.tables.events(None)
        assert events is not None
        events.createOrReplaceTempView("__lotl_events")
        self._frame(matches.select([RULE, RID])).createOrReplaceTempView("__lotl_matches")
        table = self.spark.sql(
            f"SELECT CAST(m.{RULE} AS INT) AS {RULE}, e.{ROW_ID} AS {RID}, {cores} "
            f"FROM __lotl_matches m JOIN __lotl_events e ON e.{ROW_ID} = m.{RID}"
        ).toArrow()
        return _sorted(_conform(table), [schema.TIMESTAMP, RULE, RID])

    def event_rows(self, rids: Sequence[int], columns: Sequence[str]) -> pa.Table:
        wanted = [c for c in columns if c in schema.CORE_COLUMNS]
        if len(wanted) != len(columns):
            raise ValueError(f"not core columns: {sorted(set(columns) - set(wanted))}")
        if not rids:
            return _empty_core([pa.field(RID, pa.int64())], wanted)
        known = self._known_rows(rids)
        if known is not None:
            # Events already on the driver (those correlations read): no Spark job, as a
            # hunt asks this once per correlation hit.
            return _sorted(known, [schema.TIMESTAMP, RID]).select([RID, *wanted])
        events = self.tables.events(None)
        assert events is not None
        ids = self._frame(pa.table({ROW_ID: pa.array(sorted(rids), pa.int64())}))
        keys = [c for c in (schema.TIMESTAMP,) if c not in wanted]
        table = (
            events.join(ids, on=ROW_ID, how="left_semi")
            .selectExpr(f"{ROW_ID} AS {RID}", *wanted, *keys)
            .toArrow()
        )
        return _sorted(_conform(table), [schema.TIMESTAMP, RID]).select([RID, *wanted])

    def _remember(self, rows: pa.Table) -> None:
        """Keep the core columns of ``rows`` (events read to the driver, with their row
        ids) to answer :meth:`event_rows` about them without a Spark job."""
        core = rows.select([ROW_ID, *schema.CORE_COLUMNS]).rename_columns(
            [RID, *schema.CORE_COLUMNS]
        )
        self._rows = core if self._rows is None else pa.concat_tables([self._rows, core])
        self._row_ids = set(self._rows.column(RID).to_pylist())

    def _known_rows(self, rids: Sequence[int]) -> pa.Table | None:
        """The remembered core rows of ``rids`` (None unless every one is remembered)."""
        if self._rows is None or not self._row_ids.issuperset(rids):
            return None
        mask = pa.compute.is_in(self._rows.column(RID), pa.array(sorted(set(rids)), pa.int64()))
        rows = self._rows.filter(mask)
        _, first = np.unique(rows.column(RID).to_numpy(), return_index=True)
        return rows.take(pa.array(first))

    def event_fields(self, rids: Sequence[int], fields: Sequence[str]) -> pa.Table:
        names = list(dict.fromkeys(fields))
        head = [RID, schema.CHANNEL, schema.EVENT_ID]
        if not rids:
            return pa.schema(
                [pa.field(RID, pa.int64()), *(f for f in schema.CORE_FIELDS if f.name in head)]
                + [pa.field(n, pa.string()) for n in names]
            ).empty_table()
        return self._frame_of(names, Variant(name="frame", channels=()), rids, head)

    def events_frame(
        self, columns: Sequence[str], event_ids: Sequence[int], channels: Sequence[str]
    ) -> pa.Table:
        variant = Variant(name="frame", channels=tuple(channels), event_ids=tuple(event_ids))
        names = list(dict.fromkeys(columns))
        return self._frame_of(names, variant, None, [RID])

    def events_frames(self, requests: Sequence[FrameRequest]) -> list[pa.Table]:
        return [self.events_frame(r.columns, r.event_ids, r.channels) for r in requests]

    def _frame_of(
        self,
        names: Sequence[str],
        variant: Variant,
        rids: Sequence[int] | None,
        head: Sequence[str],
    ) -> pa.Table:
        """``head`` then ``names`` (core columns as they are, fields as text, NULL where
        absent) of the events of ``variant`` (or of the row ids ``rids``), by row id."""
        tables = self.tables
        spelled = tables.channels_of(variant)
        df = None if spelled is not None and not spelled else tables.events(spelled)
        if df is None:
            fields = {f.name: f for f in schema.CORE_FIELDS}
            return pa.schema(
                [
                    pa.field(n, pa.int64()) if n == RID else fields.get(n, pa.field(n, pa.string()))
                    for n in [*head, *names]
                ]
            ).empty_table()
        cols = tables.columns_of(spelled)
        exprs = [f"{ROW_ID} AS {RID}" if n == RID else SPARK.ident(n) for n in head] + [
            SPARK.ident(n)
            if n in schema.CORE_COLUMNS
            else f"CAST({tables.field_expression(n, variant, cols)} AS STRING) AS {SPARK.ident(n)}"
            for n in names
        ]
        df = df.where(tables.row_filter(variant, spelled))
        if rids is not None:
            ids = self._frame(pa.table({ROW_ID: pa.array(sorted(set(rids)), pa.int64())}))
            df = df.join(ids, on=ROW_ID, how="left_semi")
        return _sorted(_conform(df.selectExpr(*exprs).toArrow()), [RID])

    def explain(
        self,
        rules: Sequence[CompiledRule],
        matches: pa.Table,
        requests: Mapping[int, ExplainRequest],
    ) -> list[pa.Table]:
        """Per match of a requested rule: the values of its shown fields and which
        selections hold, over the matched events collected once (:mod:`.explain`)."""
        return [_conform(t) for t in explain(self, rules, matches, requests)]

    def correlate(
        self,
        rules: Sequence[CompiledRule],
        plans: Mapping[int, CorrelationPlan],
        order: Sequence[int],
        matches: pa.Table,
        case_sensitive: bool = False,
    ) -> CorrelationRun:
        """Correlations over the matched events, in the embedded engine on the driver."""
        from ..duckdb.engine import DuckDBEngine

        bases = {s.base for i in order for s in plans[i].sources if s.base is not None}
        mask = pa.compute.is_in(matches.column(RULE), pa.array(sorted(bases), pa.int32()))
        wanted = matches.filter(mask)
        rids = (
            np.unique(wanted.column(RID).to_numpy()) if wanted.num_rows else np.array([], np.int64)
        )
        local = DuckDBEngine(None, EngineOptions(memory_limit=self.options.memory_limit))
        try:
            if len(rids):
                events = self.tables.events(None)
                assert events is not None
                ids = self._frame(pa.table({ROW_ID: pa.array(rids, pa.int64())}))
                rows = events.join(ids, on=ROW_ID, how="left_semi").toArrow()
                rows = _sorted(_conform(rows), [ROW_ID])
                self._remember(rows)
                order_rids = rows.column(ROW_ID).to_numpy()
                for batch in rows.drop_columns([ROW_ID]).to_batches():
                    local.ingest(batch)
            else:
                order_rids = np.array([], np.int64)
            local.flush()
            # The embedded engine numbers rows 0..n-1 in the order they were ingested.
            remapped = pa.table(
                {
                    RULE: wanted.column(RULE),
                    RID: pa.array(
                        np.searchsorted(order_rids, wanted.column(RID).to_numpy()), pa.int64()
                    ),
                }
            )
            run = local.correlate(rules, plans, order, remapped, case_sensitive)
        finally:
            local.close()
        for k, ep in enumerate(run.episodes):
            run.episodes[k] = type(ep)(
                correlation=ep.correlation,
                group_values=ep.group_values,
                value=ep.value,
                first=ep.first,
                last=ep.last,
                rids=tuple(int(order_rids[r]) for r in ep.rids),
            )
        return run

    # -- the case ---------------------------------------------------------------------

    def case_totals(self) -> CaseTotals | None:
        inputs = self.tables.store.inputs
        return CaseTotals(
            files=len(inputs),
            records=sum(i.records for i in inputs),
            records_failed=sum(i.records_failed for i in inputs),
        )


def _type_of(name: str) -> pa.DataType:
    for f in schema.CORE_FIELDS:
        if f.name == name:
            return f.type
    return pa.string()


def _empty_core(head: list[pa.Field], columns: Sequence[str] = schema.CORE_COLUMNS) -> pa.Table:
    return pa.schema([*head, *(pa.field(c, _type_of(c)) for c in columns)]).empty_table()


def _sorted(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """``table`` ordered by ``keys``, ascending, NULL first as Spark's and DuckDB's SQL
    order them: sorted on the driver, where the rows are anyway, instead of a Spark
    sort (a sampling job, then a shuffle stage, for each answer of a few rows).

    Each key holding NULL gets a key of its own before it (pyarrow is deprecating a
    null placement for the whole sort)."""
    names = table.column_names
    order: list[tuple[str, str]] = []
    for k, name in enumerate(keys):
        col = table.column(name)
        if col.null_count:
            flag = f"__valid{k}"
            table = table.append_column(flag, pc.is_valid(col))
            order.append((flag, "ascending"))
        order.append((name, "ascending"))
    return table.sort_by(order).select(names)


def _conform(table: pa.Table) -> pa.Table:
    """Spark's Arrow output with the events table's types (timestamps in UTC micros,
    32-bit event ids), so the rest of a hunt cannot tell which engine answered."""
    cols = []
    for name in table.column_names:
        col = table.column(name)
        want = _type_of(name) if name in schema.CORE_COLUMNS else None
        if want is not None and col.type != want:
            col = col.cast(want)
        cols.append(col)
    return pa.table(cols, names=table.column_names)
