"""``lotlhunt logons``: successful and failed logons grouped by account, type, source and
target, with counts, first/last seen, and new paths late in the logs marked."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from corpus import require_corpus
from lotlhunt.analytics.logon_summary import COLUMNS, LOGON_FIELDS, summarise_logons
from lotlhunt.cli import cli
from lotlhunt.engines.duckdb import DuckDBEngine
from lotlhunt.events import schema
from lotlhunt.hunt import read_into

START = datetime(2026, 3, 1, tzinfo=UTC)


def logon(
    at: datetime,
    target: str,
    user: str,
    domain: str = "CORP",
    kind: str = "3",
    ip: str = "-",
    workstation: str = "-",
    event_id: int = 4624,
) -> dict[str, object]:
    return {
        schema.TIMESTAMP: at,
        schema.HOST: target,
        schema.EVENT_ID: event_id,
        "TargetUserName": user,
        "TargetDomainName": domain,
        "LogonType": kind,
        "IpAddress": ip,
        "WorkstationName": workstation,
    }


def table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.table(
        {
            schema.TIMESTAMP: pa.array(
                [r[schema.TIMESTAMP] for r in rows], pa.timestamp("us", tz="UTC")
            ),
            schema.HOST: pa.array([r[schema.HOST] for r in rows], pa.string()),
            schema.EVENT_ID: pa.array([r[schema.EVENT_ID] for r in rows], pa.int32()),
            **{f: pa.array([r[f] for r in rows], pa.string()) for f in LOGON_FIELDS},
        }
    )


def habits(seed: int = 1) -> list[dict[str, object]]:
    """Ten days of an administrator's and a service's routine, plus one new path (an
    account first used from ws17 against the domain controller on the last day)."""
    rng = random.Random(seed)
    rows = []
    for day in range(10):
        for _ in range(rng.randrange(3, 6)):
            at = START + timedelta(days=day, minutes=rng.randrange(600))
            user = rng.choice(["admin", "ADMIN"])  # one account, two spellings
            rows.append(logon(at, "dc01.corp.local", user, ip="10.0.0.5", workstation="WS01"))
        rows.append(logon(START + timedelta(days=day), "fs01", "svc_backup", kind="5", ip="::1"))
    rows.append(
        logon(START + timedelta(days=9, hours=20), "dc01.corp.local", "admin", ip="10.0.0.17")
    )
    for minute in range(4):
        rows.append(
            logon(
                START + timedelta(days=9, hours=19, minutes=minute),
                "dc01.corp.local",
                "administrator",
                ip="10.0.0.17",
                event_id=4625,
            )
        )
    return rows


def test_logons_are_grouped_and_counted() -> None:
    rows = habits()
    summary = summarise_logons(table(rows))
    out = summary.table.to_pylist()
    assert summary.logons == len(rows)
    assert sum(r["count"] for r in out) == len(rows)
    routine = [r for r in out if r["source_ip"] == "10.0.0.5"]
    # "admin" and "ADMIN" are one account; the first spelling seen names it.
    assert len(routine) == 1
    admin = [r for r in rows if r["IpAddress"] == "10.0.0.5"]
    assert routine[0]["count"] == len(admin)
    assert routine[0]["account"] in ("CORP\\admin", "CORP\\ADMIN")
    assert routine[0]["logon_type"] == "3 Network"
    assert routine[0]["source_host"] == "WS01"
    assert routine[0]["first"] == min(r["timestamp"] for r in admin)
    assert routine[0]["last"] == max(r["timestamp"] for r in admin)
    service = [r for r in out if r["account"] == "CORP\\svc_backup"]
    # "-" and loopback addresses are no source at all.
    assert service[0]["source_ip"] is None and service[0]["source_host"] is None
    assert service[0]["logon_type"] == "5 Service" and service[0]["count"] == 10
    failed = [r for r in out if r["outcome"] == "failure"]
    assert [(r["account"], r["count"]) for r in failed] == [("CORP\\administrator", 4)]


def test_new_paths_late_in_the_logs_are_marked() -> None:
    summary = summarise_logons(table(habits()), late_share=0.2)
    late = [r for r in summary.table.to_pylist() if r["late"]]
    # The new source for admin, and the failures from it; never the daily routine,
    # though it goes on late in the logs too.
    assert {(r["outcome"], r["account"].lower(), r["source_ip"]) for r in late} == {
        ("success", "corp\\admin", "10.0.0.17"),
        ("failure", "corp\\administrator", "10.0.0.17"),
    }
    assert summary.table.column("late").to_pylist()[: len(late)] == [True] * len(late)
    assert summary.late_from is not None and summary.last is not None
    assert summary.late_from == summary.last - (summary.last - summary.first) * 0.2
    # With a narrower window the failures at 19:00 are no longer late, the logon at 20:00 is.
    narrow = summarise_logons(table(habits()), late_share=0.003)
    assert [r["outcome"] for r in narrow.table.to_pylist() if r["late"]] == ["success"]


def test_unknown_logon_types_and_missing_domains_show_as_they_are() -> None:
    rows = [
        logon(START, "h", "alice", domain="-", kind="42"),
        logon(START + timedelta(hours=1), "h", "-", domain="-", kind=""),
    ]
    out = summarise_logons(table(rows)).table.to_pylist()
    assert {(r["account"], r["logon_type"]) for r in out} == {("alice", "42"), ("?", None)}
    assert summarise_logons(table([])).logons == 0
    with pytest.raises(ValueError):
        summarise_logons(table(rows), late_share=1.5)


def test_engine_gives_the_logon_events_of_the_security_channel() -> None:
    rows = habits()
    events = table(rows)
    batch = events.append_column(schema.CHANNEL, pa.array(["SECURITY"] * events.num_rows))
    extra = pa.table(
        {
            schema.TIMESTAMP: pa.array([START], pa.timestamp("us", tz="UTC")),
            schema.HOST: ["x"],
            schema.EVENT_ID: pa.array([4624], pa.int32()),
            schema.CHANNEL: ["Microsoft-Windows-Sysmon/Operational"],
        }
    )
    engine = DuckDBEngine()
    try:
        engine.ingest(batch.to_batches()[0])
        engine.ingest(extra.to_batches()[0])
        got = engine.events_of("Security", [4624, 4625], [*LOGON_FIELDS, "NoSuchField"])
    finally:
        engine.close()
    assert got.num_rows == len(rows)
    assert got.column("NoSuchField").null_count == len(rows)
    assert Counter(got.column("TargetUserName").to_pylist()) == Counter(
        r["TargetUserName"] for r in rows
    )


def write_logs(folder: Path) -> None:
    folder.mkdir()
    lines = []
    for row in habits():
        lines.append(
            {
                "@timestamp": row[schema.TIMESTAMP].isoformat(),  # type: ignore[union-attr]
                "Hostname": row[schema.HOST],
                "Channel": "Security",
                "EventID": row[schema.EVENT_ID],
                **{f: row[f] for f in LOGON_FIELDS},
            }
        )
    lines.append(
        {"@timestamp": START.isoformat(), "Hostname": "dc01", "Channel": "System", "EventID": 7045}
    )
    (folder / "a.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def test_logons_command(tmp_path: Path) -> None:
    write_logs(tmp_path / "logs")
    runner = CliRunner()
    env = {"COLUMNS": "300"}
    out, case = tmp_path / "l.csv", tmp_path / "case.duckdb"
    args = ["logons", str(tmp_path / "logs"), "--workers", "1", "--case", str(case)]
    result = runner.invoke(cli, [*args, "--csv", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "marked late" in result.output and "10.0.0.17" in result.output
    rows = list(csv.DictReader(out.open()))
    assert sum(int(r["count"]) for r in rows) == len(habits())
    # Only logon events, and of their fields only those a summary reads, were stored.
    engine = DuckDBEngine(str(case))
    try:
        assert engine.count_events() == len(habits())
        assert set(engine.field_columns()) == set(LOGON_FIELDS)
    finally:
        engine.close()
    jsonl = tmp_path / "l.jsonl"
    result = runner.invoke(
        cli, ["logons", "--case", str(case), "--late-only", "--jsonl", str(jsonl)], env=env
    )
    assert result.exit_code == 0, result.output
    late = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert {r["source_ip"] for r in late} == {"10.0.0.17"} and all(r["late"] for r in late)
    result = runner.invoke(
        cli, ["logons", "--case", str(case), "--failed-only", "--jsonl", str(jsonl)], env=env
    )
    assert {json.loads(x)["outcome"] for x in jsonl.read_text().splitlines()} == {"failure"}
    result = runner.invoke(cli, ["logons", "--case", str(case), "--event-id", "4688"], env=env)
    assert result.exit_code == 2


@pytest.mark.corpus
def test_logons_of_the_attack_samples() -> None:
    samples = require_corpus("evtx-attack-samples")
    engine = DuckDBEngine()
    try:
        read_into(engine, [samples])
        events = engine.events_of("Security", [4624, 4625], LOGON_FIELDS)
    finally:
        engine.close()
    summary = summarise_logons(events)
    out = summary.table.to_pylist()
    assert summary.logons == events.num_rows > 50
    assert sum(r["count"] for r in out) == summary.logons
    assert {r["outcome"] for r in out} == {"success", "failure"}
    assert any(r["logon_type"] == "3 Network" and r["source_ip"] for r in out)


def test_logs_without_logons_say_so(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    line = {
        "@timestamp": START.isoformat(),
        "Hostname": "dc01",
        "Channel": "System",
        "EventID": 7045,
    }
    (folder / "a.jsonl").write_text(json.dumps(line) + "\n")
    out = tmp_path / "l.csv"
    result = CliRunner().invoke(cli, ["logons", str(folder), "--workers", "1", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "No logon events" in result.output
    assert out.read_text().splitlines() == [",".join(COLUMNS)]
