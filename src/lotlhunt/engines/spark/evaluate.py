"""Compiled rules run as Spark jobs: one pass per channel partition, every rule of its
slices tested in the same scan.

Where the rules' DuckDB twins are known (a hunt hands them over), a pass's rules run
per field on the executors (:mod:`.by_field`), at a fiftieth of the CPU an event; what
follows is the Spark SQL path, kept for the rules that cannot run so and as the path
of record (``SparkOptions.by_field=False``).

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
import pyarrow.compute as pc

from ...events.parquet_store import ROW_ID
from ...rules.compile.dialect import IP_SUFFIX, SPARK
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..base import Evaluation
from ..planning import batched, by_event_ids, covers, fields_read, rule_groups
from .by_field import broadcast_twins, by_field_rules, pass_frame, run_pass, twins_usable
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
    all_passes = sorted(passes(live, rules), key=lambda p: -len(p.guards))
    parts: list[pa.Table] = []
    failed: dict[int, str] = {}
    by_sql: dict[int, list[int]] = {k: list(p.guards) for k, p in enumerate(all_passes)}
    twins = twins_usable(rules, engine.twins) if engine.spark_options.by_field else {}
    engine.by_field_rules = set()
    if twins:
        by_sql = _by_field(engine, all_passes, rules, twins, parts, progress)
    if engine.spark_options.by_field:
        engine.notes.append(
            f"{len(engine.by_field_rules):,} rule runs per field on the executors, "
            f"{sum(len(v) for v in by_sql.values()):,} as Spark SQL"
            + ("" if twins else " (no DuckDB twins of the rules given)")
        )
    jobs: list[tuple[list[int], DataFrame, dict[int, str | None]]] = []
    interpret = engine.interprets
    # The passes with the most rules first: with few job slots, the longest is not left
    # to run alone at the end.
    for k, pass_ in enumerate(all_passes):
        idxs = by_sql.get(k, [])
        if not idxs:
            continue
        used = "\n".join(rules[i].sql for i in idxs)
        df = engine.tables.slice(
            pass_.variant,
            sorted(fields_read(rules, idxs)),
            spark_address_fields([rules[i] for i in idxs]),
            used,
            event_id=any(pass_.guards[i] is not None for i in idxs),
        )
        if df is None:
            if progress:
                progress(len(idxs))
            continue
        size = len(idxs) if interpret else RULES_PER_JOB
        jobs.extend((part, df, pass_.guards) for part in batched(idxs, size))
    threads = _threads(engine)
    with interpreted(engine.spark) if interpret and jobs else nullcontext():
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


def _threads(engine: SparkEngine) -> int:
    return max(1, min(JOBS_AT_ONCE, engine.spark.sparkContext.defaultParallelism))


def _by_field(
    engine: SparkEngine,
    all_passes: Sequence[_Pass],
    rules: Sequence[CompiledRule],
    twins: dict[int, CompiledRule],
    parts: list[pa.Table],
    progress: Callable[[int], None] | None,
) -> dict[int, list[int]]:
    """Run the passes' rules that can be per field (:mod:`.by_field`), their matches
    appended to ``parts``; what is left to Spark SQL, by pass: the rules without a twin
    and those that failed per field (on one task or with their whole job)."""
    left: dict[int, list[int]] = {}
    jobs: list[tuple[int, list[int], DataFrame]] = []
    for k, pass_ in enumerate(all_passes):
        mine = by_field_rules(engine, pass_, rules, twins)
        left[k] = [i for i in pass_.guards if i not in set(mine)]
        if not mine:
            continue
        df = pass_frame(engine, pass_, rules, mine)
        if df is None:
            if progress:
                progress(len(mine))
            continue
        jobs.append((k, mine, df))
    if not jobs:
        return left
    broadcast = broadcast_twins(engine, {i: twins[i] for _, mine, _ in jobs for i in mine})
    chunk = engine.spark_options.rows_per_chunk

    def one(job: tuple[int, list[int], DataFrame]) -> tuple[pa.Table | None, dict[int, str]]:
        _, mine, df = job
        try:
            return run_pass(df, broadcast, mine, chunk)
        except _spark_errors() as exc:
            return None, {i: _first_line(exc) for i in mine}

    try:
        with ThreadPoolExecutor(_threads(engine), thread_name_prefix="lotlhunt-fields") as pool:
            for (k, mine, _), (got, errors) in zip(jobs, pool.map(one, jobs), strict=True):
                retry = set(errors)
                if got is not None and got.num_rows:
                    if retry:
                        keep = pc.invert(pc.is_in(got.column("rule"), pa.array(sorted(retry))))
                        got = got.filter(keep)
                    parts.append(got)
                left[k].extend(i for i in mine if i in retry)
                engine.by_field_rules.update(i for i in mine if i not in retry)
                if progress:
                    progress(len(mine) - len(retry))
    finally:
        broadcast.broadcast.unpersist()
    return left


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
