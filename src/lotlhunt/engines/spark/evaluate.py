"""Compiled rules run as Spark jobs: one pass per channel partition, every rule of its
slices tested in the same scan.

The plan is the DuckDB engine's (:mod:`lotlhunt.engines.planning`): rules grouped by
the slice their logsource covers, narrowed to the event ids they name and the store
holds. Slices of the same channels and field renames (Sysmon's process creation,
network connections, image loads...) differ only in their event ids, so they are
merged into one pass (:func:`passes`) that reads their partitions once and tests each
rule only on its own slice's rows (its event ids, tested first). A pass computes, per
row, the indexes of the rules that hold (``filter(array(IF(rule, i, NULL), ...))``),
exploded into matches. Per-row work runs on the executors; the driver plans a job per
pass, and collects matches.

Why not one job for the whole rule set: every task of a job carries (and
deserializes) the job's whole plan, and SigmaHQ's rule set makes a plan of megabytes.
As one union of every slice, each of its hundreds of tiny tasks spent seconds
deserializing the other slices' rules (the EVTX attack samples: a median task of
5.9 s, 3.4 s of it deserialization, for a few hundred rows). A pass's tasks carry only
the rules of its channels. Jobs are submitted from a few driver threads at once, so
small passes overlap instead of queueing.

Expressions are compiled to Java (Spark's code generation) only for large cases
(:attr:`.session.SparkOptions.interpret_below_rows`): compiling SigmaHQ's rules costs
the driver minutes before the first row is read, which only a large case repays.
When compiled, a pass's rules run in batches of :data:`RULES_PER_JOB`, because very
large generated methods make Java give up compiling them.

A job that fails (a rule whose regular expression Java refuses) is run again in
halves, down to the rules that fail alone, so one broken rule never hides the others'
matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pyarrow as pa

from ...events.parquet_store import ROW_ID
from ...rules.compile.dialect import IP_SUFFIX, SPARK
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..base import Evaluation
from ..planning import batched, by_event_ids, covers, fields_read, rule_groups
from .session import interpreted
from .tables import EVENT_ID

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


@dataclass
class _Pass:
    """One Spark job: a pass over the partitions of some channels, testing every rule of
    the slices that read them, each on its own slice's rows (its event ids)."""

    variant: Variant
    #: Rule index -> the SQL guard of its slice's rows within the pass (None: all).
    guards: dict[int, str | None] = field(default_factory=dict)
    fields: set[str] = field(default_factory=set)


def passes(
    groups: Sequence[tuple[Variant, list[int]]], rules: Sequence[CompiledRule]
) -> list[_Pass]:
    """The slices' groups merged into one pass per channel set and field renames.

    Slices that differ only in their event ids read the same partitions with the same
    field resolution, so their rules share one scan: each rule is guarded by its own
    slice's event ids. Each pass is one Spark job, planned once on the driver, instead
    of one per slice (a job's fixed cost on the driver: planning, scheduling, listing
    its files; and one more read of the same files on the executors).
    """
    merged: dict[tuple[object, ...], list[tuple[Variant, list[int]]]] = {}
    for variant, idxs in groups:
        key = (tuple(sorted(c.lower() for c in variant.channels)), variant.renames)
        merged.setdefault(key, []).append((variant, idxs))
    out: list[_Pass] = []
    for members in merged.values():
        ids: set[int] = set()
        whole = False
        for variant, _ in members:
            whole = whole or not variant.event_ids
            ids.update(variant.event_ids)
        first = members[0][0]
        wide = replace(first, event_ids=() if whole else tuple(sorted(ids)))
        one = len(members) == 1
        pass_ = _Pass(wide)
        for variant, idxs in members:
            same = one or set(variant.event_ids) == set(wide.event_ids)
            guard = None if same or not variant.event_ids else _ids_guard(variant.event_ids)
            for i in idxs:
                pass_.guards[i] = guard
            pass_.fields |= fields_read(rules, idxs)
        out.append(pass_)
    return out


def _ids_guard(event_ids: Sequence[int]) -> str:
    return f"{EVENT_ID} IN ({', '.join(str(int(i)) for i in event_ids)})"


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
    live = []
    for variant, idxs in groups:
        if any(covers(variant, key) for key in present):
            live.append((variant, idxs))
        elif progress:
            progress(len(idxs))
    interpret = engine.interprets
    jobs: list[tuple[list[int], DataFrame, dict[int, str | None]]] = []
    # The passes with the most rules first: with few job slots, the longest is not left
    # to run alone at the end.
    for pass_ in sorted(passes(live, rules), key=lambda p: -len(p.guards)):
        idxs = list(pass_.guards)
        used = "\n".join(rules[i].sql for i in idxs)
        df = engine.tables.slice(
            pass_.variant,
            sorted(pass_.fields),
            spark_address_fields([rules[i] for i in idxs]),
            used,
            event_id=any(g is not None for g in pass_.guards.values()),
        )
        if df is None:
            if progress:
                progress(len(idxs))
            continue
        size = len(idxs) if interpret else RULES_PER_JOB
        jobs.extend((part, df, pass_.guards) for part in batched(idxs, size))
    parts: list[pa.Table] = []
    failed: dict[int, str] = {}
    threads = max(1, min(JOBS_AT_ONCE, engine.spark.sparkContext.defaultParallelism))
    with interpreted(engine.spark) if interpret else nullcontext():
        with ThreadPoolExecutor(threads, thread_name_prefix="lotlhunt-rules") as pool:
            for (idxs, _, _), (got, errors) in zip(
                jobs,
                pool.map(lambda job: _collect(job[1], rules, job[0], job[2]), jobs),
                strict=True,
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


def _hits(
    df: DataFrame,
    rules: Sequence[CompiledRule],
    idxs: Sequence[int],
    guards: Mapping[int, str | None],
) -> DataFrame:
    """(rule, rid) of every match of rules ``idxs`` on the pass ``df``, each rule tested
    only on its own slice's rows (its guard first: Spark does not test the rule where
    the guard is false)."""
    tests = []
    for i in idxs:
        test = f"coalesce(({rules[i].sql}), false)"
        guard = guards.get(i)
        if guard is not None:
            test = f"({guard}) AND {test}"
        tests.append(f"IF({test}, CAST({int(i)} AS INT), NULL)")
    return (
        df.selectExpr(ROW_ID, f"filter(array({', '.join(tests)}), x -> x IS NOT NULL) AS hits")
        .where("size(hits) > 0")
        .selectExpr("explode(hits) AS rule", f"{ROW_ID} AS rid")
    )


def _collect(
    df: DataFrame,
    rules: Sequence[CompiledRule],
    idxs: Sequence[int],
    guards: Mapping[int, str | None],
) -> tuple[list[pa.Table], dict[int, str]]:
    """The matches of rules ``idxs`` on the pass ``df`` (one Spark job); if it fails,
    each half again, down to the rules that fail alone: one broken rule hides nothing
    else, and costs a few jobs, not one per rule of its pass."""
    try:
        return [_typed(_hits(df, rules, idxs, guards).toArrow())], {}
    except _spark_errors() as exc:
        if len(idxs) == 1:
            return [], {idxs[0]: f"query failed: {_first_line(exc)}"}
    parts: list[pa.Table] = []
    failed: dict[int, str] = {}
    half = len(idxs) // 2
    for part in (idxs[:half], idxs[half:]):
        got, errors = _collect(df, rules, part, guards)
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
