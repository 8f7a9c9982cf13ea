"""The events detection signals cite are read by row id, and only those rows: their keys
chain incidents as before, and no other event's key fields are read (on Mordor, reading
every event of the cited kinds held 0.7 GB at the hunt's peak)."""

from __future__ import annotations

import gc
import random
from collections.abc import Sequence
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lotlhunt.analytics.cited import cited_frame
from lotlhunt.analytics.incidents import detection_groups, detection_signals, event_keys
from lotlhunt.analytics.run import _cited_events, analyse
from lotlhunt.events import schema
from lotlhunt.model import Detection, SignalKind
from test_analytics import SEC, SYSMON, Source, ev, h, proc


class RowSource(Source):
    """``Source`` that also reads events by row id, and records what it was asked."""

    def __init__(self, events: Sequence[dict]) -> None:
        super().__init__(events)
        self.asked_rows: list[list[int]] = []

    def _rows(self, rids: Sequence[int], names: Sequence[str]) -> pa.Table:
        self.asked_rows.append(sorted(rids))
        types = {f.name: f.type for f in schema.CORE_FIELDS}
        out: dict[str, pa.Array] = {"rid": pa.array(sorted(rids), pa.int64())}
        for name in names:
            values = [self.events[r].get(name) for r in sorted(rids)]
            out[name] = pa.array(values, types.get(name, pa.string()))
        return pa.table(out)

    def event_rows(self, rids: Sequence[int], columns: Sequence[str]) -> pa.Table:
        return self._rows(rids, columns)

    def event_fields(self, rids: Sequence[int], fields: Sequence[str]) -> pa.Table:
        return self._rows(rids, [schema.CHANNEL, schema.EVENT_ID, *fields])


def _detection(events: Sequence[dict], row: int, rule: str) -> Detection:
    e = events[row]
    return Detection(
        rule_id=rule,
        rule_title=rule,
        level="high",
        tags=(),
        timestamp=e["timestamp"],
        host=e["host"],
        channel=e["channel"],
        event_id=e["event_id"],
        record_id=e["record_id"],
        source=e["source"],
        position=e["position"],
        fields={},
        row=row,
    )


def test_cited_events_are_read_by_row_and_give_their_keys() -> None:
    events = [
        proc("ws01", h(1), "whoami", "C:\\Windows\\System32\\whoami.exe", lid="0x77"),
        proc("ws01", h(1) + timedelta(minutes=1), "notepad", "C:\\Windows\\notepad.exe"),
        ev("ws01", SEC, 4624, h(2), TargetUserName="bob", TargetLogonId="0x99"),
        ev("ws01", SEC, 4624, h(2), TargetUserName="eve", TargetLogonId="0x55"),
        # No event id: no kind of event, so it gives no keys (as when frames were read by
        # event id and channel).
        {**ev("ws01", SYSMON, 1, h(3), LogonId="0x33"), "event_id": None},
    ]
    cited = [_detection(events, 0, "r1"), _detection(events, 2, "r2"), _detection(events, 4, "r3")]
    source = RowSource(events)
    signals = _signals(source, cited)
    assert source.asked_rows == [[0, 2, 4], [0, 2, 4]]
    assert ("session", "ws01|0x77") in signals["r1"]
    assert ("process", f"ws01|g{h(1).total_seconds()}") in signals["r1"]
    assert signals["r2"] == (("session", "ws01|0x99"),)
    assert signals["r3"] == ()


def _signals(source: RowSource, cited: Sequence[Detection]) -> dict[str, tuple]:
    """Each detection signal's chaining keys."""
    groups = detection_groups(cited)
    keys = event_keys(_cited_events(source, [d for items, _ in groups for d in items]))
    return {
        s.rule_id: s.keys
        for s in detection_signals(groups, [], keys)
        if s.kind is SignalKind.DETECTION and s.rule_id
    }


def test_analyse_reads_no_chaining_field_of_uncited_events() -> None:
    events = [
        proc("ws01", h(k), "whoami", "C:\\Windows\\System32\\whoami.exe", lid=f"0x{k}")
        for k in range(1, 30)
    ]
    source = RowSource(events)
    analyse(source, [_detection(events, 3, "r1")], [])
    assert source.asked_rows == [[3], [3]]


def test_analyse_pauses_the_collector_for_signals_and_incidents_then_leaves_it_as_it_was() -> None:
    # Signals and incidents are many small acyclic objects: the cyclic collector is off
    # while they are made, back on after, and stays off for a caller who turned it off.
    events = [
        proc("ws01", h(k), "whoami", "C:\\Windows\\System32\\whoami.exe", lid=f"0x{k}")
        for k in range(1, 10)
    ]
    seen: list[bool] = []

    class Watching(RowSource):
        def event_rows(self, rids: Sequence[int], columns: Sequence[str]) -> pa.Table:
            seen.append(gc.isenabled())
            return super().event_rows(rids, columns)

    detections = [_detection(events, 3, "r1")]
    analyse(Watching(events), detections, [])
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        analyse(Watching(events), detections, [])
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("seed", range(8))
def test_cited_frame_joins_as_arrow_s_left_join_did(seed: int) -> None:
    # The oracle: the hash join cited_frame made before (row id order, NULL core columns
    # for a row id the core lacks).
    rng = random.Random(seed)
    n = rng.randrange(0, 40)
    rids = rng.sample(range(60), n)
    fields = pa.table(
        {
            "rid": pa.array(rids, pa.int64()),
            schema.CHANNEL: pa.array([rng.choice((SEC, SYSMON, "", None)) for _ in rids]),
            schema.EVENT_ID: pa.array([rng.choice((1, 4688, None)) for _ in rids], pa.int32()),
            "LogonId": pa.array([rng.choice(("0x1", None)) for _ in rids]),
        }
    )
    core_rids = rng.sample(range(60), rng.randrange(0, 40))
    core = pa.table(
        {
            "rid": pa.array(core_rids, pa.int64()),
            schema.HOST: pa.array([rng.choice(("ws01", None)) for _ in core_rids]),
            schema.SOURCE: pa.array([f"s{r % 3}" for r in core_rids]),
            schema.POSITION: pa.array([r * 2 for r in core_rids], pa.int64()),
        }
    )
    got = cited_frame(fields, core)
    if fields.num_rows == 0:
        assert got.num_rows == 0
        return
    channel = pc.fill_null(fields.column(schema.CHANNEL), "")
    kept = pc.and_(pc.is_valid(fields.column(schema.EVENT_ID)), pc.not_equal(channel, ""))
    want = fields.filter(kept).join(core, "rid").sort_by("rid")
    assert got.equals(want)
