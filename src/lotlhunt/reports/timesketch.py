"""A timeline Timesketch imports as it is: JSON lines, or CSV when the file ends ``.csv``.

Timesketch's import documentation names three mandatory fields: ``message`` (what
happened), ``datetime`` (ISO 8601, e.g. ``2015-07-24T19:01:01+00:00``) and
``timestamp_desc`` (which time it is); ``timestamp``, when present, is microseconds
since the epoch, and any other field is kept as an attribute. Field names are made
safe for the search index underneath (no leading ``_``, no ``.``: a name ``a.b`` beside
``a`` is a mapping conflict that loses the event) and never shadow the fields above.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from .._support.text import spreadsheet_safe
from ..model import Detection, HuntResult, Signal
from .attack import technique_ids
from .common import IncidentIndex, details_text, in_time_order

TIMESTAMP_DESC = "Event Logged"
NO_TIME_DESC = "No Time In Event"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Fields this report writes itself; an event field of the same name gets ``event_``.
OWN_FIELDS = (
    "message",
    "datetime",
    "timestamp",
    "timestamp_desc",
    "computer_name",
    "channel",
    "provider",
    "event_id",
    "record_id",
    "source_file",
    "rule_title",
    "rule_id",
    "rule_level",
    "rule_tags",
    "mitre_techniques",
    "matched",
    "incident_id",
    "data_type",
    "why",
    "account",
)
_OWN = frozenset(OWN_FIELDS)
#: Names the search index or Timesketch keep for themselves.
_RESERVED = frozenset({"tag", "label", "__ts_timeline_id", "_id", "_index", "_source"})


def write_timesketch(result: HuntResult, path: Path) -> None:
    """One row per detection, then one per behaviour signal (a baseline an event broke),
    each in time order; CSV when ``path`` ends ``.csv``."""
    rows = [_row(d, incident) for d, incident in _with_incidents(result)]
    index = IncidentIndex.of_result(result)
    rows += [_behaviour_row(s, index) for s in sorted(result.behaviours, key=_signal_time)]
    if path.suffix.lower() == ".csv":
        _write_csv(rows, path)
        return
    with path.open("wb") as out:
        for row in rows:
            try:
                out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
            except TypeError:  # a lone surrogate: written escaped, never lost
                out.write((json.dumps(row, ensure_ascii=True) + "\n").encode("ascii"))


def _with_incidents(result: HuntResult) -> list[tuple[Detection, str | None]]:
    index = IncidentIndex.of_result(result)
    return [(d, index.of(d)) for d in in_time_order(result.detections)]


def field_name(name: str) -> str:
    """An event field's name as a Timesketch attribute."""
    safe = name.replace(".", "_").strip() or "field"
    if safe.startswith("_"):
        safe = "field" + safe
    if safe in _OWN or safe.lower() in _RESERVED:
        safe = "event_" + safe
    return safe


def _row(d: Detection, incident: str | None) -> dict[str, object]:
    # An event without a time is kept, at the epoch, and its timestamp_desc says so.
    ts = d.timestamp or _EPOCH
    micros = (ts - _EPOCH) // timedelta(microseconds=1)
    details = details_text(d)
    row: dict[str, object] = {
        "message": f"[{d.level}] {d.rule_title} on {d.host or '?'}"
        + (f": {details}" if details else ""),
        "datetime": ts.astimezone(UTC).isoformat(timespec="microseconds"),
        "timestamp": micros,
        "timestamp_desc": TIMESTAMP_DESC if d.timestamp else NO_TIME_DESC,
        "data_type": "lotlhunt:detection",
        "computer_name": d.host or "",
        "channel": d.channel or "",
        "provider": d.provider or "",
        "source_file": d.source or "",
        "rule_title": d.rule_title,
        "rule_id": d.rule_id,
        "rule_level": d.level,
        "rule_tags": list(d.tags),
        "mitre_techniques": list(technique_ids(d.tags)),
        "matched": list(d.matched),
        "incident_id": incident or "",
    }
    # Numbers stay numbers; an unknown one is left out, not written as text.
    if d.event_id is not None:
        row["event_id"] = d.event_id
    if d.record_id is not None:
        row["record_id"] = d.record_id
    for name, value in (*d.details.items(), *d.fields.items()):
        if value is not None:
            row.setdefault(field_name(name), value)
    return row


def _signal_time(s: Signal) -> tuple[bool, datetime]:
    return (s.timestamp is None, s.timestamp or _EPOCH)


def _behaviour_row(s: Signal, index: IncidentIndex) -> dict[str, object]:
    """A behaviour signal: what broke which baseline, and why, with its first event."""
    ts = s.timestamp or _EPOCH
    first = s.events[0] if s.events else None
    incident = index.of_ref(first) if first is not None else None
    row: dict[str, object] = {
        "message": f"[{s.level}] {s.name} on {s.host or '?'}: {s.why}",
        "datetime": ts.astimezone(UTC).isoformat(timespec="microseconds"),
        "timestamp": (ts - _EPOCH) // timedelta(microseconds=1),
        "timestamp_desc": TIMESTAMP_DESC if s.timestamp else NO_TIME_DESC,
        "data_type": "lotlhunt:behaviour",
        "computer_name": s.host or "",
        "rule_title": s.name,
        "rule_level": s.level,
        "rule_tags": list(s.tags),
        "mitre_techniques": list(technique_ids(s.tags)),
        "incident_id": incident or "",
        "why": s.why,
        "account": s.account or "",
    }
    if first is not None:
        row["channel"] = first.channel or ""
        row["source_file"] = first.source or ""
        if first.event_id is not None:
            row["event_id"] = first.event_id
        if first.record_id is not None:
            row["record_id"] = first.record_id
    return row


def _write_csv(rows: list[dict[str, object]], path: Path) -> None:
    columns = list(OWN_FIELDS)
    extra = sorted({k for row in rows for k in row} - _OWN)
    with path.open("w", encoding="utf-8", errors="backslashreplace", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns + extra)
        for row in rows:
            cells: list[object] = []
            for name in columns + extra:
                value = row.get(name, "")
                if isinstance(value, list):
                    value = ", ".join(str(v) for v in value)
                cells.append(value if isinstance(value, int) else spreadsheet_safe(value))
            writer.writerow(cells)
