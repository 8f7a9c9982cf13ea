"""Detections from an evaluation's matches: each joined back to its event, explained.

An engine's evaluation gives (rule, row id) pairs; a detection adds the event's identity
and time, the values of the fields its rule read and the selections that held
(:mod:`.analytics.explain`), and the event's key fields. Correlation hits get the
identity of every event that made them up. Floods (rules past the noisy threshold) are
set aside here, before any of that is paid for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._support.gc_pause import gc_paused
from .analytics.cited import REF_COLUMNS, ROW, RULE_ID, DetectionColumns, cited_frame
from .analytics.correlations import CorrelationHit
from .analytics.explain import Details, Explanation, explain_matches, matched_fields
from .analytics.frame import event_refs
from .analytics.incidents import KEY_FIELDS
from .engines.base import RID, RULE, Engine
from .events import schema
from .model import CorrelationDetection, Detection, SuppressedRule
from .rules.model import CompiledRule

#: What a detection says of its event besides the time, in :class:`Detection`'s order.
_IDENTITY = (*schema.EVENT_REF_COLUMNS[1:], schema.PROVIDER)


def collect_detections(
    engine: Engine, rules: Sequence[CompiledRule], matches: pa.Table
) -> DetectionTable | list[Detection]:
    """Join matches back to their events: identity, time, and the fields each rule read
    with the selections that held (:mod:`.analytics.explain`), kept as columns
    (:class:`DetectionTable`)."""
    if matches.num_rows == 0:
        return []
    # What is made here lasts as long as the hunt's result: frozen at the end in a
    # one-command process, or the next young collection scans all of it at once.
    with gc_paused(lasting=True):
        table = engine.matched_events(matches)
        explained = explain_matches(engine, rules, matches)
        details, fields = matched_fields(engine, table, KEY_FIELDS)
    if fields is not None:  # the key fields are in ``details`` now: the chaining ones stay
        fields = fields.select([RID, schema.CHANNEL, schema.EVENT_ID, *KEY_FIELDS])
    return DetectionTable(rules, table, explained, details, fields)


#: Detection attributes that are their rule's (and the rule's attribute).
_RULE_ATTRS = {"rule_id": "id", "rule_title": "title", "level": "level", "tags": "tags"}


class DetectionTable(Sequence[Detection]):
    """Detections as columns: the matched events' identities (``engine.matched_events``:
    rule index, row id and core columns, in time order), their explanations and key
    fields, and the chaining fields the analytics read (:data:`KEY_FIELDS`).

    A 1 M-event hunt has some 150 k detections; building an object for each cost a
    second, and the JSON lines, the console summary and the analytics need none. Objects
    are built once, on first use as a sequence (``detections[0]``, ``for d in ...``),
    for the reports and callers that want them.
    """

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        table: pa.Table,
        explained: dict[tuple[int, int], Explanation],
        details: Details,
        fields: pa.Table | None = None,
    ) -> None:
        self.rules = rules
        self.table = table
        self.explained = explained
        self.details = details
        #: ``event_fields`` of the matched events (row id order), or None.
        self.fields = fields
        self._objects: list[Detection] | None = None
        self._aligned: list[Explanation] | None = None

    def __len__(self) -> int:
        return self.table.num_rows

    @overload
    def __getitem__(self, index: int) -> Detection: ...
    @overload
    def __getitem__(self, index: slice) -> list[Detection]: ...
    def __getitem__(self, index: int | slice) -> Detection | list[Detection]:
        return self.objects()[index]

    def __iter__(self) -> Iterator[Detection]:
        return iter(self.objects())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self.objects() == list(other)
        return NotImplemented

    # Compared by content, like a list: not hashable.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"DetectionTable({len(self)} detections)"

    def objects(self) -> list[Detection]:
        """Every detection as an object, in the table's order (built once)."""
        if self._objects is None:
            with gc_paused():
                self._objects = _detections(self.rules, self.table, self.explained, self.details)
        return self._objects

    def values_of(self, attr: str) -> list[Any]:
        """Attribute ``attr`` of every detection (a :class:`Detection` field), in order,
        read from the columns: no object is built."""
        table = self.table
        if attr in _RULE_ATTRS:
            rules = self.rules
            idx = table.column(RULE).to_pylist()
            if attr == "tags":
                return [rules[i].tags for i in idx]
            return self.rule_values(_RULE_ATTRS[attr]).to_pylist()
        if attr == "timestamp":
            return schema.utc_datetimes(table.column(schema.TIMESTAMP))
        if attr == "row":
            return table.column(RID).to_pylist()
        if attr in ("fields", "matched"):
            n = 0 if attr == "fields" else 1
            return [e[n] for e in self.explanations()]
        if attr == "details":
            no_details: dict[str, str | None] = {}
            get_details = self.details.get
            return [get_details(rid, no_details) for rid in table.column(RID).to_pylist()]
        if attr in schema.CORE_COLUMNS:
            return table.column(attr).to_pylist()
        raise AttributeError(f"detections have no attribute {attr!r}")

    def dicts(self) -> Iterator[dict[str, object]]:
        """:meth:`Detection.to_dict` of every detection, in order, from the columns
        (times formatted by Arrow, each rule's parts once)."""
        table = self.table
        rules = [(r.id, r.title, r.level, list(r.tags)) for r in self.rules]
        names = _IDENTITY
        columns = [table.column(n).to_pylist() for n in (RULE, RID)]
        columns += [iso_times(table.column(schema.TIMESTAMP))]
        columns += [table.column(n).to_pylist() for n in names]
        columns.append(self.explanations())
        no_details: dict[str, str | None] = {}
        details = self.details.get
        for idx, rid, ts, host, channel, eid, rec, src, pos, provider, (fields, held) in zip(
            *columns, strict=True
        ):
            rule_id, title, level, tags = rules[idx]
            yield {
                "rule_id": rule_id,
                "rule_title": title,
                "level": level,
                "tags": tags,
                "timestamp": ts,
                "host": host,
                "channel": channel,
                "event_id": eid,
                "record_id": rec,
                "source": src,
                "position": pos,
                "fields": fields,
                "matched": list(held),
                "details": details(rid, no_details),
                "provider": provider,
            }

    def explanations(self) -> list[Explanation]:
        """Every detection's explanation (fields read, selections held), in order: looked
        up by (rule, row id) once, then shared by the JSON lines, the signals and the
        noisiest rules (each looked up 150 k pairs again before)."""
        if self._aligned is None:
            nothing: Explanation = ({}, ())
            get = self.explained.get
            table = self.table
            pairs = zip(table.column(RULE).to_pylist(), table.column(RID).to_pylist(), strict=True)
            self._aligned = [get(key, nothing) for key in pairs]
        return self._aligned

    def timestamp_micros(self) -> pa.Array:
        """Every detection's time in microseconds since the epoch (NULL where unknown),
        in order: the console's activity strips bucket these, no datetime built."""
        column = self.table.column(schema.TIMESTAMP).cast(pa.timestamp("us", tz="UTC"))
        return column.cast(pa.int64()).combine_chunks()

    def rule_values(self, attr: str) -> pa.Array:
        """Attribute ``attr`` of each detection's rule (``id``, ``title``, ``level``)."""
        values = pa.array([getattr(r, attr) for r in self.rules], pa.string())
        return values.take(self.table.column(RULE).combine_chunks())

    def columns(self) -> DetectionColumns:
        """The columns the analytics group and cite (:mod:`.analytics.cited`)."""
        table = self.table
        columns = {
            RULE_ID: self.rule_values("id"),
            ROW: table.column(RID).cast(pa.int64()),
            **{name: table.column(name) for name in REF_COLUMNS},
        }
        rules = self.rules
        idx = table.column(RULE).to_pylist()
        explanations = self.explanations()

        def head(i: int) -> tuple[str, str, str, tuple[str, ...], tuple[str, ...]]:
            rule = rules[idx[i]]
            return rule.id, rule.title, rule.level, rule.tags, explanations[i][1]

        return DetectionColumns(pa.table(columns), head)

    def cited_fields(self, rids: Sequence[int]) -> pa.Table | None:
        """The chaining fields of the events ``rids`` with their host, source and
        position (:func:`.analytics.cited.cited_frame`), from what collection read; None
        when it read none. They are handed over: the table lets go of them (the
        analytics ask once, and a hunt's result need not hold them)."""
        if self.fields is None:
            return None
        wanted = pa.array(rids, pa.int64())
        fields = self.fields.select([RID, schema.CHANNEL, schema.EVENT_ID, *KEY_FIELDS])
        self.fields = None
        fields = fields.filter(pc.is_in(fields.column(RID), value_set=wanted))
        core = self.table.select([RID, schema.HOST, schema.SOURCE, schema.POSITION])
        core = core.filter(pc.is_in(core.column(RID), value_set=wanted))
        # One row per event (a row matched by several rules is in the table once each).
        _, first = np.unique(core.column(RID).to_numpy(), return_index=True)
        core = core.take(pa.array(np.sort(first), pa.int64()))
        return cited_frame(fields, core)


def iso_times(column: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """A ``TIMESTAMP`` column as ISO 8601 text in UTC with microseconds and a ``Z``
    (None where NULL): what ``pc.strftime(column, "%Y-%m-%dT%H:%M:%SZ")`` writes, in a
    fifth of its time (strftime formats each value through its time zone; a cast of the
    zone-less time to text does not)."""
    naive = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).cast(pa.timestamp("us"))
    text = pc.replace_substring(naive.cast(pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, "Z", "").to_pylist()


def _detections(
    rules: Sequence[CompiledRule],
    table: pa.Table,
    explained: dict[tuple[int, int], Explanation],
    details: Details,
) -> list[Detection]:
    """Detections from the matched events' identities, explanations and key fields."""
    column = {name: table.column(name).to_pylist() for name in (RULE, RID)}
    times = schema.utc_datetimes(table.column(schema.TIMESTAMP))
    identity = [table.column(name).to_pylist() for name in _IDENTITY]
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
    events = tuple(event_refs(engine.event_rows(hit.rids, REF_COLUMNS)))
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
