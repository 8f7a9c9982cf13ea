"""TerminalServices' 1149 is written as Windows writes it, UserData ``EventXML`` (Param1
the user, Param2 the domain, Param3 the source address), in EVTX and in JSON, and the
readers, the key fields and the logon analytics read it from there."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import evtx
import Evtx.Evtx as PyEvtx
import pyarrow.compute as pc
import pytest

from lotlhunt.analytics.frame import load_frames
from lotlhunt.hunt import HuntConfig, open_events, run_hunt
from lotlhunt.scope import EventScope
from lotlhunt.simulate import LOGS_DIR, simulate_volt_typhoon
from lotlhunt.simulate.binxml import event_template, template_guid
from lotlhunt.simulate.evtx_writer import write_evtx
from lotlhunt.simulate.jsonl_writer import record_to_json
from lotlhunt.simulate.records import EvtxRecord
from lotlhunt.simulate.templates import EVENT_XML

RCM = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"
RCM_FILE = "Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational"
PARAMS = {"Param1": "administrator", "Param2": "ie11win7", "Param3": "10.0.2.16"}


def rdp_record(record_id: int = 1) -> EvtxRecord:
    return EvtxRecord(
        provider="Microsoft-Windows-TerminalServices-RemoteConnectionManager",
        provider_guid="C76BAA63-AE81-421C-B425-340B4B24157F",
        event_id=1149,
        channel=RCM,
        computer="IEWIN7",
        timestamp=datetime(2018, 11, 6, 21, 45, 50, 411264, tzinfo=UTC),
        record_id=record_id,
        event_data=dict(PARAMS),
        keywords="0x1000000000000000",
        process_id=812,
        thread_id=1956,
        user_sid="S-1-5-20",
        user_data=EVENT_XML,
    )


def test_evtx_holds_userdata_as_windows_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "rcm.evtx"
    write_evtx(path, [rdp_record()])
    # The Rust parser renders it exactly as the JSON writer writes it (and as it renders
    # a real 1149 of the EVTX attack samples).
    (rendered,) = evtx.PyEvtxParser(str(path), validate_checksums=True).records_json()
    event = json.loads(rendered["data"])["Event"]
    assert "EventData" not in event
    assert event["UserData"] == {
        "EventXML": {
            "#attributes": {
                "xmlns:auto-ns2": "http://schemas.microsoft.com/win/2004/08/events",
                "xmlns": "Event_NS",
            },
            **PARAMS,
        }
    }
    assert event["UserData"] == record_to_json(rdp_record())["Event"]["UserData"]
    # python-evtx (a second, independent reader) sees the same elements.
    with PyEvtx.Evtx(str(path)) as log:
        (record,) = list(log.records())
        root = ET.fromstring(record.xml())
    ns = {"e": "http://schemas.microsoft.com/win/2004/08/events/event", "x": "Event_NS"}
    wrapper = root.find("e:UserData/x:EventXML", ns)
    assert wrapper is not None
    assert {child.tag.split("}")[1]: child.text for child in wrapper} == PARAMS
    assert root.find("e:EventData", ns) is None


def test_eventdata_templates_keep_their_identity() -> None:
    # Adding the UserData shape changed no EventData template: EVTX bytes of every other
    # event stay as they were.
    shape = ("Microsoft-Windows-Security-Auditing", 4624, ("TargetUserName",), 0)
    assert event_template(*shape).guid == template_guid(*shape)
    assert event_template(*shape, EVENT_XML).guid != template_guid(*shape)


def test_userdata_takes_no_unnamed_values() -> None:
    with pytest.raises(ValueError, match="named"):
        event_template("p", 1149, ("Param1",), 1, EVENT_XML)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rdp")
    simulate_volt_typhoon(out, hosts=6, days=1, seed=7, fmt="both")
    return out / LOGS_DIR


@pytest.mark.parametrize("ext", ["evtx", "jsonl"])
def test_readers_and_logon_analytics_read_1149_from_userdata(simulated: Path, ext: str) -> None:
    files = sorted(simulated.glob(f"*/{RCM_FILE}.{ext}"))
    written = [
        json.loads(line)["Event"]
        for f in sorted(simulated.glob(f"*/{RCM_FILE}.jsonl"))
        for line in f.read_text("utf-8").splitlines()
    ]
    assert written and all("EventData" not in e for e in written)
    expected = sorted(
        (e["UserData"]["EventXML"]["Param2"], e["UserData"]["EventXML"]["Param1"])
        + (e["UserData"]["EventXML"]["Param3"],)
        for e in written
    )
    engine, _, issues, _ = open_events(files, None, EventScope.parse(None, None, (), ()), 1)
    try:
        assert issues == []
        rows = engine.events_frame(["Param1", "Param2", "Param3"], [1149], [RCM])
        read = sorted(
            zip(*(rows.column(n).to_pylist() for n in ("Param2", "Param1", "Param3")), strict=True)
        )
        assert read == expected
        logons = load_frames(engine).logons
    finally:
        engine.close()
    accepted = logons.filter(pc.equal(logons.column("event_id"), 1149))
    assert accepted.num_rows == len(expected)
    assert sorted(
        zip(
            accepted.column("account").to_pylist(),
            accepted.column("src").to_pylist(),
            strict=True,
        )
    ) == sorted((f"{d}\\{u}", ip) for d, u, ip in expected)
    assert set(accepted.column("ltype").to_pylist()) == {"10"}


def test_1149_detections_carry_its_key_fields(simulated: Path) -> None:
    rule = {
        "title": "RDP user authenticated",
        "id": "0b5e3c1a-1149-4c8e-9b57-0a0b0c0d0e01",
        "level": "low",
        "logsource": {"product": "windows"},
        "detection": {"selection": {"EventID": 1149}, "condition": "selection"},
    }
    files = sorted(simulated.glob(f"*/{RCM_FILE}.evtx"))
    result = run_hunt(
        HuntConfig(paths=files, default_rules=False, extra_rule_dicts=[rule], workers=1)
    )
    found = [d for d in result.detections if d.event_id == 1149]
    assert found
    # The rule reads only EventID; the details say who came in from where.
    assert all(set(d.details) == {"Param1", "Param2", "Param3"} for d in found)
    assert all(d.details["Param3"].count(".") == 3 for d in found)
