"""Raw field values to what the events table stores: text, core integers, timestamps.

Values come from attacker-controlled records, so nothing here raises on an odd value: an
unparseable time or an out-of-range integer becomes NULL (the batch builder keeps the
original as text), and hostile nesting is cut at :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lotlhunt.events import schema

#: Nesting levels flattened into dotted / leaf names; deeper parts stay JSON text.
MAX_DEPTH = 32
_NONE = type(None)
_STR_OR_NONE = frozenset((str, _NONE))
_INT = frozenset((int,))
_INT_OR_NONE = frozenset((int, _NONE))
_TS_TYPE = schema.CORE_FIELDS[0].type
_NAIVE_TS = pa.timestamp("us")


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
