"""Engine-neutral planning of an evaluation: which rules share a slice of events.

Any engine evaluating compiled rules over a wide events table gains from the same
plan: rules grouped by the slice of events their logsource covers (one slice built per
group, with exactly the columns its rules read), narrowed to the event ids the rules
name and the logs hold, with rules that can never match left out before anything is
scanned. What a slice is made of in SQL is each engine's business; which rules go
together is decided here, once, for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..rules.compile.dialect import ALL_TEXT_FIELD
from ..rules.logsources import Variant, narrowed
from ..rules.model import CompiledRule

#: A slice's rows by (lower-cased channel, event id; -1 when the event has none).
SliceKey = tuple[str, int]
#: A group of rules: the slice they run on and their indexes in the rule list.
RuleGroup = tuple[Variant, list[int]]


def rule_groups(rules: Sequence[CompiledRule], distinct_min_rules: int) -> list[RuleGroup]:
    """The rules of each slice: one group per variant (logsource), except that rules
    searching the whole event's text get a group of their own where the others are many
    enough for a distinct slice (``distinct_min_rules``). That column is nearly unique
    per row: one keyword rule among 1,459 process creation rules kept those scanning
    every event instead of their candidate rows. Among fewer rules the slice is not
    distinct anyway, and one slice costs less than two."""
    by_variant: dict[tuple[object, ...], RuleGroup] = {}
    for idx, rule in enumerate(rules):
        for v in rule.variants:
            by_variant.setdefault(v.key, (v, []))[1].append(idx)
    groups: list[RuleGroup] = []
    for variant, idxs in by_variant.values():
        keyword = [i for i in idxs if ALL_TEXT_FIELD in rules[i].fields]
        others = [i for i in idxs if ALL_TEXT_FIELD not in rules[i].fields]
        if keyword and len(others) >= distinct_min_rules:
            groups += [(variant, others), (variant, keyword)]
        else:
            groups.append((variant, idxs))
    return groups


def covers(variant: Variant, key: SliceKey) -> bool:
    """Whether rows with this (channel, event id) belong to the slice of ``variant``
    (the same test as the engine's slice filter, so an empty slice is never built)."""
    channel, event_id = key
    if variant.channels and channel not in {c.lower() for c in variant.channels}:
        return False
    return not variant.event_ids or event_id in variant.event_ids


def rule_variant(variant: Variant, rule: CompiledRule, eventid_field: bool) -> Variant | None:
    """The part of ``variant`` the rule can match: only the events its detection names
    (:func:`~lotlhunt.rules.logsources.narrowed`), unless an event field named
    ``EventID`` (``eventid_field``) stands for it here instead of the event's own id."""
    if rule.event_ids is None or eventid_field:
        return variant
    return narrowed(variant, rule.event_ids)


def by_event_ids(
    groups: list[RuleGroup],
    rules: Sequence[CompiledRule],
    present: Sequence[SliceKey],
    eventid_field: bool,
) -> tuple[list[RuleGroup], int]:
    """Each group's rules on the events they name, and how many rule runs need events
    the logs do not hold (not run at all).

    The rules of a group whose detections name their event ids share one slice of
    the ids among them the logs hold (``present``); the others keep the group's whole
    slice. Of SigmaHQ's 171 rules on the Security channel as a whole, 170 name their
    events: on a million simulated events their slice fell from 636 k events to the few
    kinds they name, and evaluation from 15-16 s to 11-14 s (same matches). One slice
    per set of ids was measured too: no faster there, slower on Mordor.
    """
    out: list[RuleGroup] = []
    unheld = 0
    for variant, idxs in groups:
        held = {key[1] for key in present if covers(variant, key)}
        named: list[int] = []
        ids: set[int] = set()
        whole: list[int] = []
        for i in idxs:
            part = rule_variant(variant, rules[i], eventid_field)
            if part is variant:
                whole.append(i)
                continue
            here = held.intersection(part.event_ids) if part else set()
            if here:
                named.append(i)
                ids |= here
            else:
                unheld += 1
        if named:
            out.append((narrowed(variant, ids) or variant, named))
        if whole:
            out.append((variant, whole))
    return out, unheld


def fields_read(rules: Sequence[CompiledRule], idxs: Iterable[int]) -> set[str]:
    """Every field the rules ``idxs`` read."""
    fields: set[str] = set()
    for i in idxs:
        fields |= rules[i].fields
    return fields


@dataclass(frozen=True)
class SliceColumns:
    """Which columns of a slice its readers need, by lower-cased field name: the field
    as it is, its lower-cased twin, its address twin. Computing a column no rule reads
    costs as much as one it does (the all-text column of a keyword rule is the whole
    event), and most rules compare lowered text only."""

    plain: frozenset[str] = frozenset()
    lower: frozenset[str] = frozenset()
    ip: frozenset[str] = frozenset()

    def __or__(self, other: SliceColumns) -> SliceColumns:
        return SliceColumns(self.plain | other.plain, self.lower | other.lower, self.ip | other.ip)


def slice_columns(
    rules: Sequence[CompiledRule],
    idxs: Iterable[int],
    plain: Iterable[str] = (),
    lower: Iterable[str] = (),
) -> SliceColumns:
    """The columns the rules ``idxs`` read (as the compiler recorded them), plus fields
    read as they are (``plain``) or lowered (``lower``) by something else."""
    out_plain = {f.lower() for f in plain}
    out_lower = {f.lower() for f in lower}
    out_ip: set[str] = set()
    for i in idxs:
        rule = rules[i]
        out_plain.update(f.lower() for f in rule.plain_fields)
        out_lower.update(f.lower() for f in rule.lower_fields)
        out_ip.update(f.lower() for f in rule.ip_fields)
    return SliceColumns(frozenset(out_plain), frozenset(out_lower), frozenset(out_ip))


def batched(idxs: Sequence[int], size: int) -> list[list[int]]:
    """``idxs`` in runs of ``size``, in order."""
    return [list(idxs[k : k + size]) for k in range(0, len(idxs), max(size, 1))]
