"""Detections carry their event's key fields, whatever fields the rule read."""

from __future__ import annotations

import json
from pathlib import Path

from lotlhunt.analytics.explain import key_fields
from lotlhunt.hunt import HuntConfig, run_hunt

RULE = {
    "title": "DSRM Password Changed",
    "id": "b8f1a4c2-0000-4c8e-9b57-0a0b0c0d0e01",
    "level": "high",
    "logsource": {"product": "windows", "service": "security"},
    "detection": {"selection": {"EventID": [4794, 4624]}, "condition": "selection"},
}


def test_key_fields_come_with_every_detection(tmp_path: Path) -> None:
    events = [
        {
            "@timestamp": "2026-03-01T10:00:00Z",
            "Hostname": "dc01",
            "Channel": "Security",
            "EventID": 4794,
            "SubjectUserName": "adm.jones",
            "SubjectDomainName": "CORP",
            "Workstation": "DC01",
            "Status": "0x0",
            "Unrelated": "x",
        },
        {
            "@timestamp": "2026-03-01T10:01:00Z",
            "Hostname": "dc01",
            "Channel": "security",  # spelled otherwise: channels compare without case
            "EventID": 4624,
            "TargetUserName": "svc_backup",
            "LogonType": "3",
            "IpAddress": "10.0.0.5",
        },
        {
            "@timestamp": "2026-03-01T10:02:00Z",
            "Hostname": "dc01",
            "Channel": "Security",
            "EventID": 4624,
        },
    ]
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n", "utf-8")
    result = run_hunt(
        HuntConfig(paths=[logs], default_rules=False, extra_rule_dicts=[RULE], workers=1)
    )
    assert len(result.detections) == 3
    dsrm = next(d for d in result.detections if d.event_id == 4794)
    # The rule reads only EventID; the details say who changed it, where, and how it ended.
    assert dsrm.details == {
        "SubjectUserName": "adm.jones",
        "SubjectDomainName": "CORP",
        "Workstation": "DC01",
        "Status": "0x0",
    }
    logons = [d for d in result.detections if d.event_id == 4624]
    assert logons[0].details == {
        "TargetUserName": "svc_backup",
        "LogonType": "3",
        "IpAddress": "10.0.0.5",
    }
    assert logons[1].details == {}  # no key field present: nothing invented


def test_key_field_table_names_the_common_events() -> None:
    table = key_fields()
    assert table[("security", 4624)][:3] == ("TargetUserName", "TargetDomainName", "LogonType")
    assert "CommandLine" in table[("microsoft-windows-sysmon/operational", 1)]
    assert "ParentProcessName" in table[("security", 4688)]
