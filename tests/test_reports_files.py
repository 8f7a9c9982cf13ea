"""The machine-readable outputs: every detection written, whatever text it carries."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from lotlhunt.model import Detection, HuntResult, HuntStats
from lotlhunt.reports import write_csv, write_jsonl


def detection(command_line: str, record_id: int) -> Detection:
    return Detection(
        rule_id="r1",
        rule_title="Netsh Portproxy Added",
        level="high",
        tags=("attack.t1090",),
        timestamp=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        host="dc01",
        channel="Security",
        event_id=4688,
        record_id=record_id,
        source="a.evtx",
        position=record_id,
        fields={"CommandLine": command_line, "ParentImage": None},
        matched=("selection",),
    )


def test_jsonl_has_one_sorted_object_per_detection(tmp_path: Path) -> None:
    result = HuntResult(stats=HuntStats(), detections=[detection("netsh ä", 1), detection("x", 2)])
    write_jsonl(result, tmp_path / "d.jsonl")
    lines = (tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert list(first) == sorted(first)
    assert first["fields"] == {"CommandLine": "netsh ä", "ParentImage": None}
    assert first["timestamp"] == "2026-03-01T10:00:00.000000Z" and first["tags"] == ["attack.t1090"]
    assert [json.loads(x)["record_id"] for x in lines] == [1, 2]


def test_jsonl_keeps_a_detection_whose_text_is_not_valid_unicode(tmp_path: Path) -> None:
    # A lone surrogate (log text is the attacker's) cannot be UTF-8: written escaped.
    result = HuntResult(
        stats=HuntStats(), detections=[detection("a\ud800b", 1), detection("fine", 2)]
    )
    write_jsonl(result, tmp_path / "d.jsonl")
    lines = (tmp_path / "d.jsonl").read_bytes().decode("utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["fields"]["CommandLine"] == "a\ud800b"
    assert json.loads(lines[1])["fields"]["CommandLine"] == "fine"


def test_csv_keeps_a_detection_whose_text_is_not_valid_unicode(tmp_path: Path) -> None:
    result = HuntResult(
        stats=HuntStats(), detections=[detection("a\ud800b", 1), detection("=cmd", 2)]
    )
    write_csv(result, tmp_path / "t.csv")
    rows = list(csv.DictReader((tmp_path / "t.csv").open(encoding="utf-8")))
    assert [r["RecordID"] for r in rows] == ["1", "2"]
    assert rows[0]["Details"] == "CommandLine: a\\ud800b"
    assert rows[1]["Details"] == "CommandLine: =cmd"
