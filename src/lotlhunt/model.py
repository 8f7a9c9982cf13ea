"""Domain objects a hunt produces: detections, counts, and the result that carries both."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .errors import InputIssue

LEVELS: tuple[str, ...] = ("critical", "high", "medium", "low", "informational")
LEVEL_RANK: dict[str, int] = {name: len(LEVELS) - i for i, name in enumerate(LEVELS)}


@dataclass(frozen=True)
class Detection:
    """One rule matching one event, with the event's identity and the fields the rule read."""

    rule_id: str
    rule_title: str
    level: str
    tags: tuple[str, ...]
    timestamp: datetime | None
    host: str | None
    channel: str | None
    event_id: int | None
    record_id: int | None
    source: str | None
    position: int | None
    fields: dict[str, str | None]
    #: Names of the rule's selections that hold on this event: why it matched.
    matched: tuple[str, ...] = ()
    #: The event's key fields (``data/key_fields.yaml``): what it is about, whatever
    #: fields the rule read (a logon's account, address and type).
    details: dict[str, str | None] = field(default_factory=dict)
    #: The event's provider (``Microsoft-Windows-Security-Auditing``), when known.
    provider: str | None = None
    #: The event's row in the engine's events table (not reported: it is not stable
    #: between hunts), for analytics that read more of the event.
    row: int | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, object]:
        """The JSON form: stable keys, ISO 8601 UTC time."""
        return {
            "rule_id": self.rule_id,
            "rule_title": self.rule_title,
            "level": self.level,
            "tags": list(self.tags),
            "timestamp": iso(self.timestamp),
            "host": self.host,
            "channel": self.channel,
            "event_id": self.event_id,
            "record_id": self.record_id,
            "source": self.source,
            "position": self.position,
            "fields": self.fields,
            "matched": list(self.matched),
            "details": self.details,
            "provider": self.provider,
        }


@dataclass(frozen=True)
class EventRef:
    """Where one event of a correlation is: enough to find it in the logs again."""

    timestamp: datetime | None
    host: str | None
    channel: str | None
    event_id: int | None
    record_id: int | None
    source: str | None
    #: Where the record is inside ``source`` (the reader's position), when known.
    position: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "timestamp": iso(self.timestamp),
            "host": self.host,
            "channel": self.channel,
            "event_id": self.event_id,
            "record_id": self.record_id,
            "source": self.source,
            "position": self.position,
        }


@dataclass(frozen=True)
class CorrelationDetection:
    """A Sigma correlation rule firing: its group, time span, value and the events."""

    rule_id: str
    rule_title: str
    level: str
    tags: tuple[str, ...]
    kind: str
    group: dict[str, str | None]
    first: datetime
    last: datetime
    value: float | int
    host: str | None
    events: tuple[EventRef, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "type": "correlation",
            "rule_id": self.rule_id,
            "rule_title": self.rule_title,
            "level": self.level,
            "tags": list(self.tags),
            "timestamp": iso(self.first),
            "host": self.host,
            "correlation": {
                "kind": self.kind,
                "group": self.group,
                "first": iso(self.first),
                "last": iso(self.last),
                "value": self.value,
                "events": [e.to_dict() for e in self.events],
            },
        }


class SignalKind(StrEnum):
    """Where a signal comes from: a rule that matched, or a baseline an event broke."""

    DETECTION = "detection"
    BEHAVIOUR = "behaviour"


class Severity(StrEnum):
    """An incident's severity, from its score (see :mod:`lotlhunt.analytics.incidents`)."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Signal:
    """One piece of evidence: a detection or a behaviour signal, with the events it cites.

    ``why`` is one sentence with the numbers ("first logon of HARBOR\\x to dc01 from
    10.10.50.14 in 3 days; this account had used 2 hosts before"), so no claim stands
    without its reason.
    """

    kind: SignalKind
    name: str
    level: str
    why: str
    events: tuple[EventRef, ...]
    rule_id: str | None = None
    tags: tuple[str, ...] = ()
    host: str | None = None
    account: str | None = None
    timestamp: datetime | None = None
    #: Logon sessions, process ids/guids, source addresses the signal's events carry:
    #: what incidents chain signals through.
    keys: tuple[tuple[str, str], ...] = ()
    #: The move from one host to another this signal shows, if it shows one.
    edge: LateralEdge | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": str(self.kind),
            "name": self.name,
            "rule_id": self.rule_id,
            "level": self.level,
            "why": self.why,
            "tags": list(self.tags),
            "host": self.host,
            "account": self.account,
            "timestamp": iso(self.timestamp),
            "events": [e.to_dict() for e in self.events],
        }
        if self.edge is not None:
            out["edge"] = self.edge.to_dict()
        return out


@dataclass(frozen=True)
class LateralEdge:
    """The intruder moving from one host to another: who, how, and first when."""

    source: str
    target: str
    account: str | None
    method: str  # rdp, smb, wmi, winrm, service, scheduled_task, logon
    first: datetime | None

    def to_dict(self) -> dict[str, object]:
        return {
            "from": self.source,
            "to": self.target,
            "account": self.account,
            "method": self.method,
            "first": iso(self.first),
        }


@dataclass(frozen=True)
class ScoreReason:
    """One part of an incident's score and what earned it."""

    points: float
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"points": round(self.points, 1), "reason": self.reason}


