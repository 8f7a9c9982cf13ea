"""Files other tools import: checked against those tools' documented formats.

- ATT&CK Navigator: the layer validates against the 4.5 layer format, vendored in
  tests/schemas (written from the published specification, which has no schema file).
- Timesketch: "Create timeline from JSON/JSONL/CSV": mandatory ``message``, ``datetime``
  (ISO 8601, ``2015-07-24T19:01:01+00:00``), ``timestamp_desc``; ``timestamp`` in
  microseconds when present; CSV with the header first.
- Elastic: a bulk API body (action line, then the document) whose documents use ECS
  fields with their ECS types.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import re
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from lotlhunt.model import Detection
from lotlhunt.reports import REPORTS
from lotlhunt.reports.ecs import write_ecs
from lotlhunt.reports.files import CSV_COLUMNS, write_csv
from lotlhunt.reports.navigator import INCIDENT_WEIGHT, navigator_layer, write_navigator
from lotlhunt.reports.timesketch import field_name, write_timesketch
from report_fixtures import fake_result

SCHEMA = json.loads(
    (Path(__file__).parent / "schemas" / "navigator-layer-4.5.schema.json").read_text("utf-8")
)


# -- ATT&CK Navigator -----------------------------------------------------------------------


def test_navigator_layer_validates_against_the_4_5_format(tmp_path: Path) -> None:
    path = tmp_path / "layer.json"
    write_navigator(fake_result(40), path)
    layer = json.loads(path.read_text("utf-8"))
    jsonschema.Draft202012Validator(SCHEMA).validate(layer)
    assert layer["domain"] == "enterprise-attack" and layer["versions"]["layer"] == "4.5"


def test_navigator_scores_detections_and_incidents_and_names_rules_and_hosts() -> None:
    layer = navigator_layer(fake_result(40))
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}  # type: ignore[union-attr]
    ntds = by_id["T1003.003"]
    # 8 detections of the NTDS rule, and INC-0001 names the technique.
    assert ntds["score"] == 8 + INCIDENT_WEIGHT
    assert "NTDS Install-From-Media Created (8)" in ntds["comment"]
    assert "dc01.harbor.local" in ntds["comment"] and "INC-0001" in ntds["comment"]
    assert by_id["T1087.002"]["score"] == 8 + 2 * INCIDENT_WEIGHT  # both incidents
    assert layer["gradient"]["maxValue"] == max(t["score"] for t in by_id.values())  # type: ignore[index]


def test_a_schema_violation_is_caught() -> None:
    # The check can fail: a misspelt field or a bad id is refused.
    layer = navigator_layer(fake_result(4))
    layer["techniques"][0]["techniqueId"] = "T1003"  # type: ignore[index]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(layer, SCHEMA)


def test_navigator_comment_has_no_control_characters() -> None:
    layer = navigator_layer(fake_result(4, hostile="\x1b]0;owned\x07"))
    text = json.dumps(layer)
    assert "\\u001b" not in text and "\\u0007" not in text
    jsonschema.validate(layer, SCHEMA)


# -- Timesketch ----------------------------------------------------------------------------

ISO_WITH_ZONE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def check_timesketch_row(row: dict[str, object]) -> None:
    for name in ("message", "datetime", "timestamp_desc"):
        assert isinstance(row[name], str) and row[name], name
    assert ISO_WITH_ZONE.match(str(row["datetime"])), row["datetime"]
    when = datetime.fromisoformat(str(row["datetime"]))
    assert when.tzinfo is not None
    stamp = row.get("timestamp")
    if stamp is not None and stamp != "":
        micros = int(stamp)  # type: ignore[call-overload]
        assert abs(micros - int(when.timestamp() * 1_000_000)) <= 1
    for key in row:
        assert not key.startswith("_") and "." not in key, key
    for value in row.values():
        assert not isinstance(value, dict), "nested objects are not attributes"


def test_timesketch_jsonl_has_the_mandatory_fields(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_timesketch(fake_result(24), path)
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert len(rows) == 24
    for row in rows:
        check_timesketch_row(row)
    first = rows[0]
    assert first["rule_title"] == "Netsh Portproxy Added" and first["rule_level"] == "high"
    assert first["incident_id"] == "INC-0001" and first["SubjectUserName"] == "svc_backup"
    assert "attack.t1090.001" in first["rule_tags"]


def test_timesketch_has_behaviour_signals_too(tmp_path: Path) -> None:
    result = fake_result(6)
    result.behaviours = [s for s in result.incidents[0].signals if s.kind == "behaviour"]
    path = tmp_path / "t.jsonl"
    write_timesketch(result, path)
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert len(rows) == 7
    for row in rows:
        check_timesketch_row(row)
    last = rows[-1]
    assert last["data_type"] == "lotlhunt:behaviour" and "first logon" in last["message"]
    assert last["incident_id"] == "INC-0001" and last["event_id"] == 4624


def test_timesketch_csv_by_extension(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_timesketch(fake_result(6, hostile="=cmd|' /C calc'!A0"), path)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    for row in rows:
        check_timesketch_row(dict(row))
        assert row["computer_name"].endswith(".harbor.local")
    assert all(not v.startswith("=") for row in rows for v in row.values())


def test_timesketch_field_names_never_shadow_its_own() -> None:
    assert field_name("message") == "event_message"
    assert field_name("_id") == "field_id"
    assert field_name("a.b") == "a_b"
    assert field_name("tag") == "event_tag"


def test_timesketch_keeps_a_detection_without_time(tmp_path: Path) -> None:
    result = fake_result(2)
    d = result.detections[0]
    result.detections[0] = Detection(**{**d.__dict__, "timestamp": None})
    path = tmp_path / "t.jsonl"
    write_timesketch(result, path)
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert len(rows) == 2
    for row in rows:
        check_timesketch_row(row)


# -- Elastic Common Schema -----------------------------------------------------------------

#: ECS field -> its ECS type, for every field the writer may fill.
ECS_TYPES: dict[str, str] = {
    "@timestamp": "date",
    "ecs.version": "keyword",
    "message": "match_only_text",
    "tags": "keyword",
    "event.kind": "keyword",
    "event.module": "keyword",
    "event.dataset": "keyword",
    "event.severity": "long",
    "event.risk_score": "float",
    "event.code": "keyword",
    "event.provider": "keyword",
    "event.category": "keyword",
    "event.type": "keyword",
    "host.name": "keyword",
    "host.hostname": "keyword",
    "process.executable": "keyword",
    "process.name": "keyword",
    "process.command_line": "wildcard",
    "process.pid": "long",
    "process.parent.executable": "keyword",
    "process.parent.name": "keyword",
    "process.parent.command_line": "wildcard",
    "process.parent.pid": "long",
    "user.name": "keyword",
    "user.domain": "keyword",
    "source.ip": "ip",
    "source.port": "long",
    "destination.ip": "ip",
    "destination.port": "long",
    "file.path": "keyword",
    "file.name": "keyword",
    "rule.id": "keyword",
    "rule.uuid": "keyword",
    "rule.name": "keyword",
    "rule.ruleset": "keyword",
    "threat.framework": "keyword",
    "threat.technique.id": "keyword",
    "threat.technique.name": "keyword",
    "threat.technique.reference": "keyword",
    "threat.technique.subtechnique.id": "keyword",
    "threat.technique.subtechnique.name": "keyword",
    "threat.technique.subtechnique.reference": "keyword",
    "threat.tactic.id": "keyword",
    "threat.tactic.name": "keyword",
    "threat.tactic.reference": "keyword",
    "log.file.path": "keyword",
}
ECS_ALLOWED = {
    "event.kind": {"alert", "enrichment", "event", "metric", "state", "pipeline_error", "signal"},
    "event.category": set(
        "api authentication configuration database driver email file host iam "
        "intrusion_detection library malware network package process registry session "
        "threat vulnerability web".split()
    ),
    "event.type": set(
        "access admin allowed change connection creation deletion denied end error group "
        "indicator info installation protocol start user".split()
    ),
}


def flatten(doc: dict[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_ecs_type(name: str, value: object) -> None:
    kind = ECS_TYPES[name]
    values = value if isinstance(value, list) else [value]
    for v in values:
        if kind == "date":
            assert isinstance(v, str) and datetime.fromisoformat(v.replace("Z", "+00:00")).tzinfo
        elif kind == "long":
            assert isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63
        elif kind == "float":
            assert isinstance(v, float)
        elif kind == "ip":
            ipaddress.ip_address(v)  # type: ignore[arg-type]
        else:
            assert isinstance(v, str), (name, v)
    if name in ECS_ALLOWED:
        assert set(values) <= ECS_ALLOWED[name], (name, values)


def read_bulk(path: Path) -> list[tuple[dict[str, object], dict[str, object]]]:
    lines = path.read_text("utf-8").splitlines()
    assert len(lines) % 2 == 0 and path.read_text("utf-8").endswith("\n")
    pairs = []
    for action, doc in zip(lines[::2], lines[1::2], strict=True):
        pairs.append((json.loads(action), json.loads(doc)))
    return pairs


def test_ecs_is_a_bulk_body_of_typed_ecs_documents(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    result = fake_result(24)
    write_ecs(result, path)
    pairs = read_bulk(path)
    assert len(pairs) == 24
    ids = set()
    for action, doc in pairs:
        assert list(action) == ["create"] and set(action["create"]) == {"_id"}  # type: ignore[arg-type]
        ids.add(action["create"]["_id"])  # type: ignore[index]
        flat = flatten(doc)
        for name, value in flat.items():
            if name.startswith(("winlog.", "lotlhunt.")):
                assert isinstance(value, str | int | list)
                continue
            check_ecs_type(name, value)
        assert doc["event"]["kind"] == "alert"  # type: ignore[index]
        assert flat["threat.framework"] == "MITRE ATT&CK"
    assert len(ids) == 24, "every alert has its own id"
    first = pairs[0][1]
    assert flatten(first)["process.command_line"].startswith("netsh interface portproxy")  # type: ignore[union-attr]
    assert flatten(first)["user.name"] == "svc_backup"
    assert flatten(first)["threat.technique.id"] == ["T1090"]
    assert flatten(first)["threat.technique.subtechnique.id"] == ["T1090.001"]
    assert flatten(first)["threat.tactic.name"] == ["Command and Control"]
    assert flatten(first)["lotlhunt.incident_id"] == "INC-0001"


def test_ecs_ip_and_number_fields_only_hold_what_their_type_takes(tmp_path: Path) -> None:
    base = fake_result(1).detections[0]
    odd = Detection(
        **{
            **base.__dict__,
            "details": {"IpAddress": "-", "IpPort": "x", "ProcessId": "0x1f4", "SourceIp": "::1"},
            "fields": {"NewProcessId": "99999999999999999999999"},
        }
    )
    result = fake_result(1)
    result.detections[0] = odd
    path = tmp_path / "a.ndjson"
    write_ecs(result, path)
    doc = flatten(read_bulk(path)[0][1])
    assert doc["source.ip"] == "::1" and "source.port" not in doc
    assert doc["process.pid"] == 500
    for name, value in doc.items():
        if not name.startswith(("winlog.", "lotlhunt.")):
            check_ecs_type(name, value)


# -- CSV timeline --------------------------------------------------------------------------


def test_csv_has_timeline_explorer_columns_key_fields_and_incident(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_csv(fake_result(8), path)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    first = rows[0]
    assert first["Timestamp"] == "2026-02-23 01:00:00.000000 +00:00"
    assert "SubjectUserName: svc_backup" in first["Details"]
    assert first["ExtraFieldInfo"] == "Image: C:\\Windows\\System32\\netsh.exe"
    assert first["IncidentID"] == "INC-0001" and first["MitreTags"] == "T1090.001"
    assert first["MitreTactics"] == "command-and-control"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\uff1d"])
def test_csv_no_cell_starts_a_formula(tmp_path: Path, start: str) -> None:
    payload = start + 'HYPERLINK("http://x","y")'
    path = tmp_path / "t.csv"
    write_csv(fake_result(6, hostile=payload), path)
    # The hostile text lands in host, title, tags, file, fields: make it lead each cell.
    result = fake_result(6)
    d = result.detections[0]
    result.detections[0] = Detection(
        **{
            **d.__dict__,
            "host": payload,
            "channel": payload,
            "rule_title": payload,
            "rule_id": payload,
            "tags": (payload,),
            "source": payload,
            "matched": (payload,),
            "details": {"A": "x"},
            "fields": {},
        }
    )
    write_csv(result, path)
    with path.open(encoding="utf-8", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d"))]
    assert cells.count("'" + payload) >= 6  # host, channel, title, id, tags, file


def test_every_registered_report_writes_a_file(tmp_path: Path) -> None:
    result = fake_result(6)
    for name, report in REPORTS.items():
        path = tmp_path / f"out.{name}"
        report.writer(result, path)
        assert path.stat().st_size > 0, name
