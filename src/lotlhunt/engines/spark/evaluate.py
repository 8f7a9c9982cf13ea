"""Compiled rules run as Spark jobs: one job per slice, the slices' jobs side by side.

The plan is the DuckDB engine's (:mod:`lotlhunt.engines.planning`): rules grouped by
the slice their logsource covers, narrowed to the event ids they name and the store
holds. A job is one pass over a slice computing, per row, the indexes of the rules that
hold (``filter(array(IF(rule, i, NULL), ...))``), exploded into matches. Per-row work
runs on the executors; the driver plans, and collects matches.

Why a job per slice, not one job for the whole rule set: every task of a job carries
(and deserializes) the job's whole plan, and SigmaHQ's rule set makes a plan of
megabytes. As one union of every slice, each of its hundreds of tiny tasks spent
seconds deserializing the other slices' rules (the EVTX attack samples: a median task
of 5.9 s, 3.4 s of it deserialization, for a few hundred rows). Jobs are submitted from
a few driver threads at once, so small slices overlap instead of queueing.

Expressions are compiled to Java (Spark's code generation) only for large cases
(:attr:`.session.SparkOptions.interpret_below_rows`): compiling SigmaHQ's rules costs
the driver minutes before the first row is read, which only a large case repays.
When compiled, a slice's rules run in batches of :data:`RULES_PER_JOB`, because very
large generated methods make Java give up compiling them.

A job that fails (a rule whose regular expression Java refuses) is run again rule by
rule, so one broken rule never hides the others' matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import TYPE_CHECKING

import pyarrow as pa

from ...events.parquet_store import ROW_ID
from ...rules.compile.dialect import IP_SUFFIX, SPARK
from ...rules.model import CompiledRule
from ..base import Evaluation
from ..planning import batched, by_event_ids, covers, fields_read, rule_groups
from .session import interpreted

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .engine import SparkEngine

#: Rules per Spark job when expressions are compiled: very large expressions make
#: Spark's code generation give up (it then interprets, correctly but slower).
RULES_PER_JOB = 48
#: Jobs the driver submits at once (at most the default parallelism): enough to keep
#: executors busy with small slices while the driver plans the next ones.
JOBS_AT_ONCE = 4

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
    interpret = engine.interprets
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
        size = len(idxs) if interpret else RULES_PER_JOB
        jobs.extend((part, df) for part in batched(idxs, size))
    parts: list[pa.Table] = []
    failed: dict[int, str] = {}
    threads = max(1, min(JOBS_AT_ONCE, engine.spark.sparkContext.defaultParallelism))
    with interpreted(engine.spark) if interpret else nullcontext():
        with ThreadPoolExecutor(threads, thread_name_prefix="lotlhunt-rules") as pool:
            for (idxs, _), (got, errors) in zip(
                jobs, pool.map(lambda job: _collect(job[1], rules, job[0]), jobs), strict=True
            ):
                parts.extend(got)
                failed.update(errors)
                if progress:
                    progress(len(idxs))
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
    df: DataFrame, rules: Sequence[CompiledRule], idxs: Sequence[int]
) -> tuple[list[pa.Table], dict[int, str]]:
    """The matches of rules ``idxs`` on the slice ``df`` (one Spark job); if it fails,
    rule by rule, so one broken rule hides nothing else."""
    try:
        return [_typed(_hits(df, rules, idxs).toArrow())], {}
    except _spark_errors() as exc:
        if len(idxs) == 1:
            return [], {idxs[0]: f"query failed: {_first_line(exc)}"}
    parts: list[pa.Table] = []
    failed: dict[int, str] = {}
    for idx in idxs:
        got, errors = _collect(df, rules, [idx])
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
