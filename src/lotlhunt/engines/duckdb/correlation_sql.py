"""SQL text for Sigma correlations: firing windows, episodes, and their member events.

Everything here reads one table of *occurrences* (``__corr_occ``), built by
:mod:`.correlate` from the detections of the rules a correlation refers to:

``gk``  VARCHAR[]  group key (the group-by values, lower-cased unless case-sensitive)
``gv``  VARCHAR[]  the same values as the events spell them, for reports
``ts``  TIMESTAMPTZ the event time (occurrences without one are left out)
``pos`` INTEGER    position of the referenced rule in the correlation's ``rules`` list
``rid`` BIGINT     the event's row id, or NULL for an occurrence that is a firing of a
                   referenced correlation (chaining), in which case ``sub`` holds that
                   correlation's episode id
``val``            the value the condition aggregates (value_* types), else NULL

Group keys are lists so that any number of group-by fields is one column, and because
DuckDB compares lists NULL-safely (``[NULL] = [NULL]``): events lacking a group-by field
form their own group instead of vanishing, in window partitions and in ASOF joins alike.

Window semantics (shared by every type): a window is a *closed* interval of length
``timespan``, so events exactly ``timespan`` apart are in one window and events one
microsecond further apart are not. Each occurrence anchors the window that ends at it,
``[ts - timespan, ts]`` (DuckDB's ``RANGE BETWEEN INTERVAL PRECEDING AND CURRENT ROW``,
which includes both ends and every event sharing a timestamp). For the growing
conditions (gt, gte) this is exactly "some window of length timespan holds events that
satisfy the condition", since any window's events are contained in the window anchored
at its last event. For lt/lte/eq/neq it reads "when an event occurred, the timespan up to
it held ...", which is what a streaming engine would evaluate as events arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pySigma is imported when a correlation is compiled, not before
    from sigma.correlations import (
        CorrelationConditionItem,
        SigmaCorrelationConditionOperator,
        SigmaRuleReference,
    )

OCC = "__corr_occ"
FIRE = "__corr_fire"
EPISODES = "__corr_eps"
MEMBERS = "__corr_members"
HITS = "__corr_hits"

#: SQL of each condition operator, by the name of pySigma's operator.
OPERATORS: dict[str, str] = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">=", "EQ": "=", "NEQ": "<>"}
#: Window aggregate per correlation type over ``val`` (or the rows, for event_count).
#: Percentiles interpolate (``quantile_cont``), as the median of an even count does.
AGGREGATES: dict[str, str] = {
    "event_count": "count(*)",
    "value_count": "count(DISTINCT val)",
    "value_sum": "sum(val)",
    "value_avg": "avg(val)",
    "value_median": "median(val)",
    "value_percentile": "quantile_cont(val, {fraction})",
}


def interval(seconds: int) -> str:
    """A timespan as a DuckDB interval, exact to the second as Sigma timespans are."""
    return f"to_seconds({int(seconds)})"


def compare(expr: str, op: SigmaCorrelationConditionOperator, count: float) -> str:
    """``expr <op> count``; NULL aggregates (no numeric values) never satisfy it."""
    return f"({expr} {OPERATORS[op.name]} {count!r})"


def _trailing(seconds: int) -> str:
    """The trailing window, named so that every aggregate over it shares one sort."""
    return (
        f"WINDOW w AS (PARTITION BY gk ORDER BY ts RANGE BETWEEN {interval(seconds)} "
        "PRECEDING AND CURRENT ROW)"
    )


def aggregate_firing(kind: str, seconds: int, condition: str, percentile: int | None) -> str:
    """Firing rows of a counting type: each anchor whose trailing window meets the condition.

    ``condition`` is a SQL predicate over ``v``. Returns ``gk, gv, lo, hi, v``.
    """
    agg = AGGREGATES[kind].format(fraction=(percentile or 0) / 100)
    return (
        f"SELECT gk, gv, ts - {interval(seconds)} AS lo, ts AS hi, v FROM ("
        f"SELECT gk, gv, ts, {agg} OVER w AS v FROM {OCC} {_trailing(seconds)}) "
        f"WHERE {condition}"
    )


def temporal_firing(refs: int, seconds: int, predicate: str) -> str:
    """Firing rows of ``temporal``: anchors whose trailing window holds the right rules.

    ``p0 .. p{n-1}`` say whether the window holds an occurrence of each referenced rule;
    ``v`` counts the rules present. ``predicate`` is over ``p*`` and ``v``.
    """
    flags = ", ".join(f"bool_or(pos = {k}) OVER w AS p{k}" for k in range(refs))
    total = " + ".join(f"p{k}::INTEGER" for k in range(refs))
    return (
        f"SELECT gk, gv, ts - {interval(seconds)} AS lo, ts AS hi, v FROM ("
        f"SELECT *, {total} AS v FROM (SELECT gk, gv, ts, {flags} FROM {OCC} "
        f"{_trailing(seconds)})) "
        f"WHERE {predicate}"
    )


def ordered_firing(refs: int, seconds: int) -> str:
    """Firing rows of ``temporal_ordered``: an occurrence of the last rule that completes
    a chain ``r0 <= r1 <= ... <= r(n-1)`` in time, all within ``timespan``.

    For each occurrence of rule k, ``bs`` is the latest possible start (time of the rule-0
    occurrence) of a chain ending there: the running maximum of ``bs`` over earlier
    rule k-1 occurrences. One window pass per step; a chain that already started more than
    ``timespan`` ago is dropped, since later steps only get later. Equal timestamps count
    as in order (the earlier step sorts first), as logs with one-second resolution need.
    The window of a firing row is ``[bs, ts]``: from the chain's start to its end.
    """
    span = interval(seconds)
    steps = [f"s0 AS (SELECT gk, gv, ts, ts AS bs FROM {OCC} WHERE pos = 0)"]
    for k in range(1, refs):
        steps.append(
            f"s{k} AS (SELECT gk, gv, ts, bs FROM (SELECT gk, gv, ts, step, max(bs) OVER "
            "(PARTITION BY gk ORDER BY ts, step ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT "
            f"ROW) AS bs FROM (SELECT gk, gv, ts, 0 AS step, bs FROM s{k - 1} UNION ALL "
            f"SELECT gk, gv, ts, 1, NULL FROM {OCC} WHERE pos = {k})) "
            f"WHERE step = 1 AND bs >= ts - {span})"
        )
    return (
        f"WITH {', '.join(steps)} SELECT gk, gv, bs AS lo, ts AS hi, {refs} AS v FROM s{refs - 1}"
    )


def extended_predicate(
    node: CorrelationConditionItem | SigmaRuleReference, positions: dict[str, int]
) -> str:
    """An extended temporal condition (``a and not b``) over the per-rule flags ``p*``."""
    from sigma.correlations import (
        CorrelationConditionAND,
        CorrelationConditionNOT,
        CorrelationConditionOR,
        SigmaRuleReference,
    )

    if isinstance(node, SigmaRuleReference):
        return f"p{positions[node.reference]}"
    parts = [extended_predicate(a, positions) for a in node.args]
    if isinstance(node, CorrelationConditionNOT):
        return f"(NOT {parts[0]})"
    if isinstance(node, CorrelationConditionAND):
        return "(" + " AND ".join(parts) + ")"
    if isinstance(node, CorrelationConditionOR):
        return "(" + " OR ".join(parts) + ")"
    raise ValueError(f"unknown condition node {type(node).__name__}")


def episodes(firing: str, peak: str, first_eid: int) -> list[str]:
    """Statements that merge firing windows into episodes and keep the firing rows.

    Firing windows ``[lo, hi]`` of one group that overlap or touch (closed intervals)
    join one episode; a firing row starts a new one when its ``lo`` is after every ``hi``
    seen so far in the group. An episode is reported once, with the union of its windows
    (a single interval, since the windows chain), and ``peak`` (max or min) of the values.
    Episode ids are unique across correlations (``first_eid`` on), so chained correlations
    can point at them.
    """
    return [
        f"CREATE OR REPLACE TEMP TABLE {FIRE} AS {firing}",
        f"CREATE OR REPLACE TEMP TABLE {EPISODES} AS "
        f"SELECT {first_eid} + row_number() OVER () AS eid, * FROM ("
        f"SELECT gk, arg_min(gv, hi) AS gv, min(lo) AS lo, max(hi) AS hi, {peak}(v) AS v "
        "FROM (SELECT *, sum(CASE WHEN prev_hi IS NULL OR lo > prev_hi THEN 1 ELSE 0 END) "
        "OVER (PARTITION BY gk ORDER BY lo, hi ROWS UNBOUNDED PRECEDING) AS ep FROM ("
        "SELECT *, max(hi) OVER (PARTITION BY gk ORDER BY lo, hi ROWS BETWEEN UNBOUNDED "
        f"PRECEDING AND 1 PRECEDING) AS prev_hi FROM {FIRE})) GROUP BY gk, ep)",
    ]


def firing_table(name: str) -> str:
    """Keep a correlation's firing rows, with their episode, for correlations chained on it.

    A referencing correlation sees one occurrence per firing row: the time at which the
    referenced condition held, with the referenced group values.
    """
    return (
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT DISTINCT f.gk, f.gv, f.hi AS ts, e.eid "
        f"FROM {FIRE} f ASOF JOIN {EPISODES} e ON f.gk = e.gk AND f.lo >= e.lo"
    )


def members(correlation: int) -> list[str]:
    """Statements that record each episode's events and the episode itself.

    Occurrences join the episode whose interval holds them (episodes of a group are
    disjoint, so an ASOF join on the interval start finds the only candidate); groups
    without an episode are dropped first by a cheap semi-join. A chained
    occurrence contributes every event of the referenced episode. The group values are
    reported as the episode's earliest occurrence spells them.
    """
    assigned = (
        f"SELECT e.eid, o.rid, o.sub, o.ts, o.gv FROM (SELECT * FROM {OCC} WHERE gk IN "
        f"(SELECT gk FROM {EPISODES})) o ASOF JOIN {EPISODES} e "
        "ON o.gk = e.gk AND o.ts >= e.lo WHERE o.ts <= e.hi"
    )
    return [
        f"CREATE OR REPLACE TEMP TABLE __corr_assigned AS {assigned}",
        f"INSERT INTO {MEMBERS} SELECT DISTINCT eid, rid, ts FROM ("
        "SELECT eid, rid, ts FROM __corr_assigned WHERE rid IS NOT NULL UNION ALL "
        f"SELECT a.eid, m.rid, m.ts FROM __corr_assigned a JOIN {MEMBERS} m ON m.eid = a.sub)",
        f"INSERT INTO {HITS} SELECT {correlation}, e.eid, coalesce(a.gv, e.gv), e.v "
        f"FROM {EPISODES} e LEFT JOIN (SELECT eid, arg_min(gv, ts) AS gv FROM __corr_assigned "
        "GROUP BY eid) a ON a.eid = e.eid",
    ]


def forget(correlation: int, first_eid: int, next_eid: int) -> list[str]:
    """Statements that remove what a run of ``correlation`` recorded (its episodes' ids
    are ``first_eid`` up to ``next_eid``), so that a run cut short, as by DuckDB running
    out of memory between its two inserts, can be run again without counting twice."""
    return [
        f"DELETE FROM {MEMBERS} WHERE eid >= {int(first_eid)} AND eid < {int(next_eid)}",
        f"DELETE FROM {HITS} WHERE correlation = {int(correlation)}",
    ]


def setup() -> list[str]:
    return [
        f"CREATE OR REPLACE TEMP TABLE {MEMBERS} (eid BIGINT, rid BIGINT, ts TIMESTAMPTZ)",
        f"CREATE OR REPLACE TEMP TABLE {HITS} (correlation INTEGER, eid BIGINT, gv VARCHAR[], "
        "v DOUBLE)",
    ]


def report(correlations: Sequence[int]) -> str:
    """Every episode of the reported correlations, with its events, in time order."""
    wanted = ", ".join(str(int(c)) for c in correlations) or "NULL"
    return (
        f"SELECT h.correlation, h.eid, h.gv, h.v, min(m.ts) AS first, max(m.ts) AS last, "
        f"list_sort(list(m.rid)) AS rids FROM {HITS} h JOIN {MEMBERS} m ON m.eid = h.eid "
        f"WHERE h.correlation IN ({wanted}) GROUP BY ALL ORDER BY first, h.correlation, h.eid"
    )


def cleanup(extra: Sequence[str] = ()) -> list[str]:
    names = [OCC, FIRE, EPISODES, MEMBERS, HITS, "__corr_assigned", "__corr_matches", *extra]
    return [f"DROP TABLE IF EXISTS {n}" for n in names]
