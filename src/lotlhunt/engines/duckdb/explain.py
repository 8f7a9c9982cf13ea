"""The values and selections behind each match, read from the matched events only.

What to tell is decided by :mod:`lotlhunt.analytics.explain` (which fields to show,
which selections the match already decides); this module reads it from DuckDB.
Planning a query costs DuckDB milliseconds whatever its input, and planning a rule's
SQL costs about as much as planning the rule itself did in evaluation (the largest
SigmaHQ rules are IOC lists of 200 kB); on a small case, planning is most of the cost.
So each slice holding matches is read once, by a plain projection of the fields its
fired rules show (nothing per rule to plan), and the values of each rule's matches are
taken from it in Arrow. A selection is only evaluated when the match does not decide it
(most SigmaHQ rules decide all of theirs): those rules of one slice are evaluated
together, ``options.explain_per_query`` per query (default 32). A slice that holds none
of a rule's matched events is not read for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...events import schema
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
    (see :meth:`lotlhunt.engines.base.Engine.explain`), one table per slice."""
    if matches.num_rows == 0 or not requests:
        return []
    engine.flush()
    with arrow_view(engine.con, "__matches", matches):
        engine.con.execute(
            f"CREATE OR REPLACE TABLE {MATCHES} AS SELECT rule::INTEGER AS {HIT_RULE}, "
            f"rid AS {ROW_ID} FROM __matches"
        )
    by_rule = _rids_by_rule(matches)
    try:
        kinds = _matched_kinds(engine)
        # Slices in the order the fired rules name them (where a match lies on two
        # slices, the last one's explanation stands), each with the rules it holds
        # matched events of.
        groups: dict[tuple[object, ...], tuple[Variant, list[int]]] = {}
        for idx in sorted(requests):
            if idx not in by_rule:
                continue
            for variant in rules[idx].variants:
                holding = groups.setdefault(variant.key, (variant, []))[1]
                if _holds_any(variant, kinds.get(idx, ())):
                    holding.append(idx)
        size = engine.options.explain_per_query
        queries: list[str] = []
        plans: list[tuple[Variant, list[int], list[str], int]] = []
        for variant, idxs in groups.values():
            if not idxs:
                continue
            shown = _shown_columns(requests, idxs)
            undecided = [idx for idx in idxs if None in requests[idx].implied]
            parts = batched(undecided, size) if undecided else []
            plans.append((variant, idxs, shown, len(parts)))
            queries.append(_values_query(engine, variant, idxs, shown, by_rule))
            queries.extend(
                _held_query(engine, rules, variant, part, requests, by_rule) for part in parts
            )
        results = iter(engine.query_all(queries))
        out = []
        for _, idxs, shown, n_held in plans:
            values = next(results)
            held = [next(results) for _ in range(n_held)]
            out.append(_explained(requests, by_rule, idxs, shown, values, held))
        return out
    finally:
        engine.con.execute(f"DROP TABLE IF EXISTS {MATCHES}")


def _rids_by_rule(matches: pa.Table) -> dict[int, pa.Array]:
    """The matched row ids of each rule, ascending."""
    ordered = matches.sort_by([("rule", "ascending"), ("rid", "ascending")])
    rule = ordered.column("rule").to_numpy()
    rid = ordered.column("rid").combine_chunks()
    starts = np.flatnonzero(np.r_[True, rule[1:] != rule[:-1]])
    ends = [*starts[1:], len(rule)]
    return {int(rule[a]): rid.slice(a, b - a) for a, b in zip(starts, ends, strict=True)}


def _matched_kinds(engine: DuckDBEngine) -> dict[int, list[tuple[str | None, int | None]]]:
    """For each fired rule, the (lower-cased channel, event id) pairs of its matched
    events: which slices can hold them."""
    table = (
        engine.cursor()
        .sql(
            f"SELECT DISTINCT m.{HIT_RULE} AS rule, e.{schema.CHANNEL} AS channel, "
            f"e.{schema.EVENT_ID} AS event_id FROM {MATCHES} m JOIN {EVENTS} e "
            f"ON e.{ROW_ID} = m.{ROW_ID}"
        )
        .to_arrow_table()
    )
    kinds: dict[int, list[tuple[str | None, int | None]]] = {}
    for idx, channel, event_id in zip(
        *(table.column(c).to_pylist() for c in ("rule", "channel", "event_id")), strict=True
    ):
        # Lower-cased as the slice filter's channel spellings are (in Python).
        kinds.setdefault(idx, []).append((None if channel is None else channel.lower(), event_id))
    return kinds


