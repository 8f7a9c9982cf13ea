"""Sigma correlation rules, evaluated by the engine over the detections of a hunt.

A correlation refers to other rules (by id or name) and fires when their detections, taken
per group (``group-by``) and within ``timespan``, satisfy its condition. Base rules run
first (:meth:`Engine.evaluate`); this module turns their matches into occurrences
(time, group, value), evaluates each correlation with window functions over them, and
reports one :class:`CorrelationHit` per group and *episode*.

Semantics chosen (the specification leaves them open; the DuckDB engine's
``correlation_sql`` writes them in SQL):

* Windows slide and are closed: events exactly ``timespan`` apart fall in one window.
  The condition is evaluated on the window ending at each occurrence.
* Overlapping (or touching) firing windows of one group merge into one episode, reported
  once with its first and last event, the events of every window that fired, and the
  peak value (the maximum; the minimum for lt/lte conditions).
* Group-by values and value_count values compare without regard to case, as Windows
  names and Sigma matching do (``case_sensitive=True`` compares them exactly). Events
  lacking a group-by field form a group of their own (value ``None``); events lacking
  the value field are not counted as a value; events without a timestamp are left out.
* temporal: every referenced rule (or the extended ``a and not b`` condition) within the
  window; temporal_ordered: a chain in the listed order (equal times count as in order).
* Chaining: a correlation may refer to another; each time the inner one fired counts as
  an occurrence at that time, with the inner group values (so the outer group-by must be
  among them) and the inner episode's events as its events.
* ``generate: false`` (the default) keeps referenced rules quiet: base rules referenced
  only by such correlations are returned in ``suppressed``, and hits of correlations
  referenced only by such correlations are not reported. A correlation that cannot run
  suppresses nothing, so no detection disappears because of a broken correlation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import pyarrow as pa

from ..engines.base import CannotRun, CorrelationPlan, CorrelationSource, Engine
from ..errors import InputIssue
from ..model import LEVEL_RANK
from ..rules.model import RuleSet

if TYPE_CHECKING:  # pySigma is imported when a correlation is evaluated, not before
    from sigma.correlations import (
        CorrelationConditionItem,
        SigmaCorrelationConditionOperator,
        SigmaCorrelationRule,
        SigmaRuleReference,
    )

#: Types whose value is a count (reported as int); the value_* aggregates are floats.
INTEGER_VALUED = {"event_count", "value_count", "temporal", "temporal_ordered"}
VALUE_TYPES = {"value_count", "value_sum", "value_avg", "value_median", "value_percentile"}


@dataclass(frozen=True)
class CorrelationHit:
    """One correlation firing: one group, one episode of overlapping windows."""

    rule_id: str
    title: str
    level: str
    tags: tuple[str, ...]
    kind: str
    group: dict[str, str | None]
    first: datetime
    last: datetime
    value: float | int
    rids: tuple[int, ...]


@dataclass
class CorrelationResult:
    """Hits, correlations that could not run (with why), and base rules to keep quiet."""

    hits: list[CorrelationHit] = field(default_factory=list)
    failed: list[InputIssue] = field(default_factory=list)
    suppressed: set[int] = field(default_factory=set)


def _key(ref: str) -> str:
    try:
        return str(UUID(ref))
    except ValueError:
        return ref


def _label(rule: SigmaCorrelationRule) -> str:
    return f"{rule.title or '?'} ({rule.id or rule.name or 'no id'})"


class _Resolver:
    """Finds what a reference names: a compiled base rule, a correlation, or nothing."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.base: dict[str, int] = {}
        self.corr: dict[str, int] = {}
        for i, r in enumerate(ruleset.rules):
            for k in (_key(r.id), r.name):
                if k:
                    self.base.setdefault(k, i)
        for i, (c, _) in enumerate(ruleset.correlations):
            for k in (str(c.id) if c.id else None, c.name):
                if k:
                    self.corr.setdefault(k, i)

    def resolve(self, ref: str) -> tuple[int | None, int | None]:
        key = _key(ref)
        if key in self.base:
            return self.base[key], None
        if key in self.corr:
            return None, self.corr[key]
        for issue in self.ruleset.failed:
            if ref in issue.message:
                raise CannotRun(f"referenced rule {ref!r} did not load: {issue.message}")
        for label, reason in self.ruleset.not_applicable:
            if ref in label:
                raise CannotRun(f"referenced rule {ref!r} does not apply here: {reason}")
        raise CannotRun(f"unknown rule reference {ref!r}")


