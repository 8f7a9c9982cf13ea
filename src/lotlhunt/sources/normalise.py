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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lotlhunt.events import schema
from lotlhunt.events.arrow_runs import with_null_gaps
from lotlhunt.sources.options import DEFAULT_OPTIONS, ReaderOptions
from lotlhunt.sources.report import UnitReport

#: Internal row keys for core values found by a flavour mapping.
TS, HOST, CHANNEL, PROVIDER, EVENT_ID, RECORD_ID = range(6)

#: Nesting levels flattened into dotted / leaf names; deeper parts stay JSON text.
MAX_DEPTH = 32
_NONE = type(None)
_STR_OR_NONE = frozenset((str, _NONE))
_INT = frozenset((int,))
_INT_OR_NONE = frozenset((int, _NONE))
_TS_TYPE = schema.CORE_FIELDS[0].type
_NAIVE_TS = pa.timestamp("us")
_SHAPE_CACHE_LIMIT = 8192
_KEY_CACHE_LIMIT = 1 << 16
_SMALL_BATCH = 512

# Flattened-export keys that carry a core value, lower-cased: key -> (role, rank, consumed).
# The lowest rank present in a row wins; a consumed key is not also stored as a field.
# Secondary times (Sysmon UtcTime, NXLog EventTime) stay fields: they mean something there.
_ALIASES: dict[str, tuple[int, int, bool]] = {}
for _role, _names in (
    (TS, ("@timestamp", "timestamp", "timecreated", "utctime", "eventtime")),
    (HOST, ("hostname", "computer", "computername", "computer_name")),
    (CHANNEL, ("channel", "logname", "log_name")),
    (PROVIDER, ("sourcename", "providername", "provider_name", "source_name")),
    (EVENT_ID, ("eventid", "event_id", "eventcode")),
    (RECORD_ID, ("recordnumber", "eventrecordid", "recordid", "record_number", "record_id")),
):
    for _rank, _name in enumerate(_names, start=1):
        _ALIASES[_name] = (_role, _rank, _name not in ("utctime", "eventtime"))


def to_text(value: Any) -> str | None:
    """One field value as the events table stores it (strings; see module docstring)."""
    t = type(value)
    if t is str:
        return value
    if value is None:
        return None
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if t is float:
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if t is dict:
        if "#text" in value:
            return to_text(value["#text"])
        rest = {k: v for k, v in value.items() if k != "#attributes"}
        return _deep_text(rest) if rest else None
    if t is list:
        try:
            return "\n".join(value)  # the usual list: strings (EVTX unnamed <Data>, tags)
        except TypeError:
            pass
        if all(type(v) not in (dict, list) for v in value):
            return "\n".join("" if v is None else to_text(v) for v in value)  # type: ignore[misc]
        return _deep_text(value)
    return str(value)


def _texts(values: Sequence[Any], types: set[type] | None = None) -> Sequence[str | None]:
    """Convert a whole column; the common all-string column is returned untouched."""
    if types is None:
        types = set(map(type, values))
    if types <= _STR_OR_NONE:
        return values
    if types == _INT:
        return list(map(str, values))
    if types <= _INT_OR_NONE:
        return [None if v is None else str(v) for v in values]
    return [v if v.__class__ is str else to_text(v) for v in values]


def _needs_expansion(values: Sequence[Any]) -> bool:
    for v in values:
        if type(v) is dict and "#text" not in v and any(k != "#attributes" for k in v):
            return True
    return False


def flatten_into(row: dict[Any, Any], prefix: str, value: Any, depth: int = 0) -> None:
    """Nested objects become dotted keys (``process.command_line``); first key wins.

    Below :data:`MAX_DEPTH` levels the rest stays one JSON text (hostile nesting must not
    exhaust the stack)."""
    if type(value) is dict and value and "#text" not in value and depth < MAX_DEPTH:
        for k, v in value.items():
            if k != "#attributes":
                flatten_into(row, f"{prefix}.{k}" if prefix else k, v, depth + 1)
    elif prefix not in row:
        row[prefix] = _deep_text(value) if depth >= MAX_DEPTH else value


