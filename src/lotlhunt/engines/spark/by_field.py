"""Rules evaluated per field on the executors: each pass's rows, partition by partition,
handed as Arrow to the embedded engine's per-field evaluator in the executor's Python.

Spark SQL evaluates every rule on every row of its slice: 4.3 ms of executor CPU an
event for SigmaHQ's rules on the simulated corpus (5-11 us per rule and event,
``bench/README.md``), a hundred times the embedded engine, which tests each field's
distinct values once. Here a pass (:func:`.evaluate.passes`) is one Spark job as
before, but its rows go to ``DataFrame.mapInArrow``: each task gathers its partition's
batches (up to ``SparkOptions.rows_per_chunk`` rows at a time) and evaluates the rules
of the pass on them with :func:`lotlhunt.engines.arrow_eval.evaluate_table`, yielding
(rule, row id) matches. The rules go to the executors once, as a broadcast of their
DuckDB-dialect twins (the same rules compiled for the embedded engine), unpickled once
per Python worker.

Exact by construction where it is used: the rows are the pass's (its channels, event
ids and the hunt's scope, filtered by Spark), the columns the store's own, and the
evaluation the embedded engine's (whose results the corpus tests hold equal to Spark
SQL's). Two things would differ, and those rules keep the Spark SQL path:

* a rule without a twin (rules given without their DuckDB twins);
* a rule reading a field that is also a core alias (``EventID``, ``Channel``,
  ``Computer``, ``EventRecordID``) where the store has such a field column: the
  embedded engine drops a field no row of its table fills, and the alias would then
  answer where the case's column is NULL.

A rule that fails on an executor (DuckDB refuses a pattern Java takes), or a pass
whose job fails, is run again by Spark SQL: the path of record for what it cannot do.
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ...events import schema
from ...events.parquet_store import ROW_ID
from ...rules.compile.dialect import ALL_TEXT_FIELD, SPARK
from ...rules.model import CompiledRule
from ..base import EngineOptions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .engine import SparkEngine
    from .evaluate import _Pass

#: What a task yields: matches, and rules that failed (``rid`` -1, with the error).
OUTPUT = "rule INT, rid BIGINT, error STRING"
_OUTPUT_SCHEMA = pa.schema(
    [pa.field("rule", pa.int32()), pa.field("rid", pa.int64()), pa.field("error", pa.string())]
)
#: Core columns a rule can read (as a field alias, a logsource's channel and event
#: ids, a provider); the others are not sent to the executors.
CORE_SENT = (schema.HOST, schema.CHANNEL, schema.PROVIDER, schema.EVENT_ID, schema.RECORD_ID)
#: Sigma fields the engines answer from core columns when no field column holds them.
CORE_ALIAS_FIELDS = frozenset({"eventid", "channel", "computer", "eventrecordid"})

#: Twins unpickled in this Python worker, by broadcast id: a worker runs many tasks.
_WORKER_TWINS: dict[str, dict[int, CompiledRule]] = {}


def twins_usable(
    rules: Sequence[CompiledRule], twins: Sequence[CompiledRule] | None
) -> dict[int, CompiledRule]:
    """The twins of ``rules`` (index -> DuckDB-dialect rule) that are the same rule:
    same id, title, file, slices and fields. None or a list of another length: none."""
    if twins is None or len(twins) != len(rules):
        return {}
    out: dict[int, CompiledRule] = {}
    for i, (rule, twin) in enumerate(zip(rules, twins, strict=True)):
        if (
            rule.id == twin.id
            and rule.title == twin.title
            and rule.path == twin.path
            and rule.variants == twin.variants
            and rule.event_ids == twin.event_ids
            and {f.lower() for f in rule.fields} == {f.lower() for f in twin.fields}
        ):
            out[i] = twin
    return out


def by_field_rules(
    engine: SparkEngine,
    pass_: _Pass,
    rules: Sequence[CompiledRule],
    twins: dict[int, CompiledRule],
) -> list[int]:
    """The rules of ``pass_`` evaluated per field (the others keep Spark SQL)."""
    channels = engine.tables.channels_of(pass_.variant)
    columns = engine.tables.columns_of(channels)
    out = []
    for i in pass_.guards:
        if i not in twins:
            continue
        aliased = {f.lower() for f in rules[i].fields} & CORE_ALIAS_FIELDS
        if any(engine.tables._column(columns, f) is not None for f in aliased):
            continue
        out.append(i)
    return out


def pass_frame(
    engine: SparkEngine, pass_: _Pass, rules: Sequence[CompiledRule], idxs: Sequence[int]
) -> DataFrame | None:
    """The rows of ``pass_`` with the store's own columns its rules ``idxs`` read (all of
    its partitions' field columns if one searches the event's text); None: no rows."""
    tables = engine.tables
    variant = pass_.variant
    rows = tables.rows_of(variant)
    if rows is None:
        return None
    channels, df = rows
    columns = tables.columns_of(channels)
    names: set[str] = set()
    keywords = False
    for i in idxs:
        names.update(rules[i].fields)
        keywords = keywords or rules[i].keywords
    for _, rename in variant.renames:
        names.update(rename.fields)
    if keywords or any(n.lower() == ALL_TEXT_FIELD for n in names):
        wanted = list(columns.values())
    else:
        found = {tables._column(columns, n) for n in names}
        # In the partitions' order: the text of an event joins its fields in it.
        wanted = [c for c in columns.values() if c in found]
    df = df.where(tables.row_filter(variant, channels))
    return df.select(ROW_ID, *CORE_SENT, *(SPARK.ident(c) for c in wanted))


def evaluator(
    broadcast: Shipped, idxs: Sequence[int], chunk_rows: int, options: EngineOptions
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function a task runs on its partition's batches (``mapInArrow``)."""
    wanted = list(idxs)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        twins = _worker_twins(broadcast)
        pending: list[pa.RecordBatch] = []
        held = 0
        for batch in batches:
            if not batch.num_rows:
                continue
            pending.append(batch)
            held += batch.num_rows
            if held >= chunk_rows:
                yield _chunk(pending, twins, wanted, options)
                pending, held = [], 0
        if pending:
            yield _chunk(pending, twins, wanted, options)

    return run


