"""Row units made where their rules can match; slices ordered for running side by side.

A row unit (keywords on the whole event's text, a test of several fields) is evaluated on
rows, not over a field's distinct values: the costly part of a slice when the text joins
hundreds of columns. The rule-by-rule SQL never made that text on rows a rule's other
tests ruled out; :func:`late_row_units` and :func:`row_candidates` give the per-field
path the same economy. :func:`largest_first` orders slices so that two at a time finish
soonest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ...rules.compile.dialect import ALL_TEXT_FIELD
from ...rules.compile.tree import Kind
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..planning import covers
from .encode import EncodedSlice
from .groups import Group
from .units import RuleMatcher, UnitKey, UnitTruth, bounded


def largest_first(
    events: Sequence[Group],
    columns: int,
    rules: Sequence[CompiledRule],
    groups: list[tuple[Variant, list[int]]],
) -> list[tuple[Variant, list[int]]]:
    """``groups`` by their slices' rows, the largest first, a slice whose rules search
    the whole event's text with no channel counted once per column (of ``columns``) that
    text joins (that search reads every column of every row: Mordor's slice of every
    event, 543 columns, costs as much as all the others together). Side by side, the
    longest slices started first finish soonest. ``events``: the events table's groups
    (:mod:`.groups`)."""
    rows = [
        ((str(g.channel or "").lower(), -1 if g.event_id is None else g.event_id), g.rows)
        for g in events
    ]

    def weight(group: tuple[Variant, list[int]]) -> int:
        variant, idxs = group
        size = sum(n for key, n in rows if covers(variant, key))
        text = any(ALL_TEXT_FIELD in rules[i].fields for i in idxs)
        return size * (max(1, columns) if text and not variant.channels else 1)

    return sorted(groups, key=weight, reverse=True)


def late_row_units(
    rules: Sequence[CompiledRule],
    idxs: Iterable[int],
    keys: dict[int, dict[int, UnitKey]],
    row_units: list[str],
) -> list[str]:
    """The row units every rule reading them bounds by field units (:func:`.units.bounded`):
    evaluated after the field units, on the rows those allow. The others are made in
    the scan of the fields, on every row of the slice (a lone keyword rule)."""
    early: set[str] = set()
    for i in idxs:
        tree = rules[i].condition or ()
        reads = [tree[at].sql for at in keys[i] if tree[at].kind is Kind.ROW]
        if reads and not bounded(tree, keys[i]):
            early.update(reads)
    return [u for u in row_units if u not in early]


def row_candidates(
    rules: Sequence[CompiledRule],
    idxs: Iterable[int],
    keys: dict[int, dict[int, UnitKey]],
    outcomes: dict[UnitKey, UnitTruth],
    n: int,
    row_units: list[str],
) -> np.ndarray:
    """Which of the slice's ``n`` rows the ``row_units`` are needed on: where a rule
    reading one can match, as its field units' ``outcomes`` say (each rule's candidates,
    :meth:`RuleMatcher.candidates`, with its row units taken as true everywhere). Mordor's
    Security slice: one rule's keyword on the text of 72,253 events, for the 53 its
    other tests keep. Elsewhere the units are false: no rule reading them is evaluated
    there."""
    everywhere = UnitTruth(true=np.ones(n, bool), null=np.zeros(n, bool))
    probe = dict(outcomes)
    probe.update({(Kind.ROW, sql): everywhere for sql in row_units})
    matcher = RuleMatcher(n, probe)
    need = np.zeros(n, bool)
    for i in idxs:
        tree = rules[i].condition or ()
        if not any(tree[at].sql in row_units for at in keys[i] if tree[at].kind is Kind.ROW):
            continue
        rows = matcher.candidates(tree, keys[i])
        if rows is None:
            need[:] = True
            break
        need[rows] = True
    return need


def spread(
    scan: EncodedSlice | None, rids: np.ndarray, row_units: list[str]
) -> tuple[dict[UnitKey, UnitTruth], dict[UnitKey, str]]:
    """The outcomes of ``row_units`` on the slice's rows ``rids`` from a ``scan`` of some
    of them (None: of none; false where not scanned), and the units that failed."""
    n = len(rids)
    got = scan.rids if scan is not None else np.empty(0, np.int64)
    at = np.minimum(np.searchsorted(rids, got), max(n - 1, 0))
    if len(got) and not np.array_equal(rids[at], got):
        raise RuntimeError("a scan of a slice's row units holds rows the slice does not")
    failed = scan.failed if scan is not None else {}
    out: dict[UnitKey, UnitTruth] = {}
    for sql in row_units:
        if sql in failed:
            continue
        true = np.zeros(n, bool)
        null = np.zeros(n, bool)
        truth = scan.rows.get(sql) if scan is not None else None
        if truth is not None:
            true[at] = truth.true
            null[at] = truth.null
        out[(Kind.ROW, sql)] = UnitTruth(true=true, null=null)
    return out, {(Kind.ROW, sql): e for sql, e in failed.items()}


def locked(progress: Callable[[int], None]) -> Callable[[int], None]:
    """``progress`` called by one thread at a time (slices are evaluated side by side)."""
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            progress(n)

    return advance
