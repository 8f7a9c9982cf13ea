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
from functools import lru_cache
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import yaml

from ..engines.base import Engine, ExplainRequest
from ..events import schema
from ..rules.compile.dialect import ALL_TEXT_FIELD
from ..rules.model import CompiledRule
from .frame import key_ids

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


#: Key fields of a matched event, by row id: what the event is about.
Details = dict[int, dict[str, str | None]]


@lru_cache(maxsize=1)
def key_fields() -> dict[tuple[str, int], tuple[str, ...]]:
    """``data/key_fields.yaml``: the fields that say what an event is about, keyed by
    (lower-cased channel, event id)."""
    text = resources.files("lotlhunt").joinpath("data/key_fields.yaml").read_text("utf-8")
    raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    return {
        (str(channel).lower(), int(eid)): tuple(str(n) for n in names)
        for channel, ids in raw.items()
        for eid, names in (ids or {}).items()
    }


def event_details(engine: Engine, table: pa.Table) -> Details:
    """The key fields of every matched event (``table``: the matched events' ``rid``,
    channel and event id), read in one request for the fields of the kinds present:
    a detection says what its event is about, whatever its rule read."""
    return matched_fields(engine, table)[0]


def matched_fields(
    engine: Engine, table: pa.Table, also: Sequence[str] = ()
) -> tuple[Details, pa.Table | None]:
    """:func:`event_details`, and the fields read (``rid``, channel, event id, the key
    fields and ``also``, by row id; None when nothing was read), in one request: the
    analytics chain detections through fields (``also``) of the same events."""
    spec = key_fields()
    kinds = (
        table.select([schema.CHANNEL, schema.EVENT_ID])
        .group_by([schema.CHANNEL, schema.EVENT_ID])
        .aggregate([])
    )
    wanted: dict[tuple[str, int], tuple[str, ...]] = {}
    for channel, eid in zip(
        kinds.column(schema.CHANNEL).to_pylist(),
        kinds.column(schema.EVENT_ID).to_pylist(),
        strict=True,
    ):
        if channel and eid is not None and (names := spec.get((channel.lower(), eid))):
            wanted[(channel.lower(), eid)] = names
    if not wanted and not also:
        return {}, None
    shown = sorted({n for names in wanted.values() for n in names})
    fields = sorted({*shown, *also})
    rids = pa.compute.unique(table.column("rid")).to_pylist()
    got = engine.event_fields(rids, fields)
    if not wanted:
        return {}, got
    return _details(got, wanted), got


def _details(got: pa.Table, wanted: dict[tuple[str, int], tuple[str, ...]]) -> Details:
    """The key fields of each row of ``got`` (by row id, in row order), read kind by
    kind (channel and event id): only a kind's own fields are turned into Python values
    (reading every field read for every row cost more than the rest of collection)."""
    n = got.num_rows
    if n == 0:
        return {}
    kind = key_ids(got.column(schema.CHANNEL), got.column(schema.EVENT_ID))
    order = np.argsort(kind, kind="stable")
    bounds = np.flatnonzero(np.r_[True, kind[order][1:] != kind[order][:-1], True])
    channels = got.column(schema.CHANNEL)
    eids = got.column(schema.EVENT_ID)
    found: list[dict[str, str | None] | None] = [None] * n
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        first = int(order[a])
        channel, eid = channels[first].as_py(), eids[first].as_py()
        names = wanted.get(((channel or "").lower(), eid))
        if not names:
            continue
        rows = order[a:b]
        take = pa.array(rows, pa.int64())
        columns = [got.column(name).take(take).to_pylist() for name in names]
        for k, values in zip(rows.tolist(), zip(*columns, strict=True), strict=True):
            kept = {name: v for name, v in zip(names, values, strict=True) if v is not None}
            if kept:
                found[k] = kept
    rid = got.column("rid").to_pylist()
    return {rid[k]: d for k, d in enumerate(found) if d is not None}
