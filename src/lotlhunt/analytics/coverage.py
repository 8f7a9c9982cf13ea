"""What each rule needs and whether it can run: the data behind ``lotlhunt rules``.

For every rule file under the given paths: whether each rule loads (and why not), the
logsource, the channels and event ids it reads, and, given a case, whether the case holds
any event the rule could ever see. A hunter learns before hunting which rules are blind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..engines import DEFAULT_ENGINE, create_engine
from ..engines.base import Engine
from ..engines.planning import rule_variant
from ..rules.logsources import Variant, narrowed
from ..rules.model import CompiledRule, RuleSet


@dataclass(frozen=True)
class RuleStatus:
    """One line of the rule report."""

    rule: str  # title (id)
    path: str
    state: str  # "ok", "failed", "not applicable", "correlation"
    reason: str = ""
    level: str = ""
    status: str = ""
    tags: tuple[str, ...] = ()
    logsource: str = ""
    needs: str = ""  # channels and event ids
    #: With a case: rows of the case the rule could see (None: no case given).
    events_in_case: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "path": self.path,
            "state": self.state,
            "reason": self.reason,
            "level": self.level,
            "status": self.status,
            "tags": list(self.tags),
            "logsource": self.logsource,
            "needs": self.needs,
            "events_in_case": self.events_in_case,
        }


def describe_logsource(logsource: tuple[str | None, str | None, str | None]) -> str:
    return "/".join(part for part in logsource if part) or "any"


def describe_needs(rule: CompiledRule) -> str:
    """The channels and event ids the rule reads: its logsource's, narrowed to the event
    ids its detection names (``service: security`` with ``EventID: 4697``: Security 4697)."""
    parts = []
    if rule.by_channel:
        ids = f" {', '.join(map(str, sorted(rule.event_ids)))}" if rule.event_ids else ""
        return f"the channels its Channel condition names{ids}"
    for v in _variants(rule, lambda v: narrowed(v, rule.event_ids)):
        chans = ", ".join(v.channels) or "any channel"
        ids = f" {', '.join(map(str, v.event_ids))}" if v.event_ids else ""
        parts.append(f"{chans}{ids}")
    return "; ".join(parts) or "no event: the event ids it names are outside its logsource"


def case_counts(engine: Engine, rules: Sequence[CompiledRule]) -> dict[int, int]:
    """For each rule: how many events of the case fall in its slices (one query per slice)."""
    per_slice: dict[tuple[object, ...], int] = {}
    out: dict[int, int] = {}
    eventid_field = engine.has_field("EventID")
    for i, rule in enumerate(rules):
        total = 0
        for v in _variants(rule, partial(_narrow, rule=rule, eventid_field=eventid_field)):
            if v.key not in per_slice:
                per_slice[v.key] = engine.slice_size(v)
            total += per_slice[v.key]
        out[i] = total
    return out


def _narrow(variant: Variant, rule: CompiledRule, eventid_field: bool) -> Variant | None:
    return rule_variant(variant, rule, eventid_field)


def _variants(rule: CompiledRule, narrow: Callable[[Variant], Variant | None]) -> list[Variant]:
    """The rule's variants as ``narrow`` makes them, without those it can never match."""
    return [n for n in map(narrow, rule.variants) if n is not None]


def rule_statuses(
    ruleset: RuleSet, case: str | Path | None = None, engine_name: str = DEFAULT_ENGINE
) -> list[RuleStatus]:
    """Every rule of ``ruleset`` with its state, needs and (given a case) its food."""
    counts: dict[int, int] = {}
    if case is not None:
        engine = create_engine(engine_name, case)
        try:
            counts = case_counts(engine, ruleset.rules)
        finally:
            engine.close()
    out = [
        RuleStatus(
            rule=f"{r.title} ({r.id})",
            path=r.path,
            state="ok",
            reason="; ".join(r.warnings),
            level=r.level,
            status=r.status,
            tags=r.tags,
            logsource=describe_logsource(r.logsource),
            needs=describe_needs(r),
            events_in_case=counts.get(i) if case is not None else None,
        )
        for i, r in enumerate(ruleset.rules)
    ]
    for issue in ruleset.failed:
        label, _, reason = issue.message.partition(": ")
        out.append(RuleStatus(rule=label, path=issue.path, state="failed", reason=reason))
    for label, reason in ruleset.not_applicable:
        out.append(RuleStatus(rule=label, path="", state="not applicable", reason=reason))
    for corr, path in ruleset.correlations:
        refs = ", ".join(str(r.reference) for r in corr.rules or ())
        out.append(
            RuleStatus(
                rule=f"{corr.title} ({corr.id})",
                path=path,
                state="correlation",
                level=corr.level.name.lower() if corr.level else "",
                reason=f"{corr.type.name.lower()} over {refs}",
            )
        )
    return out


def select(
    statuses: Iterable[RuleStatus],
    levels: Sequence[str] = (),
    status: Sequence[str] = (),
    tags: Sequence[str] = (),
    logsource: str | None = None,
) -> list[RuleStatus]:
    """Filter for ``rules list``: any of the levels, statuses, tag prefixes; logsource part."""
    out = []
    for s in statuses:
        if levels and s.level not in levels:
            continue
        if status and s.status not in status:
            continue
        if tags and not any(t.lower().startswith(p.lower()) for t in s.tags for p in tags):
            continue
        if logsource and logsource.lower() not in s.logsource.lower():
            continue
        out.append(s)
    return out