def _references(rule: SigmaCorrelationRule) -> list[str]:
    from sigma.correlations import SigmaExtendedCorrelationCondition

    if rule.rules is not None:
        return [r.reference for r in rule.rules]
    if isinstance(rule.condition, SigmaExtendedCorrelationCondition):
        return rule.condition.get_referenced_rules()
    return []


def _field_for(
    rule: SigmaCorrelationRule, name: str, src: CorrelationSource, res: _Resolver
) -> str:
    """The event field ``name`` means for one referenced rule, after the rule's aliases."""
    aliases = rule.aliases.aliases
    alias = aliases.get(name) or next(
        (a for n, a in aliases.items() if n.lower() == name.lower()), None
    )
    if alias is None:
        return name
    target = (src.base, src.corr)
    for ref, fieldname in alias.mapping.items():
        if ref.reference == src.ref:
            return fieldname
        try:
            if res.resolve(ref.reference) == target:  # named by id where rules uses the name
                return fieldname
        except CannotRun:
            continue
    raise CannotRun(f"alias {name!r} names no field for rule {src.ref!r}")


def _plan(index: int, rule: SigmaCorrelationRule, path: str, res: _Resolver) -> CorrelationPlan:
    from sigma.correlations import SigmaCorrelationCondition

    if rule.errors:
        raise CannotRun("; ".join(str(e) for e in rule.errors))
    kind = rule.type.name.lower()
    refs = _references(rule)
    if not refs:
        raise CannotRun("refers to no rules")
    group_by = list(rule.group_by or [])
    cond = rule.condition
    value_names: list[str] = []
    if kind in VALUE_TYPES:
        assert isinstance(cond, SigmaCorrelationCondition)
        ref = cond.fieldref
        value_names = [ref] if isinstance(ref, str) else list(ref or [])
        if len(value_names) != 1 and kind != "value_count":
            raise CannotRun(f"{kind} needs exactly one field, got {value_names}")
        if kind == "value_percentile" and not 0 <= (cond.percentile or -1) <= 100:
            raise CannotRun("value_percentile needs a percentile between 0 and 100")
    if kind == "temporal_ordered":
        _check_ordered(cond, len(refs))
    sources = []
    for ref in refs:
        base, corr = res.resolve(ref)
        src = CorrelationSource(ref, base, corr)
        src.group_fields = [_field_for(rule, g, src, res) for g in group_by]
        src.value_fields = [_field_for(rule, v, src, res) for v in value_names]
        sources.append(src)
    return CorrelationPlan(
        index=index,
        rule=rule,
        path=path,
        rule_id=str(rule.id) if rule.id else f"{path}:{rule.title}",
        kind=kind,
        sources=sources,
        group_by=group_by,
        seconds=rule.timespan.seconds,
    )


def _check_ordered(cond: object, refs: int) -> None:
    """temporal_ordered means the whole sequence; other conditions have no clear order."""
    from sigma.correlations import SigmaCorrelationCondition, SigmaExtendedCorrelationCondition

    if isinstance(cond, SigmaExtendedCorrelationCondition):
        if not pure_conjunction(cond.parsed):
            raise CannotRun("temporal_ordered supports only 'and' of all its rules")
        return
    assert isinstance(cond, SigmaCorrelationCondition)
    if not holds(cond.op, cond.count, refs) or any(
        holds(cond.op, cond.count, k) for k in range(refs)
    ):
        raise CannotRun(
            f"temporal_ordered supports only the full sequence of its {refs} rules "
            f"(condition {cond.to_dict()} would accept part of it)"
        )


def _order(plans: dict[int, CorrelationPlan], failed: dict[int, str]) -> list[int]:
    """Correlations with the ones they refer to first; cycles and broken chains fail."""
    out: list[int] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(i: int, chain: tuple[int, ...]) -> None:
        if state.get(i) == 2 or i in failed:
            return
        if state.get(i) == 1:
            for j in chain[chain.index(i) :]:
                failed.setdefault(j, "correlation rules refer to each other in a cycle")
            return
        state[i] = 1
        for src in plans[i].sources:
            if src.corr is not None:
                visit(src.corr, (*chain, i))
                if src.corr in failed:
                    failed.setdefault(i, f"referenced correlation {src.ref!r} cannot run")
        state[i] = 2
        if i not in failed:
            out.append(i)

    for i in sorted(plans):
        visit(i, ())
    return [i for i in out if i not in failed]


