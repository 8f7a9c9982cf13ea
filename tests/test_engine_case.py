"""Reading events back through the Engine protocol: by kind, by row id, and what a case
recorded of its inputs."""

from __future__ import annotations

from pathlib import Path

from lotlhunt.engines import create_engine
from lotlhunt.engines.base import CaseTotals, InputCounts
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
