"""Row shapes: how the keys of a row (in their order) map to core roles and field columns.

Rows of one kind of event have the same keys in the same order, so the mapping is worked
out once per shape (:func:`_new_plan`) and cached per process, as are the column keys of
raw field names (:func:`_key_info`).
"""

from __future__ import annotations

from typing import Any

from lotlhunt.events import schema

#: Internal row keys for core values found by a flavour mapping.
TS, HOST, CHANNEL, PROVIDER, EVENT_ID, RECORD_ID = range(6)

_SHAPE_CACHE_LIMIT = 8192
_KEY_CACHE_LIMIT = 1 << 16

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


class _Plan:
    """How one shape (tuple of row keys) maps to core roles and field columns."""

    __slots__ = ("core", "single", "multi")

    def __init__(self) -> None:
        self.core = [-1] * 6  # per role: index in the shape, or -1
        self.single: list[tuple[int, str]] = []  # (index, column key)
        self.multi: list[tuple[tuple[int, ...], str]] = []  # keys differing only by case


class PackedShape:
    """The keys of rows handed to the batch builder as their values alone.

    A reader that knows a row's keys before building it (EVTX: its EventData names, then
    the System fields in a fixed order) hands ``(shape, values)`` instead of a dict: no
    dict is filled and later taken apart again, and the builder groups rows by this
    object, whose hash is its identity, instead of hashing a tuple of every key per row.
    ``keys`` is what ``tuple(row)`` of the same row as a dict would be, so both kinds of
    row become the same columns.
    """

    __slots__ = ("keys",)

    def __init__(self, keys: tuple[Any, ...]) -> None:
        self.keys = keys


#: A row as its shape and values (see :class:`PackedShape`).
PackedRow = tuple[PackedShape, tuple[Any, ...]]

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
