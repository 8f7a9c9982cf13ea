"""The values and selections behind each match, from the matched events collected once.

Matches are few where events are many, and what an explanation costs on Spark is not
the rows but the plans: a relation per group of fired rules, each a scan of the store's
files joined with its matches, each compiled to Java by Spark's code generation on the
driver (and again on every executor). On SigmaHQ's Windows rules that was hundreds of
scans and compilations for a few thousand matched events.

So the matched events are read once, in one Spark job (the columns the explanations
read, from the partitions of the fired rules' channels), joined with their matches on
the driver, and explained over that small in-memory relation with the same compiled
selections and field resolution as evaluation (:class:`.tables.StoreTables`), every
rule group in one query, interpreted rather than compiled: on a few thousand rows,
compiling costs more than it saves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from ...events import schema
from ...events.parquet_store import ROW_ID
from ...rules.compile.dialect import SPARK
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..base import RID, RULE, ExplainRequest
from .evaluate import spark_address_fields, union_all
from .session import interpreted

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .engine import SparkEngine

#: The column of the collected matches naming the rule that matched.
HIT_RULE = "__rule"


def explain(
    engine: SparkEngine,
    rules: Sequence[CompiledRule],
    matches: pa.Table,
    requests: Mapping[int, ExplainRequest],
) -> list[pa.Table]:
    """``rule``, ``rid``, ``vals`` and ``held`` of every match of a rule in ``requests``
    (see :meth:`lotlhunt.engines.base.Engine.explain`)."""
    if matches.num_rows == 0 or not requests:
        return []
    tables = engine.tables
    fired = set(matches.column(RULE).to_pylist())
    groups: dict[tuple[object, ...], tuple[Variant, list[int]]] = {}
    for idx in sorted(requests):
        if idx in fired:
            for variant in rules[idx].variants:
                groups.setdefault(variant.key, (variant, []))[1].append(idx)
    parts = [
        part
        for variant, idxs in groups.values()
        if (part := _Part.plan(engine, rules, variant, idxs, requests)) is not None
    ]
    if not parts:
        return []
    wanted = [m for m in (matches.column(RULE).to_pylist()) if m in requests]
    hits = matches.filter(pa.compute.is_in(matches.column(RULE), pa.array(sorted(set(wanted)))))
    events = _matched_events(engine, parts, hits.column(RID))
    if events.num_rows == 0:
        return []
    joined = _join(hits, events)
    frame = engine.spark.createDataFrame(joined).coalesce(1)
    union = union_all([part.frame(frame, tables.row_filter) for part in parts])
    with interpreted(engine.spark):
        table = union.toArrow()
    return [table]


class _Part:
    """The explanation of one group of fired rules of one variant: its slice's columns
    (as evaluation resolves them) and, per rule, the values shown and the tests."""

    def __init__(
        self,
        variant: Variant,
        channels: list[str] | None,
        idxs: Sequence[int],
        columns: list[str],
        vals: str,
        held: str,
    ) -> None:
        self.variant = variant
        self.channels = channels
        self.idxs = list(idxs)
        self.columns = columns
        self.vals = vals
        self.held = held

    @classmethod
    def plan(
        cls,
        engine: SparkEngine,
        rules: Sequence[CompiledRule],
        variant: Variant,
        idxs: Sequence[int],
        requests: Mapping[int, ExplainRequest],
    ) -> _Part | None:
        tables = engine.tables
        channels = tables.channels_of(variant)
        if channels is not None and not channels:
            return None
        vals: list[str] = []
        held: list[str] = []
        fields: set[str] = set()
        for idx in idxs:
            shown = [f"CAST({SPARK.ident(n)} AS STRING)" for n in requests[idx].shown]
            fields |= rules[idx].fields
            vals.append(f"WHEN {int(idx)} THEN CAST(array({', '.join(shown)}) AS ARRAY<STRING>)")
            tests = [
                f"coalesce(({sql}), false)" if known is None else str(known).lower()
                for (_, sql), known in zip(
                    rules[idx].selections, requests[idx].implied, strict=True
                )
            ]
            held.append(f"WHEN {int(idx)} THEN CAST(array({', '.join(tests)}) AS ARRAY<BOOLEAN>)")
        columns = tables.slice_columns(
            variant,
            tables.columns_of(channels),
            sorted(fields),
            spark_address_fields([rules[i] for i in idxs]),
            "\n".join(vals + held),
        )
        return cls(variant, channels, idxs, columns, " ".join(vals), " ".join(held))

    def frame(
        self, events: DataFrame, row_filter: Callable[[Variant, Sequence[str] | None], str]
    ) -> DataFrame:
        """The explanations of this part's matches, from ``events`` (the collected
        matched events, a row per match)."""
        ids = ", ".join(str(int(i)) for i in self.idxs)
        return (
            events.where(f"{HIT_RULE} IN ({ids}) AND {row_filter(self.variant, self.channels)}")
            .selectExpr(HIT_RULE, ROW_ID, *self.columns)
            .selectExpr(
                f"CAST({HIT_RULE} AS INT) AS {RULE}",
                f"{ROW_ID} AS {RID}",
                f"CASE {HIT_RULE} {self.vals} END AS vals",
                f"CASE {HIT_RULE} {self.held} END AS held",
            )
        )


def _matched_events(engine: SparkEngine, parts: Sequence[_Part], rids: pa.ChunkedArray) -> pa.Table:
    """The events ``rids`` with the store columns that ``parts`` read (one Spark job)."""
    tables = engine.tables
    text = "\n".join(c for part in parts for c in part.columns).lower()
    store_columns = tables.columns_of(None)
    read = [c for c in store_columns.values() if SPARK.ident(c).lower() in text]
    every = (
        None
        if any(p.channels is None for p in parts)
        else sorted({c for p in parts for c in p.channels or ()})
    )
    events = tables.events(every)
    if events is None:
        return pa.table({ROW_ID: pa.array([], pa.int64())})
    ids = engine.spark.createDataFrame(pa.table({ROW_ID: pa.compute.unique(rids.cast(pa.int64()))}))
    core = [c for c in schema.CORE_COLUMNS if c.lower() not in {r.lower() for r in read}]
    return (
        events.join(ids, on=ROW_ID, how="left_semi")
        .select(ROW_ID, *(SPARK.ident(c) for c in [*core, *read]))
        .toArrow()
    )


def _join(hits: pa.Table, events: pa.Table) -> pa.Table:
    """A row per match: its rule, then its event's columns."""
    pairs = pa.table(
        {HIT_RULE: hits.column(RULE).cast(pa.int32()), ROW_ID: hits.column(RID).cast(pa.int64())}
    )
    return pairs.join(events, ROW_ID, join_type="inner")
