"""Raw event records to rows of the events table (see :mod:`lotlhunt.events.schema`).

Every reader turns one record into a flat ``row`` dict: string keys are event fields under
their Windows names, and the small-int keys :data:`TS` .. :data:`RID` carry the core values
that a flavour mapping already found (ints can never collide with JSON keys). Flattened
exports (NXLog, Logstash) need no mapping at all: the parsed dict *is* the row, and its core
values are found by key alias when the batch is built.

Why columnar: the per-record hot loop only appends dicts. :class:`BatchBuilder` groups the
rows of a batch by key order ("shape": an exporter writes the same keys in the same order
for the same kind of event, so a batch of 8192 rows has a few dozen to a few hundred
shapes), transposes each group with ``zip`` and converts whole columns at once. Python
does per-key work once per shape, not once per record, and never visits empty cells.

Shapes are planned in :mod:`.shapes`, field columns assembled in :mod:`.columns`, and
single values converted in :mod:`.values`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from lotlhunt.events import schema
from lotlhunt.sources.columns import (
    _Column,
    _expanded,
    _field_arrays,
    _first_non_null,
    _from_cells,
    _spread,
    _string_arrays,
)
from lotlhunt.sources.options import DEFAULT_OPTIONS, ReaderOptions
from lotlhunt.sources.report import UnitReport
from lotlhunt.sources.shapes import (
    _PLANS,
    CHANNEL,
    EVENT_ID,
    HOST,
    PROVIDER,
    RECORD_ID,
    TS,
    PackedRow,
    PackedShape,
    _column_name,
    _new_plan,
)
from lotlhunt.sources.values import _ints, _texts, _timestamps, to_text

_SMALL_BATCH = 512
#: The values of a packed row (:class:`PackedShape`).
_PACKED_VALUES = itemgetter(1)


class BatchBuilder:
    """Collects rows of one unit and turns them into record batches of the events table.

    Column spelling is decided per unit (first spelling seen wins), so all batches of a
    unit agree; two keys of one row that differ only by case share a column and the first
    non-null value is kept. Rows come out in the order they were added.

    Columns are collected sparse (values present + their row numbers): exports have
    hundreds of distinct fields of which a row uses a few dozen. They are put back in row
    order before the one conversion to Arrow: by a C-level gather for columns every row
    has, by a loop over the values present for the others.
    """

    def __init__(self, label: str, options: ReaderOptions = DEFAULT_OPTIONS) -> None:
        self.label = label
        #: Where each unit's rows begin among ``rows`` (row index, label): a builder
        #: shared by several small units (:meth:`begin`) labels each row by its unit.
        self._labels: list[tuple[int, str]] = [(0, label)]
        #: Rows as dicts, or packed (:class:`~lotlhunt.sources.shapes.PackedShape`).
        self.rows: list[dict[Any, Any] | PackedRow] = []
        self.positions: list[int] = []
        #: Source bytes of the rows collected, and how many make a batch.
        self.size = 0
        self.max_bytes = options.batch_bytes
        #: Field columns a batch keeps (:attr:`ReaderOptions.max_field_columns`).
        self.max_columns = options.max_field_columns
        self._names: dict[str, str] = {}  # column key (lower) -> column name in this unit
        #: Field columns dropped by that cap, and a few of them.
        self.dropped_columns = 0
        self.dropped_examples: list[str] = []
        #: Core values that were no time or integer in range, per field they went to.
        self.unreadable: dict[str, int] = {}

    def begin(self, label: str) -> None:
        """The rows added from now on are of the unit ``label`` (the ``source`` column)."""
        self.label = label
        if self._labels[-1][0] == len(self.rows):
            self._labels[-1] = (len(self.rows), label)
        else:
            self._labels.append((len(self.rows), label))

    def add(self, row: dict[Any, Any] | PackedRow, position: int, size: int = 0) -> None:
        self.rows.append(row)
        self.positions.append(position)
        self.size += size

    def full(self, batch_rows: int) -> bool:
        """True when the rows collected make a batch: ``batch_rows`` of them, or
        ``max_bytes`` of source text."""
        return len(self.rows) >= batch_rows or self.size >= self.max_bytes

    def _fold_rarest(self, cols: dict[str, _Column], fields: list[Any], n: int) -> list[Any]:
        """Keep the ``max_field_columns`` - 1 fields most rows have as columns and
        fold the others into one column, :data:`schema.EXTRA_FIELDS`: per row, a JSON
        object of its folded fields. Nothing is lost: keyword rules and ``--explain``
        still see them, rules naming such a field do not. ``cols`` is changed in place;
        the fields of the columns kept are returned."""
        keys = list(cols)
        ranked = sorted(range(len(keys)), key=lambda i: -len(cols[keys[i]].values))
        keep = sorted(ranked[: self.max_columns - 1])
        folded = sorted(ranked[self.max_columns - 1 :])
        per_row: list[dict[str, Any] | None] = [None] * n
        for i in folded:
            col = cols[keys[i]]
            for value, row in zip(col.values, col.rows(), strict=True):
                if value is not None:
                    cell = per_row[row]
                    if cell is None:
                        cell = per_row[row] = {}
                    cell.setdefault(col.raw, to_text(value))
        self.dropped_columns += len(folded)
        room = max(0, 5 - len(self.dropped_examples))
        self.dropped_examples.extend(cols[keys[i]].raw for i in folded[:room])
        kept = [fields[i] for i in keep]
        for i in folded:
            del cols[keys[i]]
        extra_key = schema.EXTRA_FIELDS.lower()
        extra = [None if c is None else orjson.dumps(c).decode() for c in per_row]
        if extra_key in cols:  # a field of that very name: merged, its own value first
            old = cols.pop(extra_key)
            index = [k for k in keys if k in cols or k == extra_key].index(extra_key)
            own = kept.pop(index)
            own_list = own.to_pylist() if isinstance(own, pa.Array) else list(own)
            extra = _first_non_null(own_list, extra)
            del old
        cols[extra_key] = _from_cells(schema.EXTRA_FIELDS, dict(enumerate(extra)))
        kept.append(extra)
        return kept

    def report_dropped(self, report: UnitReport) -> None:
        """Say in ``report`` which fields the column cap dropped, and which core values
        could not be read (kept as text), if any."""
        for name, count in self.unreadable.items():
            core = name[len(schema.COLLISION_PREFIX) :]
            report.note(None, f"{count} {core} values unreadable or out of range: kept in {name}")
        if self.dropped_columns:
            report.note(
                None,
                f"{self.dropped_columns} fields beyond {self.max_columns} columns per batch"
                f" (the rarest) were folded into {schema.EXTRA_FIELDS} as JSON, e.g."
                f" {', '.join(map(repr, self.dropped_examples))}",
            )

    def __len__(self) -> int:
        return len(self.rows)

    def _keep_unreadable(
        self,
        role: int,
        values: list[Any],
        array: pa.Array,
        cols: dict[str, _Column],
        fields: list[Any],
    ) -> None:
        """Values of a typed core column that are no time or integer in its range (an
        event id of 99999999999999999999) stay NULL there but are kept, as text, in
        field ``field_<column>``, and counted for :meth:`report_dropped`."""
        nulls = array.is_null().to_pylist()
        kept = [
            to_text(v) if null and v not in (None, "") else None
            for v, null in zip(values, nulls, strict=True)
        ]
        lost = sum(v is not None for v in kept)
        if not lost:
            return
        name = schema.COLLISION_PREFIX + schema.CORE_COLUMNS[role]
        self.unreadable[name] = self.unreadable.get(name, 0) + lost
        if name.lower() in cols:
            col = cols[name.lower()]
            merged = _first_non_null(_spread(col.values, col.rows(), len(values)), kept)
            index = list(cols).index(name.lower())
            fields[index] = merged
            cols[name.lower()] = _from_cells(col.raw, dict(enumerate(merged)))
        else:
            cols[name.lower()] = _from_cells(name, dict(enumerate(kept)))
            fields.append(kept)

    def flush(self) -> pa.RecordBatch | None:
        """Build one record batch from the rows collected so far (None when empty)."""
        rows, positions, labels = self.rows, self.positions, self._labels
        n = len(rows)
        if not n:
            return None
        self.rows, self.positions, self.size = [], [], 0
        self._labels = [(0, self.label)]
        # Grouped by shape: a dict row by its keys, a packed row by its shape object
        # (hashed by identity; the same keys in both kinds make two groups, of the same
        # columns).
        groups: dict[tuple[Any, ...] | PackedShape, list[int]] = {}
        for i, row in enumerate(rows):
            group = row[0] if type(row) is tuple else tuple(row)
            g = groups.get(group)
            if g is None:
                groups[group] = [i]
            else:
                g.append(i)

        core: list[list[Any]] = [[] for _ in range(6)]  # dense, in grouped order
        cols: dict[str, _Column] = {}
        order: list[int] = []
        for group, idx in groups.items():
            shape: tuple[Any, ...] = group.keys if isinstance(group, PackedShape) else group
            plan = _PLANS.get(shape) or _new_plan(shape)
            start = len(order)
            order.extend(idx)
            members = rows if len(idx) == n else map(rows.__getitem__, idx)
            values_of: Callable[[Any], Iterable[Any]] = (
                _PACKED_VALUES if type(group) is PackedShape else dict.values
            )
            columns = list(zip(*map(values_of, members))) if shape else []  # noqa: B905
            for role, i in enumerate(plan.core):
                core[role].extend(columns[i] if i >= 0 else repeat(None, len(idx)))
            for i, key in plan.single:
                col = cols.get(key)
                if col is None:
                    col = cols[key] = _Column(shape[i])
                col.add(columns[i], start)
            for ix, key in plan.multi:  # same column in other case: first non-null wins
                values: Sequence[Any] = columns[ix[0]]
                for j in ix[1:]:
                    values = _first_non_null(values, columns[j])
                col = cols.get(key)
                if col is None:
                    col = cols[key] = _Column(shape[ix[0]])
                col.add(values, start)
        return self._assemble(n, core, cols, order, positions, labels)

    def _assemble(
        self,
        n: int,
        core: list[list[Any]],
        cols: dict[str, _Column],
        order: list[int],
        positions: list[int],
        labels: list[tuple[int, str]],
    ) -> pa.RecordBatch:
        """Arrow columns in grouped order, then one gather back to the order rows came in:
        a C-level pass instead of a Python one per cell, and absent cells are never
        visited (runs of nulls are appended whole)."""
        fields: list[Any]
        if n <= _SMALL_BATCH:  # many small columns: one Arrow conversion for all of them
            cols = _expanded(cols)
            if n > 1 and order != list(range(n)):
                # Put back in arrival order here, in the lists (a few hundred values),
                # rather than by a gather of every Arrow column: one call per column
                # is most of a small file's batch.
                arrival = [0] * n  # each row's place in grouped order
                for grouped, row in enumerate(order):
                    arrival[row] = grouped
                core = [list(itemgetter(*arrival)(values)) for values in core]
                for c in cols.values():
                    c.at = list(map(order.__getitem__, c.rows()))
                order = list(range(n))
            fields = [_texts(_spread(c.values, c.rows(), n)) for c in cols.values()]
        else:
            fields, cols = _field_arrays(cols, n)
        if len(cols) > self.max_columns:
            fields = self._fold_rarest(cols, fields, n)
        provider = _texts(core[PROVIDER])
        if "provider_name" not in cols and any(p is not None for p in provider):
            cols["provider_name"] = _Column("Provider_Name")  # Sigma rules use it; as in EVTX
            fields.append(provider)
        typed = [
            _timestamps(core[TS]),
            _ints(core[EVENT_ID], pa.int32(), -(2**31), 2**31 - 1),
            _ints(core[RECORD_ID], pa.int64(), -(2**63), 2**63 - 1),
        ]
        for role, array in zip((TS, EVENT_ID, RECORD_ID), typed, strict=True):
            if array.null_count:
                self._keep_unreadable(role, core[role], array, cols, fields)
        names = self._names
        for key, col in cols.items():
            if key not in names:
                names[key] = _column_name(col.raw)
        strings = _string_arrays(
            [_texts(core[HOST]), _texts(core[CHANNEL]), provider]
            + [f for f in fields if not isinstance(f, pa.Array)]
        )
        head, rest = strings[:3], iter(strings[3:])
        grouped = pa.RecordBatch.from_arrays(
            [
                typed[0],
                *head,
                *typed[1:],
                *(f if isinstance(f, pa.Array) else next(rest) for f in fields),
            ],
            names=[*schema.CORE_COLUMNS[:6], *(self._names[key] for key in cols)],
        )
        grouped_rows = np.asarray(order, np.int32)
        if n > 1 and bool((grouped_rows[1:] < grouped_rows[:-1]).any()):
            inverse = np.empty(n, np.int32)
            inverse[grouped_rows] = np.arange(n, dtype=np.int32)
            grouped = grouped.take(pa.array(inverse))
        arrays = grouped.columns
        return pa.RecordBatch.from_arrays(
            [
                *arrays[:6],
                _sources(labels, n),
                pa.array(positions, pa.int64()),
                *arrays[6:],
            ],
            names=[*schema.CORE_COLUMNS, *grouped.schema.names[6:]],
        )


def _sources(labels: list[tuple[int, str]], n: int) -> pa.Array:
    """The ``source`` column of ``n`` rows: each unit's label from its first row on."""
    if len(labels) == 1:
        return pa.array(repeat(labels[0][1], n), pa.string(), size=n)
    ends = [start for start, _ in labels[1:]] + [n]
    runs = (repeat(label, end - start) for (start, label), end in zip(labels, ends, strict=True))
    return pa.array(list(chain.from_iterable(runs)), pa.string())


def batch_rows_of(rows: Iterable[tuple[dict[Any, Any], int]], label: str) -> pa.RecordBatch:
    """Convenience for tests and small callers: one batch from (row, position) pairs."""
    builder = BatchBuilder(label)
    for row, position in rows:
        builder.add(row, position)
    batch = builder.flush()
    if batch is None:
        return pa.RecordBatch.from_pylist([], schema=schema.CORE_SCHEMA)
    return batch