def leaves_into(row: dict[Any, Any], value: Any, name: str = "", depth: int = 0) -> None:
    """Nested objects become their LEAF names (UserData/<Wrapper>/<Field> -> Field)."""
    if type(value) is dict and "#text" not in value and depth < MAX_DEPTH:
        for k, v in value.items():
            if k != "#attributes":
                leaves_into(row, v, k, depth + 1)
    elif name and name not in row:
        row[name] = _deep_text(value) if depth >= MAX_DEPTH else value


def _deep_text(value: Any) -> Any:
    if type(value) not in (dict, list):
        return value
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # deeper than orjson writes: the stdlib may manage
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        except (RecursionError, ValueError):
            return "[nested too deep to keep]"


def _ints(values: Sequence[Any], typ: pa.DataType, lo: int, hi: int) -> pa.Array:
    """Core integer column; anything unparseable or out of range is NULL, not an error."""
    if set(map(type, values)) <= _INT_OR_NONE:  # (bool is not int here: it stays out)
        try:
            return pa.array(values, typ)  # range-checked by Arrow
        except (OverflowError, pa.ArrowInvalid):
            pass
    return pa.array([_int(v, lo, hi) for v in values], typ)


def _int(v: Any, lo: int, hi: int) -> int | None:
    if type(v) is dict:
        v = v.get("#text")
    if type(v) is str:
        s = v.strip()
        try:
            v = int(s, 16) if s[:2].lower() == "0x" else int(s)
        except ValueError:
            return None
    if type(v) is float and v.is_integer():
        v = int(v)
    return v if type(v) is int and lo <= v <= hi else None


