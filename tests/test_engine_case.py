"""Reading events back through the Engine protocol: by kind, by row id, and what a case
recorded of its inputs."""

from __future__ import annotations

from pathlib import Path

from lotlhunt.engines import create_engine
from lotlhunt.engines.base import CaseTotals, EngineOptions, FrameRequest, InputCounts
from lotlhunt.engines.duckdb.case import frame_query
from lotlhunt.events import schema
from lotlhunt.testing import load_events

EVENTS = [
    {"Channel": "Security", "EventID": 4624, "Hostname": "dc1", "TargetUserName": "bob"},
    {"Channel": "security", "EventID": 4624, "Hostname": "dc1", "TargetUserName": "eve"},
    {"Channel": "Security", "EventID": 4625, "Hostname": "dc1", "TargetUserName": "mal"},
    {"Channel": "System", "EventID": 4624, "Hostname": "ws1", "TargetUserName": "sys"},
]


def test_events_frame_selects_kinds_and_fields_whatever_their_case(tmp_path: Path) -> None:
    engine = create_engine()
    try:
        load_events(engine, EVENTS, tmp_path)
        frame = engine.events_frame(["targetusername", "NoSuchField"], [4624], ["SECURITY"])
        everything = engine.events_frame([schema.HOST], [], [])
    finally:
        engine.close()
    assert frame.column_names == ["rid", "targetusername", "NoSuchField"]
    assert frame.column("targetusername").to_pylist() == ["bob", "eve"]
    assert frame.column("NoSuchField").null_count == 2
    assert everything.column(schema.HOST).to_pylist() == ["dc1", "dc1", "dc1", "ws1"]


def test_events_frames_read_at_once_match_each_frame_read_alone(tmp_path: Path) -> None:
    """Frames asked for together come as each would alone, in row-id order; a field no
    event of the asked channels fills is NULL without being read, and the engine's
    settings are as they were afterwards."""
    events = [
        {
            "Channel": ["Security", "System"][i % 2],
            "EventID": 4624 + i % 3,
            "Hostname": f"h{i % 5}",
            "TargetUserName": f"u{i}" if i % 2 == 0 else None,
            "param1": f"p{i}" if i % 2 == 1 else None,
        }
        for i in range(3000)
    ]
    case = tmp_path / "case.duckdb"
    engine = create_engine(case=case, options=EngineOptions(threads=2))
    try:
        load_events(engine, events, tmp_path)
    finally:
        engine.close()
    engine = create_engine(case=case, options=EngineOptions(threads=2))
    try:
        con = engine.con  # type: ignore[attr-defined]
        settings = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
        before = con.execute(settings).fetchone()
        requests = [
            FrameRequest(("TargetUserName", "param1", schema.HOST), (4624, 4625), ("SECURITY",)),
            FrameRequest(("param1", "TargetUserName"), (), ("system", "Security")),
            FrameRequest((schema.HOST, schema.EVENT_ID), (), ()),
        ]
        together = engine.events_frames(requests)
        alone = [engine.events_frame(r.columns, r.event_ids, r.channels) for r in requests]
        after = con.execute(settings).fetchone()
        pruned = frame_query(engine, requests[0])  # type: ignore[arg-type]
    finally:
        engine.close()
    assert before == after
    assert 'NULL::VARCHAR AS "param1"' in pruned
    assert 'NULL::VARCHAR AS "TargetUserName"' not in pruned
    assert [t.to_pydict() for t in together] == [t.to_pydict() for t in alone]
    security, both, everything = together
    rids = security.column("rid").to_pylist()
    assert rids == [i for i in range(3000) if i % 2 == 0 and 4624 + i % 3 in (4624, 4625)]
    assert security.column("TargetUserName").to_pylist() == [f"u{i}" for i in rids]
    assert security.column("param1").null_count == security.num_rows  # System's field
    assert both.column("param1").to_pylist()[:2] == [None, "p1"]
    assert both.column("TargetUserName").to_pylist()[:2] == ["u0", None]
    assert everything.column("rid").to_pylist() == list(range(3000))


def test_event_rows_come_in_time_order_with_their_row_ids(tmp_path: Path) -> None:
    engine = create_engine()
    try:
        load_events(engine, EVENTS, tmp_path)
        rows = engine.event_rows([3, 0], [schema.POSITION, schema.HOST])
    finally:
        engine.close()
    assert rows.column("rid").to_pylist() == [0, 3]
    assert rows.column(schema.POSITION).to_pylist() == [1, 4]
    assert rows.column(schema.HOST).to_pylist() == ["dc1", "ws1"]


def test_a_case_keeps_what_it_was_read_from(tmp_path: Path) -> None:
    case = tmp_path / "case.duckdb"
    engine = create_engine(case=case)
    try:
        assert engine.case_totals() is None  # nothing recorded yet
        engine.record_inputs(
            [InputCounts("a.evtx", 10, 1, ("bad record",)), InputCounts("b.json", 5, 0)]
        )
    finally:
        engine.close()
    again = create_engine(case=case)
    try:
        assert again.case_totals() == CaseTotals(files=2, records=15, records_failed=1)
    finally:
        again.close()
