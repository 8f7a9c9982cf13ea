"""Compiled rules run as Spark jobs: one slice per group of rules, a batch of rules a job.

The plan is the DuckDB engine's (:mod:`lotlhunt.engines.planning`): rules grouped by
the slice their logsource covers, narrowed to the event ids they name and the store
holds. Each slice is read once from its channels' partitions and cached while its
batches run; a batch is one pass over the slice computing, per row, the indexes of the
rules that hold (``filter(array(IF(rule, i, NULL), ...))``), exploded into matches.
Per-row work runs on the executors; the driver only plans and collects matches.
A batch that fails (a rule whose regular expression Java refuses) is retried rule by
rule, so one broken rule never hides the others' matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from ...events.parquet_store import ROW_ID
from ...rules.compile.dialect import IP_SUFFIX, SPARK
from ...rules.model import CompiledRule
from ..base import Evaluation
from ..planning import batched, by_event_ids, covers, fields_read, rule_groups

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .engine import SparkEngine

#: Rules per Spark job. Each job has a fixed cost of scheduling and a scan of the cached
#: slice; very large expressions make Spark's code generation give up (it then
#: interprets, correctly but slower), so batches stay moderate.
RULES_PER_JOB = 48

_NO_MATCHES = pa.table({"rule": pa.array([], pa.int32()), "rid": pa.array([], pa.int64())})


def spark_address_fields(rules: Sequence[CompiledRule]) -> set[str]:
    """Fields that CIDR conditions of ``rules`` compare as addresses."""
    out: set[str] = set()
    for rule in rules:
        if rule.cidr:
            out.update(f for f in rule.fields if SPARK.ident(f + IP_SUFFIX) in rule.sql)
    return out


def evaluate(
    engine: SparkEngine,
    rules: Sequence[CompiledRule],
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    present = engine.present_slices()
    groups, unheld = by_event_ids(
        rule_groups(rules, engine.options.distinct_min_rules),
        rules,
        present,
        engine.has_field("EventID"),
    )
    if progress and unheld:
        progress(unheld)
    jobs: list[tuple[list[int], DataFrame]] = []
    for variant, idxs in groups:
        df = None
        if any(covers(variant, key) for key in present):
            used = "\n".join(rules[i].sql for i in idxs)
            df = engine.tables.slice(
                variant,
                sorted(fields_read(rules, idxs)),
                spark_address_fields([rules[i] for i in idxs]),
                used,
            )
        if df is None:
            if progress:
                progress(len(idxs))
            continue
        jobs.extend((part, df) for part in batched(idxs, RULES_PER_JOB))
    parts, failed = _collect(jobs, rules)
    if progress:
        progress(sum(len(idxs) for idxs, _ in jobs))
    matches = pa.concat_tables(parts) if parts else _NO_MATCHES
    if matches.num_rows:
        # A rule whose variants overlap (never in the shipped mapping) matches once.
        matches = matches.group_by(["rule", "rid"]).aggregate([])
    return Evaluation(matches=matches, failed=sorted(failed.items()), slices=len(groups))


def _hits(df: DataFrame, rules: Sequence[CompiledRule], idxs: Sequence[int]) -> DataFrame:
    """(rule, rid) of every match of rules ``idxs`` on the slice ``df``."""
    tests = ", ".join(
        f"IF(coalesce(({rules[i].sql}), false), CAST({int(i)} AS INT), NULL)" for i in idxs
    )
    return (
        df.selectExpr(ROW_ID, f"filter(array({tests}), x -> x IS NOT NULL) AS hits")
        .where("size(hits) > 0")
        .selectExpr("explode(hits) AS rule", f"{ROW_ID} AS rid")
    )


def _collect(
    jobs: list[tuple[list[int], DataFrame]], rules: Sequence[CompiledRule]
) -> tuple[list[pa.Table], dict[int, str]]:
    """Every job's matches (a job: rules and the slice they read), as one Spark job when
    all of them run (a union: one scheduling round for the whole rule set); otherwise
    job by job, and rule by rule in a job that fails, so one broken rule hides nothing
    else."""
    if not jobs:
        return [], {}
    try:
        union = union_all([_hits(df, rules, idxs) for idxs, df in jobs])
        return [_typed(union.toArrow())], {}
    except _spark_errors() as exc:
        if len(jobs) == 1 and len(jobs[0][0]) == 1:
            return [], {jobs[0][0][0]: f"query failed: {_first_line(exc)}"}
    parts: list[pa.Table] = []
    failed: dict[int, str] = {}
    for idxs, df in jobs:
        if len(jobs) == 1:  # the union above was this very job
            got, errors = _collect([([i], df) for i in idxs], rules)
        else:
            got, errors = _collect([(idxs, df)], rules)
        parts.extend(got)
        failed.update(errors)
    return parts, failed


def union_all(frames: list[DataFrame]) -> DataFrame:
    """One relation of ``frames`` (same columns, same order), unioned as a balanced tree:
    Spark analyses the plan at every union, and a chain of hundreds of unions made that
    quadratic (minutes of analysis before any task ran, on SigmaHQ's rule set)."""
    while len(frames) > 1:
        frames = [
            frames[k].union(frames[k + 1]) if k + 1 < len(frames) else frames[k]
            for k in range(0, len(frames), 2)
        ]
    return frames[0]


def _spark_errors() -> tuple[type[Exception], ...]:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


def _typed(table: pa.Table) -> pa.Table:
    return pa.table(
        {
            "rule": table.column("rule").cast(pa.int32()),
            "rid": table.column("rid").cast(pa.int64()),
        }
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
