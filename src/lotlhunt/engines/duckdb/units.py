"""Rules evaluated per field: every test of a field once over its distinct values.

SigmaHQ's rules hold tens of thousands of tests on a few hundred fields, and logs repeat
their values (a few thousand distinct command lines among a million events). So a
slice's fields are dictionary-encoded once (each row a code into the field's distinct
values), every *field unit* of every rule (:mod:`lotlhunt.rules.compile.tree`) is
evaluated once, in SQL, over the distinct values of its field (many units per query:
DuckDB's vectorised kernels, the very SQL of the rule), and each rule is then boolean
algebra over those results on the rows, in numpy.

SQL is three-valued and so is this: a unit gives, per distinct value, true, false or
unknown (NULL); AND, OR and the compiler's ``coalesce`` wrappers combine (true, false)
pairs as SQL does, and a rule matches where it is true.

A rule's rows are found sparsely: the rows where one of its required units is true
(an inverted index of each field's codes gives them without a pass over the slice) are
its candidates, and only those are evaluated; an OR unites its branches' candidates.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ...rules.compile.tree import Kind, Node, Tree
from ...rules.model import CompiledRule

#: Truth of a node on some rows: (true, false) boolean arrays; unknown is neither.
Truth = tuple[np.ndarray, np.ndarray]


@dataclass
class FieldCodes:
    """One field of a slice: its distinct values (``values``: an Arrow array, NULL one
    of them if some row lacks the field) and each row's index into them (``codes``)."""

    values: pa.Array
    codes: np.ndarray
    _order: np.ndarray | None = None
    _counts: np.ndarray | None = None
    _offsets: np.ndarray | None = None

    @property
    def counts(self) -> np.ndarray:
        """Rows per distinct value."""
        if self._counts is None:
            self._counts = np.bincount(self.codes, minlength=len(self.values))
        return self._counts

    def weight(self, codes: np.ndarray) -> int:
        """How many rows hold one of the values ``codes``."""
        return int(self.counts[codes].sum())

    def rows_of(self, codes: np.ndarray) -> np.ndarray:
        """The rows (sorted positions) holding one of the values ``codes``: read from an
        inverted index built on first use (rows sorted by code), so finding a rare
        value's rows costs its rows, not a pass over the slice."""
        if self._order is None:
            # Codes below 2**16 sorted as such: numpy's stable sort of 16 bits or fewer is
            # a radix sort, 3-4x faster than on int64 over a 1 M-row slice, same order.
            narrow = _narrowest(len(self.values))
            self._order = np.argsort(self.codes.astype(narrow, copy=False), kind="stable")
            self._offsets = np.concatenate(([0], np.cumsum(self.counts)))
        assert self._offsets is not None
        lengths = self.counts[codes]
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, np.int64)
        starts = self._offsets[codes]
        # Position k of the output reads order[starts[j] + k - first[j]] for its run j.
        first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        index = np.repeat(starts - first, lengths) + np.arange(total)
        return np.sort(self._order[index])


def _narrowest(bound: int) -> type[np.unsignedinteger]:
    """The narrowest unsigned type holding every integer below ``bound`` + 1."""
    if bound < 1 << 8:
        return np.uint8
    if bound < 1 << 16:
        return np.uint16
    if bound < 1 << 32:
        return np.uint32
    return np.uint64