def _holds_any(variant: Variant, kinds: Sequence[tuple[str | None, int | None]]) -> bool:
    """Whether the slice of ``variant`` may hold an event of one of ``kinds``: the test
    of :meth:`.slices.Slices.slice_filter` (channel whatever its case, event id), so a
    slice left out for a rule could not have held any of its matched events."""
    channels = {c.lower() for c in variant.channels}
    ids = set(variant.event_ids)
    return any(
        (not channels or (channel is not None and channel in channels))
        and (not ids or event_id in ids)
        for channel, event_id in kinds
    )


def _shown_columns(requests: Mapping[int, ExplainRequest], idxs: Sequence[int]) -> list[str]:
    """The fields the rules ``idxs`` show, once each whatever their case (as a slice
    projects them), in the spelling first met."""
    seen: dict[str, str] = {}
    for idx in idxs:
        for name in requests[idx].shown:
            seen.setdefault(name.lower(), name)
    return list(seen.values())


def _matched_rows(
    engine: DuckDBEngine,
    variant: Variant,
    idxs: Sequence[int],
    by_rule: Mapping[int, pa.Array],
) -> str:
    """SQL: the events of ``variant``'s slice matched by one of the rules ``idxs``."""
    ids = ", ".join(str(int(i)) for i in idxs)
    lo = min(by_rule[i][0].as_py() for i in idxs)
    hi = max(by_rule[i][-1].as_py() for i in idxs)
    # The id range lets the scan skip row groups before the semi-join.
    return (
        f"FROM {EVENTS} WHERE {ROW_ID} BETWEEN {lo} AND {hi} AND {ROW_ID} IN "
        f"(SELECT {ROW_ID} FROM {MATCHES} WHERE {HIT_RULE} IN ({ids})) "
        f"AND {engine.slices.slice_filter(variant)}"
    )


def _values_query(
    engine: DuckDBEngine,
    variant: Variant,
    idxs: Sequence[int],
    shown: Sequence[str],
    by_rule: Mapping[int, pa.Array],
) -> str:
    """One plain projection of the fields ``shown`` on the matched events of the slice
    of ``variant`` (column ``i``: ``shown[i]``, as text)."""
    cols = "".join(
        f", CAST({engine.slices.field_expression(name, variant)} AS VARCHAR) AS v{i}"
        for i, name in enumerate(shown)
    )
    return f"SELECT {ROW_ID} AS rid{cols} {_matched_rows(engine, variant, idxs, by_rule)}"


def _held_query(
    engine: DuckDBEngine,
    rules: Sequence[CompiledRule],
    variant: Variant,
    idxs: Sequence[int],
    requests: Mapping[int, ExplainRequest],
    by_rule: Mapping[int, pa.Array],
) -> str:
    """One query telling, for each match of the rules ``idxs`` (each with a selection
    the match does not decide) on the slice of ``variant``, which selections hold: their
    matched events scanned once, a ``CASE`` on the rule picking its tests."""
    held: list[str] = []
    fields: set[str] = set()
    for idx in idxs:
        fields |= rules[idx].fields  # ``needs`` keeps only the columns the tests read
        tests = _held_tests(rules[idx], requests[idx].implied)
        held.append(f"WHEN {int(idx)} THEN [{', '.join(tests)}]::BOOLEAN[]")
    needs = slice_columns(rules, idxs)
    inner = ", ".join(engine.slices.slice_columns(variant, sorted(fields), needs))
    ids = ", ".join(str(int(i)) for i in idxs)
    rows = _matched_rows(engine, variant, idxs, by_rule)
    return (
        f"SELECT m.{HIT_RULE} AS rule, s.{ROW_ID} AS rid, "
        f"CASE m.{HIT_RULE} {' '.join(held)} END AS held FROM "
        f"(SELECT {ROW_ID}{', ' + inner if inner else ''} {rows}) s "
        f"JOIN {MATCHES} m ON m.{ROW_ID} = s.{ROW_ID} AND m.{HIT_RULE} IN ({ids})"
    )