def _metadata(plan: CorrelationPlan, plans: dict[int, CorrelationPlan], ruleset: RuleSet) -> None:
    """Level and tags: the correlation's own, else the strongest of what it refers to."""
    levels: list[str] = []
    tags: list[str] = []
    for src in plan.sources:
        if src.base is not None:
            levels.append(ruleset.rules[src.base].level)
            tags.extend(ruleset.rules[src.base].tags)
        elif src.corr is not None and src.corr in plans:
            levels.append(plans[src.corr].level)
            tags.extend(plans[src.corr].tags)
    own = plan.rule.level.name.lower() if plan.rule.level else None
    plan.level = own or max(levels, key=lambda lv: LEVEL_RANK.get(lv, 0), default="informational")
    own_tags = tuple(f"{t.namespace}.{t.name}" for t in plan.rule.tags)
    plan.tags = own_tags or tuple(dict.fromkeys(tags))


def holds(op: SigmaCorrelationConditionOperator, count: float, value: float) -> bool:
    """The condition evaluated in Python, to check which conditions a type supports."""
    return {
        "LT": value < count,
        "LTE": value <= count,
        "GT": value > count,
        "GTE": value >= count,
        "EQ": value == count,
        "NEQ": value != count,
    }[op.name]


def pure_conjunction(node: CorrelationConditionItem | SigmaRuleReference) -> bool:
    """Whether an extended condition is just ``a and b and ...`` (the plain meaning)."""
    from sigma.correlations import CorrelationConditionAND, SigmaRuleReference

    if isinstance(node, SigmaRuleReference):
        return True
    if isinstance(node, CorrelationConditionAND):
        return all(pure_conjunction(a) for a in node.args)
    return False


def evaluate_correlations(
    engine: Engine,
    ruleset: RuleSet,
    matches: pa.Table,
    case_sensitive: bool = False,
) -> CorrelationResult:
    """Evaluate every correlation in ``ruleset`` over ``matches`` (from ``engine.evaluate``).

    Never raises for a bad correlation: each one that cannot run is listed in ``failed``.
    """
    result = CorrelationResult()
    if not ruleset.correlations:
        return result
    res = _Resolver(ruleset)
    plans: dict[int, CorrelationPlan] = {}
    failed: dict[int, str] = {}
    for i, (rule, path) in enumerate(ruleset.correlations):
        try:
            plans[i] = _plan(i, rule, path, res)
        except CannotRun as exc:
            failed[i] = str(exc)
    order = _order(plans, failed)
    for i in order:
        _metadata(plans[i], plans, ruleset)
    run = engine.correlate(ruleset.rules, plans, order, matches, case_sensitive)
    failed.update(run.failed)
    reported = set(_settle(plans, run.ran, result))
    for i, reason in sorted(failed.items()):
        rule, path = ruleset.correlations[i]
        result.failed.append(InputIssue(path, None, f"{_label(rule)}: {reason}", "rule"))
    for episode in run.episodes:
        if episode.correlation not in reported:
            continue
        plan = plans[episode.correlation]
        value = episode.value
        result.hits.append(
            CorrelationHit(
                rule_id=plan.rule_id,
                title=plan.rule.title or plan.rule_id,
                level=plan.level,
                tags=plan.tags,
                kind=plan.kind,
                group=dict(zip(plan.group_by, episode.group_values, strict=True)),
                first=episode.first,
                last=episode.last,
                value=int(value) if plan.kind in INTEGER_VALUED else float(value),
                rids=episode.rids,
            )
        )
    return result


def _settle(
    plans: dict[int, CorrelationPlan], ran: list[int], result: CorrelationResult
) -> list[int]:
    """Apply ``generate``: which base rules go quiet, which correlations are reported.

    Only correlations that ran count, so a broken correlation hides nothing.
    """
    generates: dict[tuple[str, int], list[bool]] = {}
    for i in ran:
        plan = plans[i]
        for src in plan.sources:
            target = ("base", src.base) if src.base is not None else ("corr", src.corr)
            generates.setdefault(target, []).append(bool(plan.rule.generate))  # type: ignore[arg-type]
    result.suppressed = {
        idx for (kind, idx), gens in generates.items() if kind == "base" and not any(gens)
    }
    return [i for i in ran if any(generates.get(("corr", i), [True]))]
