"""What a hunt or a search looks at: which events (time, host, event id) and which rules.

An :class:`EventScope` is applied twice, with the same meaning: to the readers' Arrow
batches before they reach the engine (rows outside it are never stored, so a narrow scope
saves the insert, the memory and every later scan), and by the engine on a case that was
read earlier (:meth:`lotlhunt.engines.base.Engine.restrict`). Host globs become
RE2 patterns on both sides, so Arrow and DuckDB agree on what matches.

A :class:`RuleScope` chooses rules by level and tag, as ``rules list`` does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from .errors import UsageError
from .events import schema
from .model import LEVEL_RANK, LEVELS

if TYPE_CHECKING:
    from .rules.model import CompiledRule, RuleSet

#: Units of a relative time (``7d``, ``12h``): how far back from now.
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A ``--from``/``--to`` value as an aware UTC time.

    ISO 8601 (``2026-03-01``, ``2026-03-01T10:00``, with or without a zone; no zone means
    UTC), or a span back from now: ``30m``, ``12h``, ``7d``, ``2w``.
    """
    m = _RELATIVE.match(text)
    if m:
        now = now or datetime.now(UTC)
        return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2).lower()])
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(candidate)
    except ValueError:
        raise UsageError(
            f"not a time: {text!r} (give ISO 8601 such as 2026-03-01T10:00Z, or 12h, 7d)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def glob_regex(pattern: str) -> str:
    """An RE2 pattern matching what the host glob matches, whatever the case: ``*`` any
    run of characters, ``?`` one character, everything else itself."""
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return "(?is)^" + "".join(parts) + "$"


@dataclass(frozen=True)
class EventScope:
    """The events to keep: within ``[since, until)``, on a host matching one of
    ``hosts`` (globs), with one of ``event_ids``. Empty parts keep everything."""

    since: datetime | None = None
    until: datetime | None = None
    hosts: tuple[str, ...] = ()
    event_ids: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise UsageError(
                f"--from {self.since.isoformat()} is not before --to {self.until.isoformat()}"
            )

    @classmethod
    def parse(
        cls,
        since: str | None = None,
        until: str | None = None,
        hosts: Iterable[str] = (),
        event_ids: Iterable[int] = (),
        now: datetime | None = None,
    ) -> EventScope:
        """A scope from command-line text (see :func:`parse_when`)."""
        now = now or datetime.now(UTC)
        return cls(
            since=parse_when(since, now) if since else None,
            until=parse_when(until, now) if until else None,
            hosts=tuple(h for h in hosts if h),
            event_ids=frozenset(int(i) for i in event_ids),
        )

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.hosts or self.event_ids)

    def host_regex(self) -> str | None:
        """One RE2 pattern for all host globs, or None when hosts are not limited."""
        if not self.hosts:
            return None
        return "|".join(f"(?:{glob_regex(h)})" for h in self.hosts)

    def mask(self, batch: pa.RecordBatch | pa.Table) -> pa.Array | None:
        """Which rows of a reader's batch are in scope (None: all of them). A row
        lacking the value a part tests (no time, no host) is out of that part's scope."""
        conds: list[pa.Array] = []
        names = set(batch.schema.names)
        n = batch.num_rows
        if self.since or self.until:
            if schema.TIMESTAMP not in names:
                return pa.array([False] * n, pa.bool_())
            ts = batch.column(schema.TIMESTAMP)
            if self.since:
                conds.append(pc.greater_equal(ts, pa.scalar(self.since, ts.type)))
            if self.until:
                conds.append(pc.less(ts, pa.scalar(self.until, ts.type)))
        pattern = self.host_regex()
        if pattern is not None:
            if schema.HOST not in names:
                return pa.array([False] * n, pa.bool_())
            conds.append(pc.match_substring_regex(batch.column(schema.HOST), pattern))
        if self.event_ids:
            if schema.EVENT_ID not in names:
                return pa.array([False] * n, pa.bool_())
            ids = batch.column(schema.EVENT_ID)
            conds.append(pc.is_in(ids, pa.array(sorted(self.event_ids), ids.type)))
        if not conds:
            return None
        keep = conds[0]
        for c in conds[1:]:
            keep = pc.and_kleene(keep, c)
        return pc.fill_null(keep, False)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The rows of ``batch`` in scope (the batch itself when all are)."""
        keep = self.mask(batch)
        if keep is None:
            return batch
        if pc.all(keep).as_py():
            return batch
        return batch.filter(keep)

    def describe(self) -> str:
        parts = []
        if self.since:
            parts.append(f"from {self.since:%Y-%m-%dT%H:%M:%SZ}")
        if self.until:
            parts.append(f"to {self.until:%Y-%m-%dT%H:%M:%SZ}")
        if self.hosts:
            parts.append("host " + " or ".join(self.hosts))
        if self.event_ids:
            parts.append("event id " + ", ".join(map(str, sorted(self.event_ids))))
        return "; ".join(parts) or "all events"


@dataclass(frozen=True)
class RuleScope:
    """Rules to report: at least ``min_level``, with a tag starting with one of ``tags``
    (``attack.t1003`` also takes ``attack.t1003.001``). Empty parts keep every rule."""

    min_level: str | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.min_level is not None and self.min_level not in LEVEL_RANK:
            raise UsageError(f"unknown level {self.min_level!r}: one of {', '.join(LEVELS)}")

    @property
    def active(self) -> bool:
        return bool(self.min_level or self.tags)

    def admits(self, level: str | None, tags: Sequence[str]) -> bool:
        if self.min_level and LEVEL_RANK.get(level or "", 0) < LEVEL_RANK[self.min_level]:
            return False
        if self.tags:
            wanted = [p.lower() for p in self.tags]
            return any(t.lower().startswith(p) for t in tags for p in wanted)
        return True


def _ref_key(ref: str) -> str:
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        return ref


def scoped_rules(ruleset: RuleSet, scope: RuleScope) -> tuple[RuleSet, frozenset[int]]:
    """The rules of ``ruleset`` a hunt in ``scope`` runs, and (as indices into them) the
    ones that run only to feed a correlation and are not reported themselves.

    Rules outside the scope are not run at all, which is where the time goes; every
    correlation still runs with all its base rules, and its own hits are kept or dropped
    by its own level and tags.
    """
    if not scope.active:
        return ruleset, frozenset()
    referenced: set[str] = set()
    for corr, _path in ruleset.correlations:
        for ref in corr.rules or ():
            referenced.add(_ref_key(ref.reference))
    kept: list[CompiledRule] = []
    quiet: set[int] = set()
    for rule in ruleset.rules:
        wanted = scope.admits(rule.level, rule.tags)
        feeds = _ref_key(rule.id) in referenced or (rule.name or "") in referenced
        if wanted or feeds:
            if not wanted:
                quiet.add(len(kept))
            kept.append(rule)
    return replace(ruleset, rules=kept), frozenset(quiet)