@dataclass(frozen=True)
class PlaybookMatch:
    """A known actor's playbook an incident resembles, with the overlap named."""

    actor: str
    techniques: tuple[str, ...]
    share: float

    def to_dict(self) -> dict[str, object]:
        return {
            "actor": self.actor,
            "techniques": list(self.techniques),
            "share": round(self.share, 3),
        }


@dataclass(frozen=True)
class Incident:
    """Signals chained into one story: hosts in the order reached, who, how, and why."""

    id: str
    score: float
    severity: Severity
    summary: str
    hosts: tuple[str, ...]
    entry_host: str | None
    accounts: tuple[str, ...]
    first: datetime | None
    last: datetime | None
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    edges: tuple[LateralEdge, ...]
    playbooks: tuple[PlaybookMatch, ...]
    signals: tuple[Signal, ...]
    reasons: tuple[ScoreReason, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "score": round(self.score, 1),
            "severity": str(self.severity),
            "summary": self.summary,
            "hosts": list(self.hosts),
            "entry_host": self.entry_host,
            "accounts": list(self.accounts),
            "first": iso(self.first),
            "last": iso(self.last),
            "tactics": list(self.tactics),
            "techniques": list(self.techniques),
            "edges": [e.to_dict() for e in self.edges],
            "playbooks": [p.to_dict() for p in self.playbooks],
            "reasons": [r.to_dict() for r in self.reasons],
            "signals": [s.to_dict() for s in self.signals],
        }


def detection_values(detections: Sequence[Detection], attr: str) -> list[Any]:
    """Attribute ``attr`` of every detection, in order. Detections kept as columns
    (:class:`lotlhunt.detections.DetectionTable`) read it from their columns without
    building an object per detection."""
    values_of = getattr(detections, "values_of", None)
    if values_of is not None:
        return list(values_of(attr))
    return [getattr(d, attr) for d in detections]


def detection_dicts(detections: Sequence[Detection]) -> Iterator[dict[str, object]]:
    """:meth:`Detection.to_dict` of every detection, in order (from the columns of
    detections kept as columns)."""
    dicts = getattr(detections, "dicts", None)
    if dicts is not None:
        yield from dicts()
        return
    for d in detections:
        yield d.to_dict()


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, microseconds kept."""
    if ts is None:
        return None
    text = ts.isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


@dataclass
class HuntStats:
    """The totals a hunt reports; ``records + records_failed`` is everything read."""

    files: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    records: int = 0
    records_failed: int = 0
    #: Records read but outside the hunt's ``--from``/``--to``/``--host``/``--event-id``.
    records_out_of_scope: int = 0
    rules_loaded: int = 0
    rules_failed: int = 0
    rules_not_applicable: int = 0
    detections: int = 0
    correlations: int = 0
    seconds: float = 0.0
    #: Wall time per phase (rules, read, hunt, collect), for benchmarks and the curious.
    phases: dict[str, float] = field(default_factory=dict)
    #: What the engine had to do that the user should know (a raised memory limit).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "files_failed": self.files_failed,
            "files_skipped": self.files_skipped,
            "records": self.records,
            "records_failed": self.records_failed,
            "records_out_of_scope": self.records_out_of_scope,
            "rules_loaded": self.rules_loaded,
            "rules_failed": self.rules_failed,
            "rules_not_applicable": self.rules_not_applicable,
            "detections": self.detections,
            "correlations": self.correlations,
            "seconds": round(self.seconds, 3),
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class SuppressedRule:
    """A rule whose detections were set aside because they flooded the hunt."""

    rule_id: str
    rule_title: str
    level: str
    detections: int
    reason: str


@dataclass
class HuntResult:
    """Everything a hunt found and everything it could not read or run."""

    stats: HuntStats
    #: A list, or (from a hunt) a :class:`lotlhunt.detections.DetectionTable`: the same
    #: detections kept as columns, built as objects when first iterated.
    detections: Sequence[Detection] = field(default_factory=list)
    correlations: list[CorrelationDetection] = field(default_factory=list)
    #: Behaviour signals: events that broke the baseline the same logs provide.
    behaviours: list[Signal] = field(default_factory=list)
    #: Detections and behaviour signals chained into stories, best first.
    incidents: list[Incident] = field(default_factory=list)
    input_issues: list[InputIssue] = field(default_factory=list)
    rule_issues: list[InputIssue] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: Rules whose detections were set aside (``--exclude-noisy``), with their counts.
    suppressed: list[SuppressedRule] = field(default_factory=list)

    @property
    def issues(self) -> int:
        return len(self.input_issues) + len(self.rule_issues)