def _timestamps(values: Sequence[Any]) -> pa.Array:
    """Core timestamp column: vectorised ISO parse, per-value fallback for odd formats."""
    if not set(map(type, values)) <= _STR_OR_NONE:
        values = [_ts_text(v) for v in values]
    arr = pa.array(values, pa.string())
    try:
        return pc.cast(arr, _TS_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:  # "YYYY-MM-DD HH:MM:SS[.fff]" without zone: exporters write UTC
        return pc.cast(pc.cast(arr, _NAIVE_TS), _TS_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    return pa.array([parse_time(v) for v in values], _TS_TYPE)


def _ts_text(v: Any) -> str | None:
    if type(v) is dict:  # {"SystemTime": ..} or {"#attributes": {"SystemTime": ..}}
        v = v.get("SystemTime") or (v.get("#attributes") or {}).get("SystemTime")
    if type(v) in (int, float):  # epoch seconds or milliseconds
        try:
            secs = v / 1000 if abs(v) > 1e11 else v
            return datetime.fromtimestamp(secs, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    return v if type(v) is str else None


def parse_time(v: str | None) -> datetime | None:
    """One timestamp string to an aware UTC datetime, or None when it is not a time."""
    if not v:
        return None
    s = v.strip()
    if s.endswith(" UTC"):
        s = s[:-4]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class _Plan:
    """How one shape (tuple of row keys) maps to core roles and field columns."""

    __slots__ = ("core", "single", "multi")

    def __init__(self) -> None:
        self.core = [-1] * 6  # per role: index in the shape, or -1
        self.single: list[tuple[int, str]] = []  # (index, column key)
        self.multi: list[tuple[tuple[int, ...], str]] = []  # keys differing only by case


class _Column:
    """The values a batch has for one field, in grouped order, and where they sit.

    Rows are grouped by shape before conversion, so the rows holding a field are a few
    runs: ``segs`` lists them as (first grouped row, length), adjacent runs merged.
    """

    __slots__ = ("raw", "values", "segs")

    def __init__(self, raw: str) -> None:
        self.raw = raw  # first key spelling in this batch, to name nested expansions
        self.values: list[Any] = []
        self.segs: list[list[int]] = []

    def add(self, values: Sequence[Any], start: int) -> None:
        self.values.extend(values)
        segs = self.segs
        if segs and segs[-1][0] + segs[-1][1] == start:
            segs[-1][1] += len(values)
        else:
            segs.append([start, len(values)])

    def rows(self) -> list[int]:
        """The grouped row of each value (for the rare per-value paths)."""
        return [r for s, k in self.segs for r in range(s, s + k)]


# Per-process caches: key names and shapes repeat across the units a process reads.
_KEYS: dict[str, tuple[str, tuple[int, int, bool] | None]] = {}
_PLANS: dict[tuple[Any, ...], _Plan] = {}


def _column_name(raw: str) -> str:
    return schema.field_column(raw) if raw else schema.COLLISION_PREFIX


def _key_info(name: str) -> tuple[str, tuple[int, int, bool] | None]:
    """(column key, core alias) of a raw field name."""
    if len(_KEYS) >= _KEY_CACHE_LIMIT:
        _KEYS.clear()
    info = _KEYS[name] = (_column_name(name).lower(), _ALIASES.get(name.lower()))
    return info


def _new_plan(shape: tuple[Any, ...]) -> _Plan:
    plan = _Plan()
    core, rank = plan.core, [99] * 6
    infos = [None if type(k) is int else _KEYS.get(k) or _key_info(k) for k in shape]
    for i, info in enumerate(infos):
        if info is None:
            core[shape[i]], rank[shape[i]] = i, 0
        elif info[1] is not None and info[1][1] < rank[info[1][0]]:
            core[info[1][0]], rank[info[1][0]] = i, info[1][1]
    consumed = {i for i in core if i >= 0 and (infos[i] is None or infos[i][1][2])}  # type: ignore[index]
    by_key: dict[str, list[int]] = {}
    for i, info in enumerate(infos):
        if i not in consumed and info is not None:
            by_key.setdefault(info[0], []).append(i)
    for key, ix in by_key.items():
        if len(ix) == 1:
            plan.single.append((ix[0], key))
        else:
            plan.multi.append((tuple(ix), key))
    if len(_PLANS) >= _SHAPE_CACHE_LIMIT:
        _PLANS.clear()
    _PLANS[shape] = plan
    return plan


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
        self.rows: list[dict[Any, Any]] = []
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

    def add(self, row: dict[Any, Any], position: int, size: int = 0) -> None:
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
        rows, positions = self.rows, self.positions
        n = len(rows)
        if not n:
            return None
        self.rows, self.positions, self.size = [], [], 0
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, row in enumerate(rows):
            shape = tuple(row)
            g = groups.get(shape)
            if g is None:
                groups[shape] = [i]
            else:
                g.append(i)

        core: list[list[Any]] = [[] for _ in range(6)]  # dense, in grouped order
        cols: dict[str, _Column] = {}
        order: list[int] = []
        for shape, idx in groups.items():
            plan = _PLANS.get(shape) or _new_plan(shape)
            start = len(order)
            order.extend(idx)
            members = rows if len(idx) == n else map(rows.__getitem__, idx)
            columns = list(zip(*map(dict.values, members))) if shape else []  # noqa: B905
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
        return self._assemble(n, core, cols, order, positions)

    def _assemble(
        self,
        n: int,
        core: list[list[Any]],
        cols: dict[str, _Column],
        order: list[int],
        positions: list[int],
    ) -> pa.RecordBatch:
        """Arrow columns in grouped order, then one gather back to the order rows came in:
        a C-level pass instead of a Python one per cell, and absent cells are never
        visited (runs of nulls are appended whole)."""
        fields: list[Any]
        if n <= _SMALL_BATCH:  # many small columns: one Arrow conversion for all of them
            cols = _expanded(cols)
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
                pa.array(repeat(self.label, n), pa.string(), size=n),
                pa.array(positions, pa.int64()),
                *arrays[6:],
            ],
            names=[*schema.CORE_COLUMNS, *grouped.schema.names[6:]],
        )


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
            dense = pa.array(_texts(values, types), pa.string())
        arrays.append(_placed(dense, col, n))
    return arrays, cols


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


def batch_rows_of(rows: Iterable[tuple[dict[Any, Any], int]], label: str) -> pa.RecordBatch:
    """Convenience for tests and small callers: one batch from (row, position) pairs."""
    builder = BatchBuilder(label)
    for row, position in rows:
        builder.add(row, position)
    batch = builder.flush()
    if batch is None:
        return pa.RecordBatch.from_pylist([], schema=schema.CORE_SCHEMA)
    return batch
