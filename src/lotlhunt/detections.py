"""Detections from an evaluation's matches: each joined back to its event, explained.

An engine's evaluation gives (rule, row id) pairs; a detection adds the event's identity
and time, the values of the fields its rule read and the selections that held
(:mod:`.analytics.explain`), and the event's key fields. Correlation hits get the
identity of every event that made them up. Floods (rules past the noisy threshold) are
set aside here, before any of that is paid for.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ._support.gc_pause import gc_paused
from .analytics.correlations import CorrelationHit
from .analytics.explain import Details, Explanation, event_details, explain_matches
from .engines.base import RID, RULE, Engine
from .events import schema
from .model import CorrelationDetection, Detection, EventRef, SuppressedRule
from .rules.model import CompiledRule

#: The identity of an event in a correlation detection, in :class:`EventRef` order.
_EVENT_REF = (
    schema.TIMESTAMP,
    schema.HOST,
    schema.CHANNEL,
    schema.EVENT_ID,
    schema.RECORD_ID,
    schema.SOURCE,
    schema.POSITION,
)


def collect_detections(
    engine: Engine, rules: Sequence[CompiledRule], matches: pa.Table
) -> list[Detection]:
    """Join matches back to their events: identity, time, and the fields each rule read
    with the selections that held (:mod:`.analytics.explain`)."""
    if matches.num_rows == 0:
        return []
    table = engine.matched_events(matches)
    with gc_paused():
        explained = explain_matches(engine, rules, matches)
        details = event_details(engine, table)
        return _detections(rules, table, explained, details)


def _detections(
    rules: Sequence[CompiledRule],
    table: pa.Table,
    explained: dict[tuple[int, int], Explanation],
    details: Details,
) -> list[Detection]:
    """Detections from the matched events' identities, explanations and key fields."""
    column = {name: table.column(name).to_pylist() for name in (RULE, RID)}
    times = schema.utc_datetimes(table.column(schema.TIMESTAMP))
    identity = [
        table.column(name).to_pylist()
        for name in (
            schema.HOST,
            schema.CHANNEL,
            schema.EVENT_ID,
            schema.RECORD_ID,
            schema.SOURCE,
            schema.POSITION,
            schema.PROVIDER,
        )
    ]
    nothing: Explanation = ({}, ())
    no_details: dict[str, str | None] = {}
    out: list[Detection] = []
    append = out.append
    # One pass over the columns: 175 k detections are built in Python.
    for idx, rid, timestamp, host, channel, event_id, record_id, source, position, provider in zip(
        column[RULE], column[RID], times, *identity, strict=True
    ):
        rule = rules[idx]
        fields, held = explained.get((idx, rid), nothing)
        append(
            Detection(
                rule_id=rule.id,
                rule_title=rule.title,
                level=rule.level,
                tags=rule.tags,
                timestamp=timestamp,
                host=host,
                channel=channel,
                event_id=event_id,
                record_id=record_id,
                source=source,
                position=position,
                fields=fields,
                matched=held,
                details=details.get(rid, no_details),
                provider=provider,
                row=rid,
            )
        )
    return out


def correlation_detection(engine: Engine, hit: CorrelationHit) -> CorrelationDetection:
    """A correlation hit with the identity of every event that made it up."""
    table = engine.event_rows(hit.rids, _EVENT_REF)
    columns = [schema.utc_datetimes(table.column(schema.TIMESTAMP))]
    columns += [table.column(c).to_pylist() for c in _EVENT_REF[1:]]
    events = tuple(EventRef(*row) for row in zip(*columns, strict=True))
    hosts = sorted({e.host for e in events if e.host})
    return CorrelationDetection(
        rule_id=hit.rule_id,
        rule_title=hit.title,
        level=hit.level,
        tags=hit.tags,
        kind=hit.kind,
        group=dict(hit.group),
        first=hit.first,
        last=hit.last,
        value=hit.value,
        host=hosts[0] if len(hosts) == 1 else None,
        events=events,
    )


def set_aside_floods(
    rules: Sequence[CompiledRule], matches: pa.Table, threshold: int | None
) -> tuple[pa.Table, list[SuppressedRule]]:
    """Matches without those of rules past the noisy threshold, and those rules."""
    from .analytics.noise import DEFAULT_NOISY_THRESHOLD, flooding, without_rules

    threshold = threshold or DEFAULT_NOISY_THRESHOLD
    floods = flooding(matches, threshold)
    if not floods:
        return matches, []
    suppressed = [
        SuppressedRule(
            rules[i].id, rules[i].title, rules[i].level, n, f"more than {threshold:,} detections"
        )
        for i, n in sorted(floods.items(), key=lambda item: -item[1])
    ]
    return without_rules(matches, floods), suppressed
