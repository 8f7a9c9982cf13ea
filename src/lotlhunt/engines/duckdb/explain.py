"""The values and selections behind each match, read from the matched events only.

What to tell is decided by :mod:`lotlhunt.analytics.explain` (which fields to show,
which selections the match already decides); this module reads it from DuckDB.
Planning a query costs DuckDB milliseconds whatever its input, and planning a rule's
SQL costs about as much as planning the rule itself did in evaluation (the largest
SigmaHQ rules are IOC lists of 200 kB). So the fired rules of one slice are explained
together (``options.explain_per_query`` per query, default 32), one scan of their
matched events, and a selection is only evaluated when the match does not decide it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from ...rules.compile.dialect import DUCKDB
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..base import ExplainRequest
from ..planning import batched, slice_columns
from .arrow_view import arrow_view
from .slices import WORK_DB
from .store import EVENTS, ROW_ID

if TYPE_CHECKING:
    from .engine import DuckDBEngine

#: Work table of matches (rule, event row id), read to explain detections.
MATCHES = f"{WORK_DB}.matches"
#: Its column naming the rule that matched.
HIT_RULE = "__rule"


def explain(
    engine: DuckDBEngine,
    rules: Sequence[CompiledRule],
    matches: pa.Table,
    requests: Mapping[int, ExplainRequest],
) -> list[pa.Table]:
    """``rule``, ``rid``, ``vals`` and ``held`` of every match of a rule in ``requests``
    (see :meth:`lotlhunt.engines.base.Engine.explain`)."""
    if matches.num_rows == 0 or not requests:
        return []
    spans = matches.group_by("rule").aggregate([("rid", "min"), ("rid", "max")])
    span = {
        int(idx): (int(lo), int(hi))
        for idx, lo, hi in zip(
            spans.column("rule").to_pylist(),
            spans.column("rid_min").to_pylist(),
            spans.column("rid_max").to_pylist(),
            strict=True,
        )
    }
    groups: dict[tuple[object, ...], tuple[Variant, list[int]]] = {}
    for idx in sorted(requests):
        if idx not in span:
            continue
        for variant in rules[idx].variants:
            groups.setdefault(variant.key, (variant, []))[1].append(idx)
    size = engine.options.explain_per_query
    engine.flush()
    with arrow_view(engine.con, "__matches", matches):
        engine.con.execute(
            f"CREATE OR REPLACE TABLE {MATCHES} AS SELECT rule::INTEGER AS {HIT_RULE}, "
            f"rid AS {ROW_ID} FROM __matches"
        )
    try:
        queries = [
            _query(engine, rules, variant, part, requests, span)
            for variant, idxs in groups.values()
            for part in batched(idxs, size)
        ]
        return engine.query_all(queries)
    finally:
        engine.con.execute(f"DROP TABLE IF EXISTS {MATCHES}")


def _query(
    engine: DuckDBEngine,
    rules: Sequence[CompiledRule],
    variant: Variant,
    idxs: Sequence[int],
    requests: Mapping[int, ExplainRequest],
    span: Mapping[int, tuple[int, int]],
) -> str:
    """One query explaining the matches of rules ``idxs`` on the slice of ``variant``:
    their matched events scanned once, a ``CASE`` on the rule picking its values."""
    vals: list[str] = []
    held: list[str] = []
    fields: set[str] = set()
    for idx in idxs:
        shown = [DUCKDB.ident(n) for n in requests[idx].shown]
        fields |= rules[idx].fields  # ``used`` keeps only the columns the query reads
        vals.append(f"WHEN {int(idx)} THEN [{', '.join(shown)}]::VARCHAR[]")
        tests = _held_tests(rules[idx], requests[idx].implied)
        held.append(f"WHEN {int(idx)} THEN [{', '.join(tests)}]::BOOLEAN[]")
    # The values shown are read as they are; the selections left to evaluation read
    # what their rule reads.
    shown_fields = [f for idx in idxs for f in requests[idx].shown]
    undecided = [idx for idx in idxs if None in requests[idx].implied]
    needs = slice_columns(rules, undecided, plain=shown_fields)
    inner = ", ".join(engine.slices.slice_columns(variant, sorted(fields), needs))
    ids = ", ".join(str(int(i)) for i in idxs)
    lo = min(span[i][0] for i in idxs)
    hi = max(span[i][1] for i in idxs)
    # The id range lets the scan skip row groups before the semi-join.
    return (
        f"SELECT m.{HIT_RULE} AS rule, s.{ROW_ID} AS rid, "
        f"CASE m.{HIT_RULE} {' '.join(vals)} END AS vals, "
        f"CASE m.{HIT_RULE} {' '.join(held)} END AS held FROM "
        f"(SELECT {ROW_ID}{', ' + inner if inner else ''} FROM {EVENTS} "
        f"WHERE {ROW_ID} BETWEEN {lo} AND {hi} AND {ROW_ID} IN "
        f"(SELECT {ROW_ID} FROM {MATCHES} WHERE {HIT_RULE} IN ({ids})) "
        f"AND {engine.slices.slice_filter(variant)}) s "
        f"JOIN {MATCHES} m ON m.{ROW_ID} = s.{ROW_ID} AND m.{HIT_RULE} IN ({ids})"
    )


def _held_tests(rule: CompiledRule, implied: Sequence[bool | None]) -> list[str]:
    """SQL telling whether each selection of ``rule`` holds on a matched event: the
    selection's own SQL where the match does not decide it, else the known answer."""
    return [
        f"coalesce({sql}, false)" if known is None else str(known).lower()
        for (_, sql), known in zip(rule.selections, implied, strict=True)
    ]
