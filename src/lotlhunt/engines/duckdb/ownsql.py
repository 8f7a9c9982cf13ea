"""Rules run as their own SQL on a slice: those without a condition tree, or every rule
when per-field evaluation is off (``EngineOptions.by_field``, the oracle of the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..planning import batched, fields_read, slice_columns
from .memory import out_of_memory
from .store import ROW_ID

if TYPE_CHECKING:
    from .engine import DuckDBEngine

#: No match: the shape of every match table.
NO_MATCHES = pa.table({"rule": pa.array([], pa.int32()), "rid": pa.array([], pa.int64())})


def by_sql(
    engine: DuckDBEngine,
    pool: ThreadPoolExecutor,
    rules: Sequence[CompiledRule],
    variant: Variant,
    idxs: list[int],
    progress: Callable[[int], None] | None,
) -> tuple[list[pa.Table], dict[int, str]]:
    """Matches of rules run as their own SQL, a few per query, on the slice's query."""
    fields = sorted(fields_read(rules, idxs))
    query = engine.slices.slice_query(variant, fields, slice_columns(rules, idxs), engine.cursor())
    if query is None:
        if progress:
            progress(len(idxs))
        return [], {}
    size = engine.options.rules_per_query
    futures = [pool.submit(run_rules, engine, rules, b, f"({query})") for b in batched(idxs, size)]
    found: list[pa.Table] = []
    failed: dict[int, str] = {}
    for future in as_completed(futures):
        table, errors, done = future.result()
        failed.update(errors)
        if table.num_rows:
            found.append(table)
        if progress:
            progress(done)
    return found, failed


def run_rules(
    engine: DuckDBEngine, rules: Sequence[CompiledRule], idxs: list[int], source: str
) -> tuple[pa.Table, dict[int, str], int]:
    """Matches of rules ``idxs`` on ``source`` (a relation with the slice's columns),
    the rules whose query failed, and how many rules were run.

    A few rules per query (a UNION ALL of one filter each), several queries at once on
    the engine's threads: on small slices the fixed cost per query dominates, which
    the union shares. A failing query is retried rule by rule so one broken rule does
    not hide the others' matches.
    """
    query = " UNION ALL ".join(
        f"SELECT {i}::INTEGER AS rule, {ROW_ID} AS rid FROM {source} WHERE {rules[i].sql}"
        for i in idxs
    )
    try:
        table = engine.memory.run(lambda: engine.cursor().sql(query).to_arrow_table())
        return table, {}, len(idxs)
    except duckdb.Error as exc:
        if out_of_memory(exc):
            raise
        if len(idxs) == 1:
            return NO_MATCHES, {idxs[0]: f"query failed: {exc}"}, 1
    parts, errors = [], {}
    for i in idxs:
        table, error, _ = run_rules(engine, rules, [i], source)
        parts.append(table)
        errors.update(error)
    return pa.concat_tables(parts), errors, len(idxs)
