"""What several reports need from a result: detections in time order, the incident each
detection belongs to, a detection's key fields as one readable line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from ..model import Detection, EventRef, HuntResult, Incident, iso

EventKey = tuple[str | None, str | None, int | None]


def event_key(source: str | None, host: str | None, record_id: int | None) -> EventKey:
    """An event's identity across reports: its file and record id (a host's record
    ids repeat across its logs, a file's do not); the host stands in for a missing file."""
    return (source, None if source else host, record_id)


def in_time_order(detections: Iterable[Detection]) -> list[Detection]:
    """By time, then host, rule and record: the same order in every report."""
    return sorted(
        detections,
        key=lambda d: (iso(d.timestamp) or "", d.host or "", d.rule_title, d.record_id or 0),
    )


class IncidentIndex:
    """Which incident an event belongs to: the best-scored one whose signals cite it."""

    def __init__(self, incidents: Iterable[Incident]) -> None:
        self._by_event: dict[EventKey, str] = {}
        ranked = sorted(incidents, key=lambda i: -i.score)
        for incident in ranked:
            for signal in incident.signals:
                for ref in signal.events:
                    self._by_event.setdefault(_ref_key(ref), incident.id)

    def of(self, d: Detection) -> str | None:
        return self._by_event.get(event_key(d.source, d.host, d.record_id))

    def of_ref(self, ref: EventRef) -> str | None:
        return self._by_event.get(_ref_key(ref))

    @classmethod
    def of_result(cls, result: HuntResult) -> IncidentIndex:
        return cls(result.incidents)


def _ref_key(ref: EventRef) -> EventKey:
    return event_key(ref.source, ref.host, ref.record_id)


#: Values that say nothing: Windows writes "-" for an empty field.
_EMPTY = (None, "", "-")
_SPACES = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def one_line(text: str | None) -> str:
    """``text`` on one line: runs of control characters (newlines, tabs) become a space."""
    return _SPACES.sub(" ", text or "").strip()


def details_text(d: Detection, sep: str = " ¦ ") -> str:
    """The event's key fields (else the fields its rule read) as ``Name: value`` pairs."""
    shown = d.details or d.fields
    return sep.join(f"{k}: {one_line(v)}" for k, v in shown.items() if v not in _EMPTY)


def extra_text(d: Detection, sep: str = " ¦ ") -> str:
    """The fields the rule read that the key fields do not already show."""
    if not d.details:
        return ""
    return sep.join(
        f"{k}: {one_line(v)}"
        for k, v in sorted(d.fields.items())
        if k not in d.details and v not in _EMPTY
    )


def spreadsheet_time(ts: datetime | None) -> str:
    """``2026-02-23 01:25:49.302746 +00:00``: what Timeline Explorer sorts and filters."""
    if ts is None:
        return ""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f") + " +00:00"
