"""Domain objects a hunt produces: detections, counts, and the result that carries both."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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

    def to_dict(self) -> dict[str, object]:
        return {
            "timestamp": iso(self.timestamp),
            "host": self.host,
            "channel": self.channel,
            "event_id": self.event_id,
            "record_id": self.record_id,
            "source": self.source,
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
            "rules_loaded": self.rules_loaded,
            "rules_failed": self.rules_failed,
            "rules_not_applicable": self.rules_not_applicable,
            "detections": self.detections,
            "correlations": self.correlations,
            "seconds": round(self.seconds, 3),
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "notes": list(self.notes),
        }


@dataclass
class HuntResult:
    """Everything a hunt found and everything it could not read or run."""

    stats: HuntStats
    detections: list[Detection] = field(default_factory=list)
    correlations: list[CorrelationDetection] = field(default_factory=list)
    input_issues: list[InputIssue] = field(default_factory=list)
    rule_issues: list[InputIssue] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def issues(self) -> int:
        return len(self.input_issues) + len(self.rule_issues)
