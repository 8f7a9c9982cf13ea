"""Field columns of a batch: collected sparse, in runs, then converted to Arrow at once.

A field present in a few rows of a batch is kept as its values and the runs of rows they
sit in (:class:`_Column`); the conversion to a full string column places them among null
gaps, expanding nested objects into dotted columns when a column holds some.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import pyarrow as pa

from lotlhunt.events.arrow_runs import with_null_gaps
from lotlhunt.sources.shapes import _KEYS, _key_info
from lotlhunt.sources.values import _INT_OR_NONE, _needs_expansion, _texts, flatten_into


class _Column:
    """The values a batch has for one field, in grouped order, and where they sit.

    Rows are grouped by shape before conversion, so the rows holding a field are a few
    runs: ``segs`` lists them as (first grouped row, length), adjacent runs merged.
    """

    __slots__ = ("raw", "values", "segs", "at")

    def __init__(self, raw: str) -> None:
        self.raw = raw  # first key spelling in this batch, to name nested expansions
        self.values: list[Any] = []
        self.segs: list[list[int]] = []
        #: The row of each value when set (:meth:`rows`), instead of ``segs``.
        self.at: list[int] | None = None

    def add(self, values: Sequence[Any], start: int) -> None:
        self.values.extend(values)
        segs = self.segs
        if segs and segs[-1][0] + segs[-1][1] == start:
            segs[-1][1] += len(values)
        else:
            segs.append([start, len(values)])

    def rows(self) -> list[int]:
        """The grouped row of each value (for the rare per-value paths), or the rows
        set in ``at``."""
        if self.at is not None:
            return self.at
        return [r for s, k in self.segs for r in range(s, s + k)]


#: Rows per run below which a column is built from a list of all its rows rather than
#: from its runs and the gaps between them (see ``_field_arrays``).
ROWS_PER_RUN = 512


def _field_arrays(cols: dict[str, _Column], n: int) -> tuple[list[Any], dict[str, _Column]]:
    """String arrays of the field columns, converted optimistically: most columns hold
    only strings and Arrow takes them as they are; the others are converted to text
    first, and nested objects are expanded (then everything is done again)."""
    arrays: list[Any] = []
    for col in cols.values():
        values = col.values
        try:
            if len(col.segs) * ROWS_PER_RUN > n:
                # Scattered over many short runs (events of many shapes, each with a few
                # of thousands of fields): one list with its gaps costs ~9 ns a row, a
                # concatenation of runs and gaps ~6 us a run.
                arrays.append(pa.array(_spread(values, col.rows(), n), pa.string()))
                continue
            dense = pa.array(values, pa.string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            types = set(map(type, values))
            if dict in types and _needs_expansion(values):
                cols = _expanded(cols)
                return [
                    _placed(pa.array(_texts(c.values), pa.string()), c, n) for c in cols.values()
                ], cols
            dense = _text_array(values, types)
        arrays.append(_placed(dense, col, n))
    return arrays, cols


def _text_array(values: Sequence[Any], types: set[type]) -> pa.Array:
    """A string array of a column that is not all text. Integers (EVTX renders Level,
    Task, process ids and many EventData values as numbers) are turned into text by
    Arrow's cast, the same digits as ``str`` gives, without a Python string each."""
    if types <= _INT_OR_NONE:
        try:
            return pa.array(values, pa.int64()).cast(pa.string())
        except (OverflowError, pa.ArrowInvalid):  # beyond 64 bits: Python writes them
            pass
    return pa.array(_texts(values, types), pa.string())


def _placed(dense: pa.Array, col: _Column, n: int) -> pa.Array:
    """A column's present values (grouped order) as a full column of ``n`` rows."""
    if len(dense) == n:
        return dense
    runs = []
    taken = 0
    for first, count in col.segs:
        runs.append((first, (dense.slice(taken, count),)))
        taken += count
    return with_null_gaps(runs, n, pa.string())


def _expanded(cols: dict[str, _Column]) -> dict[str, _Column]:
    types = {key: set(map(type, col.values)) for key, col in cols.items()}
    return _expand_nested(cols, types) if any(dict in t for t in types.values()) else cols


def _spread(values: Sequence[Any], rows: list[int], n: int) -> list[Any]:
    """Values placed at their rows in a list of ``n`` (None elsewhere)."""
    out: list[Any] = [None] * n
    for value, row in zip(values, rows):  # noqa: B905
        out[row] = value
    return out


def _expand_nested(cols: dict[str, _Column], types: dict[str, set[type]]) -> dict[str, _Column]:
    """Columns with nested objects replaced, in place, by dotted columns (``raw.sub``).

    A dotted key that also exists for real shares its column (first non-null wins).
    ``types`` loses the entries of columns that changed.
    """
    out: dict[str, _Column] = {}
    for key, col in cols.items():
        if dict in types[key] and _needs_expansion(col.values):
            del types[key]
            parts = _flattened(col)
        else:
            parts = {key: col}
        for part_key, part in parts.items():
            if part_key in out:
                types.pop(part_key, None)
                part = _merged(out[part_key], part)
            out[part_key] = part
    return out


def _flattened(col: _Column) -> dict[str, _Column]:
    cells: dict[str, dict[int, Any]] = {}
    raw_names: dict[str, str] = {}
    for value, row in zip(col.values, col.rows()):  # noqa: B905
        sub: dict[Any, Any] = {}
        flatten_into(sub, col.raw, value)
        for name, v in sub.items():
            key = (_KEYS.get(name) or _key_info(name))[0]
            raw_names.setdefault(key, name)
            column_cells = cells.setdefault(key, {})
            if column_cells.get(row) is None:
                column_cells[row] = v
    return {key: _from_cells(raw_names[key], c) for key, c in cells.items()}


def _merged(first: _Column, second: _Column) -> _Column:
    cells = dict(zip(second.rows(), second.values))  # noqa: B905
    for row, value in zip(first.rows(), first.values):  # noqa: B905
        if value is not None or row not in cells:
            cells[row] = value
    return _from_cells(first.raw, cells)


def _from_cells(raw: str, cells: dict[int, Any]) -> _Column:
    col = _Column(raw)
    for row in sorted(cells):
        col.add((cells[row],), row)
    return col


def _first_non_null(first: Sequence[Any], second: Sequence[Any]) -> list[Any]:
    return [a if a is not None else b for a, b in zip(first, second)]  # noqa: B905


def _string_arrays(columns: list[Sequence[str | None]]) -> list[pa.Array]:
    """String arrays of the columns; many small columns share one conversion call."""
    total = sum(map(len, columns))
    if total >= 50_000 or len(columns) < 4:
        return [pa.array(c, pa.string()) for c in columns]
    flat = pa.array(list(chain.from_iterable(columns)), pa.string())
    out, start = [], 0
    for c in columns:
        out.append(flat.slice(start, len(c)))
        start += len(c)
    return out