def _held_tests(rule: CompiledRule, implied: Sequence[bool | None]) -> list[str]:
    """SQL telling whether each selection of ``rule`` holds on a matched event: the
    selection's own SQL where the match does not decide it, else the known answer."""
    return [
        f"coalesce({sql}, false)" if known is None else str(known).lower()
        for (_, sql), known in zip(rule.selections, implied, strict=True)
    ]


def _explained(
    requests: Mapping[int, ExplainRequest],
    by_rule: Mapping[int, pa.Array],
    idxs: Sequence[int],
    shown: Sequence[str],
    values: pa.Table,
    held: Sequence[pa.Table],
) -> pa.Table:
    """The ``rule``, ``rid``, ``vals``, ``held`` table of the rules ``idxs`` on one slice,
    assembled in Arrow: each rule's matches on the slice's rows, the values of its shown
    fields as a list per match, its selections as the match decides them or as the held
    queries evaluated them."""
    column = {name.lower(): values.column(f"v{i}") for i, name in enumerate(shown)}
    row_ids = values.column("rid")
    evaluated = _evaluated(held)
    parts: list[pa.Table] = []
    for idx in idxs:
        at = pc.index_in(row_ids, value_set=by_rule[idx])  # slice row -> position in rids, or null
        on_slice = pc.is_valid(at)
        rows = pc.indices_nonzero(on_slice)
        if len(rows) == 0:
            continue
        rid = pc.take(row_ids, rows)
        names = requests[idx].shown
        vals = _lists([pc.take(column[n.lower()], rows) for n in names], len(rows), pa.string())
        if idx in evaluated:
            held_lists = pc.take(evaluated[idx][1], pc.index_in(rid, value_set=evaluated[idx][0]))
        else:
            implied = [bool(k) for k in requests[idx].implied]
            held_lists = _lists(
                [pa.repeat(pa.scalar(k, pa.bool_()), len(rows)) for k in implied],
                len(rows),
                pa.bool_(),
            )
        rule = pa.repeat(pa.scalar(idx, pa.int32()), len(rows))
        parts.append(pa.Table.from_arrays([rule, rid, vals, held_lists], names=_COLUMNS))
    return pa.concat_tables(parts) if parts else _EMPTY


def _evaluated(held: Sequence[pa.Table]) -> dict[int, tuple[pa.Array, pa.Array]]:
    """Per rule of the held queries: its matched row ids and, aligned, its held lists."""
    out: dict[int, tuple[pa.Array, pa.Array]] = {}
    for table in held:
        if table.num_rows == 0:
            continue
        rules_col = table.column("rule")
        for idx in pc.unique(rules_col).to_pylist():
            part = table.filter(pc.equal(rules_col, idx))
            out[idx] = (
                part.column("rid").combine_chunks(),
                part.column("held").combine_chunks(),
            )
    return out


def _lists(columns: Sequence[pa.Array | pa.ChunkedArray], n: int, kind: pa.DataType) -> pa.Array:
    """``n`` lists, the i-th made of the i-th value of each of ``columns`` in order."""
    k = len(columns)
    offsets = pa.array(np.arange(0, n * k + 1, max(k, 1)) if k else np.zeros(n + 1), pa.int32())
    if not k:
        return pa.ListArray.from_arrays(offsets, pa.array([], kind))
    flat = pa.concat_arrays(
        [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
    )
    order = (np.arange(n)[:, None] + np.arange(k)[None, :] * n).ravel()
    return pa.ListArray.from_arrays(offsets, pc.take(flat, pa.array(order)))


#: The columns of an explanation table.
_COLUMNS = ["rule", "rid", "vals", "held"]
#: What a slice with no rule's matches on it explains.
_EMPTY = pa.schema(
    [
        ("rule", pa.int32()),
        ("rid", pa.int64()),
        ("vals", pa.list_(pa.string())),
        ("held", pa.list_(pa.bool_())),
    ]
).empty_table()