@dataclass(frozen=True)
class Shipped:
    """Twins broadcast to the executors, with a name a worker keeps them under."""

    broadcast: Any
    token: str


def _worker_twins(shipped: Shipped) -> dict[int, CompiledRule]:
    got = _WORKER_TWINS.get(shipped.token)
    if got is None:
        _WORKER_TWINS.clear()
        got = _WORKER_TWINS[shipped.token] = pickle.loads(shipped.broadcast.value)
    return got


def _chunk(
    batches: list[pa.RecordBatch],
    twins: dict[int, CompiledRule],
    idxs: list[int],
    options: EngineOptions,
) -> pa.RecordBatch:
    """The matches of rules ``idxs`` on one chunk of a partition, and their failures."""
    from ..arrow_eval import evaluate_table

    table = pa.Table.from_batches(batches)
    rids = table.column(ROW_ID).to_numpy()
    found = evaluate_table(table.drop_columns([ROW_ID]), [twins[i] for i in idxs], options)
    index = np.asarray(idxs, np.int32)
    failed = sorted(found.failed.items())
    rule = np.concatenate([index[found.rules], index[[k for k, _ in failed]].astype(np.int32)])
    rid = np.concatenate([rids[found.rows], np.full(len(failed), -1, np.int64)])
    errors = [None] * len(found.rows) + [e for _, e in failed]
    return pa.record_batch(
        [pa.array(rule, pa.int32()), pa.array(rid, pa.int64()), pa.array(errors, pa.string())],
        schema=_OUTPUT_SCHEMA,
    )


def broadcast_twins(engine: SparkEngine, twins: dict[int, CompiledRule]) -> Shipped:
    """The twins sent to the executors once (a pickle: every field decoded)."""
    data = pickle.dumps(twins, pickle.HIGHEST_PROTOCOL)
    return Shipped(engine.spark.sparkContext.broadcast(data), uuid.uuid4().hex)


def run_pass(
    df: DataFrame, broadcast: Shipped, idxs: Sequence[int], chunk_rows: int
) -> tuple[pa.Table, dict[int, str]]:
    """One Spark job: the matches of rules ``idxs`` on the pass ``df`` (rule, rid), and
    the rules that failed on some task."""
    options = EngineOptions(threads=1)
    got = df.mapInArrow(evaluator(broadcast, idxs, chunk_rows, options), OUTPUT).toArrow()
    errors = got.column("error")
    bad = pa.compute.is_valid(errors)
    failed: dict[int, str] = {}
    for r, e in zip(
        got.column("rule").filter(bad).to_pylist(), errors.filter(bad).to_pylist(), strict=True
    ):
        failed.setdefault(int(r), str(e))
    ok = got.filter(pa.compute.invert(bad))
    matches = pa.table(
        {
            "rule": ok.column("rule").cast(pa.int32()),
            "rid": ok.column("rid").cast(pa.int64()),
        }
    )
    return matches, failed
