"""Why each detection matched: the fields its rule reads and the selections that held.

A detection shows the values of the fields its rule refers to and which of the rule's
named selections hold on the event. Both come from queries over the matched events only,
after evaluation, because a match is rare and evaluation should not carry their cost.

The engine reads them (:meth:`~lotlhunt.engines.base.Engine.explain`); this module
decides what to read. A selection is only evaluated when the match does not already
decide it: when a rule's SQL is the conjunction of its selections
(``selection and not 1 of filter_*``), a match means every plain selection holds and
every negated one does not. That is the case for most SigmaHQ rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ..engines.base import Engine, ExplainRequest
from ..rules.compile.dialect import ALL_TEXT_FIELD
from ..rules.model import CompiledRule

Explanation = tuple[dict[str, str | None], tuple[str, ...]]


def explain_matches(
    engine: Engine, rules: Sequence[CompiledRule], matches: pa.Table
) -> dict[tuple[int, int], Explanation]:
    """For each (rule index, row id) in ``matches``: the values of the fields the rule
    reads, and the selections that hold."""
    if matches.num_rows == 0:
        return {}
    fired = sorted(set(matches.column("rule").to_pylist()))
    requests = {
        idx: ExplainRequest(tuple(_shown(rules[idx])), implied_selections(rules[idx]))
        for idx in fired
    }
    out: dict[tuple[int, int], Explanation] = {}
    # Which selections hold repeats itself (a rule's is mostly fixed): named once per
    # distinct outcome, shared by every match with it.
    reasons: dict[tuple[int, tuple[bool, ...]], tuple[str, ...]] = {}
    for table in engine.explain(rules, matches, requests):
        columns = [table.column(c).to_pylist() for c in ("rule", "rid", "vals", "held")]
        for idx, rid, vals, oks in zip(*columns, strict=True):
            names = requests[idx].shown
            fields = {n: v for n, v in zip(names, vals, strict=True) if v is not None}
            key = (idx, tuple(oks))
            why = reasons.get(key)
            if why is None:
                selections = rules[idx].selections
                why = tuple(name for (name, _), ok in zip(selections, oks, strict=True) if ok)
                reasons[key] = why
            out[(idx, rid)] = (fields, why)
    return out


def _shown(rule: CompiledRule) -> list[str]:
    """The fields an explanation of ``rule`` shows (not the whole-event text)."""
    return sorted(n for n in rule.fields if n != ALL_TEXT_FIELD)


def implied_selections(rule: CompiledRule) -> tuple[bool | None, ...]:
    """For each selection of ``rule``, whether it holds on every event the rule matches
    (True), on none (False), or must be evaluated (None), as the compiler recorded it
    from the condition's structure (:attr:`CompiledRule.implied`)."""
    if len(rule.implied) != len(rule.selections):  # a rule built without the facts
        return tuple(None for _ in rule.selections)
    return rule.implied