@dataclass
class UnitTruth:
    """A unit's outcome: for a field unit, the codes of its field where it is true and
    where it is NULL (sorted); for a row unit, its true and NULL rows as booleans."""

    true: np.ndarray
    null: np.ndarray
    codes: FieldCodes | None = None
    _true_rows: np.ndarray | None = field(default=None, repr=False)

    def weight(self) -> int:
        """Rows where the unit is true."""
        if self.codes is None:
            return int(self.true.sum())
        return self.codes.weight(self.true)

    def true_rows(self) -> np.ndarray:
        """The rows where the unit is true (sorted positions)."""
        if self._true_rows is None:
            if self.codes is None:
                self._true_rows = np.flatnonzero(self.true)
            else:
                self._true_rows = self.codes.rows_of(self.true)
        return self._true_rows

    def on(self, rows: np.ndarray) -> Truth:
        """(true, false) on ``rows``."""
        if self.codes is None:
            t, n = self.true[rows], self.null[rows]
        else:
            codes = self.codes.codes[rows]
            t, n = _member(codes, self.true), _member(codes, self.null)
        return t, ~(t | n)


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which ``values`` are in ``sorted_set``."""
    if not len(sorted_set):
        return np.zeros(len(values), bool)
    pos = np.searchsorted(sorted_set, values)
    pos[pos == len(sorted_set)] = 0
    return sorted_set[pos] == values


#: What identifies a unit: a maximal part of a tree reading one field, or a row test.
UnitKey = Hashable


def unit_keys(tree: Tree) -> dict[int, UnitKey]:
    """The units of ``tree``: each maximal subtree reading one field only (evaluated
    over that field's distinct values) and each row test, by node index, with a key
    equal for equal subtrees (rules share them: one evaluation serves all)."""
    fields: list[str | None] = []
    keys: list[UnitKey] = []
    parents: dict[int, list[int]] = {}
    for i, node in enumerate(tree):
        for a in node.args:
            parents.setdefault(a, []).append(i)
        if node.kind is Kind.FIELD:
            fields.append(node.field)
            keys.append(node.sql)
        elif node.kind is Kind.ROW:
            fields.append(None)
            keys.append((Kind.ROW, node.sql))
        else:
            below = {fields[a] for a in node.args}
            fields.append(below.pop() if len(below) == 1 else None)
            keys.append((node.kind, tuple(keys[a] for a in node.args)))
    out: dict[int, UnitKey] = {}
    for i, node in enumerate(tree):
        if node.kind is Kind.ROW:
            out[i] = keys[i]
            continue
        f = fields[i]
        if f is None:
            continue
        if any(fields[p] != f for p in parents.get(i, ())) or i not in parents:
            out[i] = (f, keys[i])
    return out


def bounded(tree: Tree, keys: dict[int, UnitKey]) -> bool:
    """Whether the tree can be true only where some field unit is (its candidates come
    from field units whatever their outcomes: :meth:`RuleMatcher.candidates`). A rule
    of keywords alone is not; keywords ANDed with an event id test are."""

    def walk(i: int) -> bool:
        if i in keys:
            return tree[i].kind is not Kind.ROW
        node = tree[i]
        if node.kind is Kind.TRUE:
            return walk(node.args[0])
        if node.kind is Kind.AND:
            return any(walk(a) for a in node.args)
        if node.kind is Kind.OR:
            return all(walk(a) for a in node.args)
        return False

    return walk(len(tree) - 1)


class RuleMatcher:
    """Matches rules' trees on a slice's rows from their units' outcomes.

    ``units`` maps a unit's key (:func:`unit_keys`) to its outcome; a tree reading a
    unit with no outcome cannot be evaluated (its rule failed): :meth:`match` gives None.
    """

    def __init__(self, rows: int, units: dict[UnitKey, UnitTruth]) -> None:
        self.rows = rows
        self.units = units

    def match(self, tree: Tree, keys: dict[int, UnitKey]) -> np.ndarray | None:
        """The rows (sorted positions) where the tree is true, or None if one of its
        units has no outcome. ``keys``: the tree's units (:func:`unit_keys`)."""
        if any(k not in self.units for k in keys.values()):
            return None
        self._keys = keys
        root = len(tree) - 1
        rows = self._candidates(tree, root)
        if rows is None:
            rows = np.arange(self.rows)
        if not len(rows):
            return rows
        true, _ = self._truth(tree, root, rows)
        return rows[true]

    def candidates(self, tree: Tree, keys: dict[int, UnitKey]) -> np.ndarray | None:
        """The rows (sorted positions) outside which the tree is not true, from its units'
        outcomes (None: any row may be, or a unit has no outcome)."""
        if any(k not in self.units for k in keys.values()):
            return None
        self._keys = keys
        return self._candidates(tree, len(tree) - 1)

    def _unit(self, i: int) -> UnitTruth | None:
        key = self._keys.get(i)
        return None if key is None else self.units[key]

    def _weight(self, tree: Tree, i: int) -> int | None:
        """How many rows the candidates of node ``i`` hold (None: every row)."""
        unit = self._unit(i)
        if unit is not None:
            return unit.weight()
        node = tree[i]
        if node.kind is Kind.TRUE:
            return self._weight(tree, node.args[0])
        if node.kind is Kind.AND:
            known = [w for w in (self._weight(tree, a) for a in node.args) if w is not None]
            return min(known) if known else None
        if node.kind is Kind.OR:
            parts = [self._weight(tree, a) for a in node.args]
            return None if any(w is None for w in parts) else sum(w for w in parts if w)
        return None  # NOT: true wherever its operand is not, no bound

    def _candidates(self, tree: Tree, i: int) -> np.ndarray | None:
        """Sorted rows outside which node ``i`` is not true (None: any row may be)."""
        unit = self._unit(i)
        if unit is not None:
            return unit.true_rows()
        node = tree[i]
        if node.kind is Kind.TRUE:
            return self._candidates(tree, node.args[0])
        if node.kind is Kind.AND:
            weighed = [(w, a) for a in node.args if (w := self._weight(tree, a)) is not None]
            if not weighed:
                return None
            return self._candidates(tree, min(weighed)[1])
        if node.kind is Kind.OR:
            parts = [self._candidates(tree, a) for a in node.args]
            if any(p is None for p in parts):
                return None
            return np.unique(np.concatenate([p for p in parts if p is not None]))
        return None

    def _truth(self, tree: Tree, i: int, rows: np.ndarray) -> Truth:
        """(true, false) of node ``i`` on ``rows``, as SQL's three-valued logic has it."""
        unit = self._unit(i)
        if unit is not None:
            return unit.on(rows)
        node = tree[i]
        if node.kind is Kind.NOT:
            t, _ = self._truth(tree, node.args[0], rows)
            return ~t, t
        if node.kind is Kind.TRUE:
            t, _ = self._truth(tree, node.args[0], rows)
            return t, ~t
        parts = [self._truth(tree, a, rows) for a in node.args]
        if node.kind is Kind.AND:
            return _all([t for t, _ in parts]), _any([f for _, f in parts])
        return _any([t for t, _ in parts]), _all([f for _, f in parts])


def _all(arrays: list[np.ndarray]) -> np.ndarray:
    out = arrays[0].copy()
    for a in arrays[1:]:
        out &= a
    return out


def _any(arrays: list[np.ndarray]) -> np.ndarray:
    out = arrays[0].copy()
    for a in arrays[1:]:
        out |= a
    return out


def units_of(
    rules: Sequence[CompiledRule], idxs: Iterable[int], fields: set[str] | None = None
) -> tuple[dict[str, dict[str, Node]], list[str]]:
    """The field units of the rules ``idxs`` by field (of ``fields`` only, if given),
    each field's by SQL, and their row units' SQL."""
    field_units: dict[str, dict[str, Node]] = {}
    row_units: dict[str, None] = {}
    for i in idxs:
        for node in rules[i].condition or ():
            if node.kind is Kind.FIELD:
                if fields is None or node.field in fields:
                    field_units.setdefault(node.field, {})[node.sql] = node
            elif node.kind is Kind.ROW:
                row_units[node.sql] = None
    return field_units, list(row_units)
