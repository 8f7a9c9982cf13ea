"""Sigma correlations run in DuckDB: occurrences, firing windows, episodes, members.

:mod:`lotlhunt.analytics.correlations` resolves each correlation against the loaded
rules into a :class:`~lotlhunt.engines.base.CorrelationPlan` and decides what is
reported; this module turns the base rules' matches into occurrences (time, group,
value) and runs the window queries of :mod:`.correlation_sql` over them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from ...events import schema
from ...rules.compile.dialect import DUCKDB
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..base import CannotRun, CorrelationPlan, CorrelationRun, CorrelationSource, Episode
from . import correlation_sql as cs
from .arrow_view import arrow_view
from .store import EVENTS, ROW_ID

if TYPE_CHECKING:
    from .engine import DuckDBEngine

#: Types whose value is summed, averaged...: numbers, not text.
_NUMERIC = {"value_sum", "value_avg", "value_median", "value_percentile"}
#: Condition operators (by name) under which a group's lowest value is the one reported.
_LOW = {"LT", "LTE"}
#: Episode ids of correlation ``i`` start at ``i << EID_SHIFT``, unique across a hunt.
EID_SHIFT = 32


def correlate(
    engine: DuckDBEngine,
    rules: Sequence[CompiledRule],
    plans: Mapping[int, CorrelationPlan],
    order: Sequence[int],
    matches: pa.Table,
    case_sensitive: bool = False,
) -> CorrelationRun:
    """Run ``plans`` in ``order`` (referenced correlations first) over ``matches``."""
    run = CorrelationRun()
    referenced = {s.corr for i in order for s in plans[i].sources if s.corr is not None}
    fold = "{}" if case_sensitive else "lower({})"
    engine.flush()
    con = engine.con
    try:
        for sql in cs.setup():
            con.execute(sql)
        with arrow_view(con, "__corr_matches_arrow", matches.select(["rule", "rid"])):
            engine.memory.run(
                lambda: con.execute(
                    "CREATE OR REPLACE TEMP TABLE __corr_matches AS "
                    "SELECT * FROM __corr_matches_arrow"
                )
            )
        for i in order:
            plan = plans[i]
            if any(s.corr is not None and s.corr in run.failed for s in plan.sources):
                run.failed[i] = "a referenced correlation failed"
                continue
            try:
                statements = _statements(engine, plan, plans, rules, i in referenced, fold)
                # Each statement replaces its table but the two inserts, which the run
                # undoes first: so it can be retried under a raised memory limit.
                engine.memory.run(partial(_execute, con, statements))
            except CannotRun as exc:
                run.failed[i] = str(exc)
            except duckdb.Error as exc:
                run.failed[i] = f"query failed: {exc}"
            else:
                run.ran.append(i)
        report = cs.report(run.ran)
        rows = engine.memory.run(lambda: con.sql(report).to_arrow_table()).to_pylist()
    finally:
        for sql in cs.cleanup([f"__corr_fire_{i}" for i in referenced]):
            con.execute(sql)
    run.episodes = [
        Episode(
            correlation=row["correlation"],
            group_values=tuple(row["gv"] or ()),
            value=row["v"],
            first=row["first"],
            last=row["last"],
            rids=tuple(row["rids"]),
        )
        for row in rows
    ]
    return run


def _list(exprs: list[str]) -> str:
    return f"[{', '.join(exprs)}]::VARCHAR[]" if exprs else "[]::VARCHAR[]"


def _occurrences(
    engine: DuckDBEngine,
    plan: CorrelationPlan,
    plans: Mapping[int, CorrelationPlan],
    rules: Sequence[CompiledRule],
    fold: str,
) -> str:
    """The UNION ALL of every referenced rule's occurrences, in the ``__corr_occ`` shape.

    Base rules that read the same slice of events with the same fields share one scan of
    the events table (a join on row id carries each match's position), so a temporal
    correlation over three Security rules reads the table once, not three times.
    """
    numeric = plan.kind in _NUMERIC
    scans: dict[tuple[object, ...], tuple[Variant, CorrelationSource, list[tuple[int, int]]]] = {}
    parts = []
    for pos, src in enumerate(plan.sources):
        if src.base is not None:
            for variant in rules[src.base].variants:
                key = (variant.key, tuple(src.group_fields), tuple(src.value_fields))
                scans.setdefault(key, (variant, src, []))[2].append((src.base, pos))
            continue
        assert src.corr is not None
        inner = plans[src.corr]
        slots = [_slot(inner, f, src.ref) for f in src.group_fields]
        values = [f"gv[{_slot(inner, f, src.ref)}]" for f in src.value_fields]
        parts.append(
            f"SELECT {_list([f'gk[{j}]' for j in slots])} AS gk, "
            f"{_list([f'gv[{j}]' for j in slots])} AS gv, ts, {pos} AS pos, "
            f"NULL::BIGINT AS rid, eid AS sub, {_value(values, numeric, fold)} AS val "
            f"FROM __corr_fire_{src.corr}"
        )
    ts = DUCKDB.ident(schema.TIMESTAMP)
    slices = engine.slices
    for variant, src, pairs in scans.values():
        gexprs = [
            f"CAST({slices.field_expression(f, variant)} AS VARCHAR)" for f in src.group_fields
        ]
        vexprs = [
            f"CAST({slices.field_expression(f, variant)} AS VARCHAR)" for f in src.value_fields
        ]
        wanted = ", ".join(f"({rule}, {pos})" for rule, pos in pairs)
        parts.append(
            f"SELECT {_list([fold.format(e) for e in gexprs])} AS gk, {_list(gexprs)} AS gv, "
            f"{ts} AS ts, __mpos AS pos, {ROW_ID} AS rid, NULL::BIGINT AS sub, "
            f"{_value(vexprs, numeric, fold)} AS val FROM {EVENTS} JOIN ("
            "SELECT m.rid AS __mrid, p.pos AS __mpos FROM __corr_matches m JOIN "
            f"(VALUES {wanted}) p(rule, pos) ON m.rule = p.rule) ON {ROW_ID} = __mrid "
            f"WHERE {ts} IS NOT NULL AND {slices.slice_filter(variant)}"
        )
    return " UNION ALL ".join(parts)


def _slot(inner: CorrelationPlan, name: str, ref: str) -> int:
    """1-based position of field ``name`` among a referenced correlation's group-by."""
    for j, g in enumerate(inner.group_by, start=1):
        if g.lower() == name.lower():
            return j
    raise CannotRun(
        f"field {name!r} is not a group-by field of referenced correlation {ref!r}, "
        "so its firings do not carry it"
    )


def _value(exprs: list[str], numeric: bool, fold: str) -> str:
    if not exprs:
        return "NULL"
    if numeric:
        return f"TRY_CAST({exprs[0]} AS DOUBLE)"
    if len(exprs) == 1:
        return fold.format(exprs[0])
    folded = _list([fold.format(e) for e in exprs])
    return f"CASE WHEN coalesce({', '.join(exprs)}) IS NULL THEN NULL ELSE {folded} END"


def _firing(plan: CorrelationPlan) -> tuple[str, str]:
    """The firing-rows query for a plan, and how its episodes take their peak value."""
    from sigma.correlations import SigmaExtendedCorrelationCondition

    cond = plan.rule.condition
    n = len(plan.sources)
    if plan.kind == "temporal_ordered":
        return cs.ordered_firing(n, plan.seconds), "max"
    if isinstance(cond, SigmaExtendedCorrelationCondition):
        positions = {src.ref: k for k, src in enumerate(plan.sources)}
        predicate = cs.extended_predicate(cond.parsed, positions)
        return cs.temporal_firing(n, plan.seconds, predicate), "max"
    peak = "min" if cond.op.name in _LOW else "max"
    predicate = cs.compare("v", cond.op, cond.count)
    if plan.kind == "temporal":
        return cs.temporal_firing(n, plan.seconds, predicate), peak
    return cs.aggregate_firing(plan.kind, plan.seconds, predicate, cond.percentile), peak


def _statements(
    engine: DuckDBEngine,
    plan: CorrelationPlan,
    plans: Mapping[int, CorrelationPlan],
    rules: Sequence[CompiledRule],
    referenced: bool,
    fold: str,
) -> list[str]:
    """The statements of one correlation's run, from undoing an earlier try of it to
    recording its episodes."""
    firing, peak = _firing(plan)
    first = plan.index << EID_SHIFT
    statements = cs.forget(plan.index, first, (plan.index + 1) << EID_SHIFT)
    statements.append(
        f"CREATE OR REPLACE TEMP TABLE {cs.OCC} AS "
        + _occurrences(engine, plan, plans, rules, fold)
    )
    statements += cs.episodes(firing, peak, first)
    if referenced:
        statements.append(cs.firing_table(f"__corr_fire_{plan.index}"))
    statements += cs.members(plan.index)
    return statements


def _execute(con: duckdb.DuckDBPyConnection, statements: Sequence[str]) -> None:
    for sql in statements:
        con.execute(sql)
