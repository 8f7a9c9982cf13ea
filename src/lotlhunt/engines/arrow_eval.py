"""Compiled rules run on one Arrow table of events by the embedded engine, per field.

Where events arrive as Arrow batches rather than sit in a DuckDB table (a Spark
executor's Python worker holding one partition of a case store), the cheapest exact
evaluation is the embedded engine's own: each field's tests once over its distinct
values, each rule boolean algebra over them (:mod:`.duckdb.units`). So the table is
loaded into a private in-memory :class:`~.duckdb.engine.DuckDBEngine` and its evaluator
runs as it does on a whole case: the same slices, renames, lowered and address twins,
keyword text and NULL of a missing field, because it is the same code.

Rules must be compiled in the DuckDB dialect. Matches come back as positions in the
table (the engine numbers the rows it is given from 0, in order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..events import schema
from ..rules.model import CompiledRule
from .base import EngineOptions


@dataclass
class TableMatches:
    """What rules found on one table: (rule index, row position) pairs, and the rules
    that could not run, with why."""

    rules: np.ndarray
    rows: np.ndarray
    failed: dict[int, str]


def as_events(table: pa.Table) -> pa.Table:
    """``table`` as the events schema takes it: the core columns it holds cast to their
    types, the others NULL; every other column a field, as text."""
    n = table.num_rows
    cols: list[pa.Array | pa.ChunkedArray] = []
    names: list[str] = []
    have = set(table.column_names)
    for f in schema.CORE_FIELDS:
        if f.name in have:
            col = table.column(f.name)
            cols.append(col if col.type == f.type else col.cast(f.type))
        else:
            cols.append(pa.nulls(n, f.type))
        names.append(f.name)
    core = {f.name for f in schema.CORE_FIELDS}
    for name in table.column_names:
        if name in core:
            continue
        col = table.column(name)
        cols.append(col if col.type == pa.string() else col.cast(pa.string()))
        names.append(name)
    return pa.table(cols, names=names)


def evaluate_table(
    table: pa.Table, rules: Sequence[CompiledRule], options: EngineOptions | None = None
) -> TableMatches:
    """The matches of ``rules`` (DuckDB dialect) on the events of ``table`` (core columns
    and field columns, :func:`as_events`), as row positions."""
    from .duckdb.engine import DuckDBEngine

    events = as_events(table)
    engine = DuckDBEngine(None, options or EngineOptions(threads=1))
    try:
        for batch in events.to_batches():
            engine.ingest(batch)
        evaluation = engine.evaluate(rules)
    finally:
        engine.close()
    matches = evaluation.matches
    return TableMatches(
        rules=matches.column("rule").to_numpy().astype(np.int32, copy=False),
        rows=matches.column("rid").to_numpy().astype(np.int64, copy=False),
        failed=dict(evaluation.failed),
    )
