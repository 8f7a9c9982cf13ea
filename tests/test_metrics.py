"""``lotlhunt stats``: events per host, channel and event id, per log, and the logsources
the logs can feed, rolled up in Arrow from one grouped engine query."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from corpus import require_corpus
from lotlhunt.analytics.metrics import compute_metrics
from lotlhunt.cli import cli
from lotlhunt.engines.duckdb import DuckDBEngine
from lotlhunt.events import schema
from lotlhunt.scope import EventScope

SYSMON = "Microsoft-Windows-Sysmon/Operational"
KINDS = [
    ("Security", "Microsoft-Windows-Security-Auditing", 4624),
    ("Security", "Microsoft-Windows-Security-Auditing", 4688),
    ("security", "Microsoft-Windows-Security-Auditing", 4625),  # another exporter's spelling
    (SYSMON, "Microsoft-Windows-Sysmon", 1),
    (SYSMON, "Microsoft-Windows-Sysmon", 3),
    ("Microsoft-Windows-PowerShell/Operational", "Microsoft-Windows-PowerShell", 4104),
    ("Custom/Operational", "Custom", 7),
]


def generated(n: int, seed: int = 5) -> pa.Table:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    kinds = [rng.choice(KINDS) for _ in range(n)]
    return pa.table(
        {
            schema.TIMESTAMP: pa.array(
                [start + timedelta(seconds=rng.randrange(86400 * 3)) for _ in range(n)],
                pa.timestamp("us", tz="UTC"),
            ),
            schema.HOST: pa.array([rng.choice(["dc01", "ws01", "ws02"]) for _ in range(n)]),
            schema.CHANNEL: pa.array([k[0] for k in kinds]),
            schema.PROVIDER: pa.array([k[1] for k in kinds]),
            schema.EVENT_ID: pa.array([k[2] for k in kinds], pa.int32()),
            schema.RECORD_ID: pa.array(range(n), pa.int64()),
            schema.SOURCE: pa.array([rng.choice(["a.evtx", "b.evtx", "c.json"]) for _ in range(n)]),
        }
    )


@pytest.fixture
def counted() -> tuple[pa.Table, pa.Table]:
    events = generated(5000)
    engine = DuckDBEngine()
    try:
        engine.ingest(events.to_batches()[0])
        return events, engine.event_counts()
    finally:
        engine.close()


def test_rollups_match_counting_the_events_one_by_one(counted: tuple[pa.Table, pa.Table]) -> None:
    events, counts = counted
    metrics = compute_metrics(counts)
    rows = events.to_pylist()
    assert metrics.total == 5000
    assert metrics.first == min(r["timestamp"] for r in rows)
    assert metrics.last == max(r["timestamp"] for r in rows)
    hosts = {r["host"]: r["events"] for r in metrics.hosts.to_pylist()}
    assert hosts == Counter(r["host"] for r in rows)
    assert metrics.hosts.column("events").to_pylist() == sorted(hosts.values(), reverse=True)
    per_id = {(r["channel"], r["event_id"]): r["events"] for r in metrics.event_ids.to_pylist()}
    assert per_id == Counter((r["channel"], r["event_id"]) for r in rows)
    assert sum(metrics.event_ids.column("percent").to_pylist()) == pytest.approx(100, abs=0.1)
    logs = {r["source"]: r for r in metrics.sources.to_pylist()}
    for name, log in logs.items():
        mine = [r for r in rows if r["source"] == name]
        assert log["events"] == len(mine)
        assert log["first"] == min(r["timestamp"] for r in mine)
        assert log["last"] == max(r["timestamp"] for r in mine)
        assert log["hosts"] == len({r["host"] for r in mine})
        assert log["channels"] == len({r["channel"] for r in mine})


def test_logsources_fed_follow_the_mapping(counted: tuple[pa.Table, pa.Table]) -> None:
    events, counts = counted
    metrics = compute_metrics(counts)
    rows = events.to_pylist()
    fed = {r["logsource"]: r for r in metrics.logsources.to_pylist()}

    def n(test: object) -> int:
        return sum(1 for r in rows if test(r))  # type: ignore[operator]

    # Sysmon 1 and Security 4688 feed process_creation; channels match in any case.
    assert fed["process_creation"]["events"] == n(
        lambda r: (r["channel"], r["event_id"]) in {(SYSMON, 1), ("Security", 4688)}
    )
    assert fed["process_creation"]["event_ids"] == "1, 4688"
    assert fed["security"]["events"] == n(lambda r: r["channel"].lower() == "security")
    assert fed["network_connection"]["events"] == n(lambda r: r["event_id"] == 3)
    assert fed["ps_script"]["events"] == n(lambda r: r["event_id"] == 4104)
    assert "dns_query" not in fed and "Custom/Operational" not in fed
    assert metrics.logsources_unfed > 40


def test_scope_limits_what_is_counted(counted: tuple[pa.Table, pa.Table]) -> None:
    events, _ = counted
    engine = DuckDBEngine()
    try:
        engine.ingest(events.to_batches()[0])
        metrics = compute_metrics(engine.event_counts(EventScope(hosts=("dc*",))))
    finally:
        engine.close()
    assert metrics.hosts.column("host").to_pylist() == ["dc01"]


def test_no_events_gives_empty_metrics() -> None:
    empty = pa.table(
        {
            "source": pa.array([], pa.string()),
            "host": pa.array([], pa.string()),
            "channel": pa.array([], pa.string()),
            "provider": pa.array([], pa.string()),
            "event_id": pa.array([], pa.int32()),
            "events": pa.array([], pa.int64()),
            "first": pa.array([], pa.timestamp("us", tz="UTC")),
            "last": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )
    metrics = compute_metrics(empty)
    assert metrics.total == 0 and metrics.first is None and metrics.hosts.num_rows == 0


def write_jsonl_logs(folder: Path) -> None:
    folder.mkdir()
    lines = [
        {
            "@timestamp": "2026-03-01T10:00:00Z",
            "Hostname": "dc01",
            "Channel": "Security",
            "EventID": 4624,
        },
        {
            "@timestamp": "2026-03-01T12:00:00Z",
            "Hostname": "dc01",
            "Channel": "Security",
            "EventID": 4625,
        },
        {"@timestamp": "2026-03-02T09:00:00Z", "Hostname": "ws01", "Channel": SYSMON, "EventID": 1},
    ]
    (folder / "a.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def test_stats_command_over_logs_and_over_a_case(tmp_path: Path) -> None:
    write_jsonl_logs(tmp_path / "logs")
    case, out = tmp_path / "case.duckdb", tmp_path / "m.jsonl"
    runner = CliRunner()
    env = {"COLUMNS": "300"}
    result = runner.invoke(
        cli, ["stats", str(tmp_path / "logs"), "--case", str(case), "--workers", "1"], env=env
    )
    assert result.exit_code == 0, result.output
    assert (
        "3 events from 2026-03-01T10:00:00.000000Z to 2026-03-02T09:00:00.000000Z" in result.output
    )
    assert "process_creation" in result.output
    result = runner.invoke(
        cli, ["stats", "--case", str(case), "--host", "dc*", "--jsonl", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["host"] for r in rows if r["table"] == "hosts"] == ["dc01"]
    assert {r["logsource"] for r in rows if r["table"] == "logsources"} >= {"security"}
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(cli, ["stats", str(empty)], env=env)
    assert result.exit_code == 1 and "no events" in result.output


@pytest.mark.corpus
def test_stats_of_the_attack_samples() -> None:
    samples = require_corpus("evtx-attack-samples")
    engine = DuckDBEngine()
    try:
        from lotlhunt.hunt import read_into

        read = read_into(engine, [samples])
        metrics = compute_metrics(engine.event_counts())
    finally:
        engine.close()
    assert metrics.total == read.records > 8000
    assert metrics.sources.num_rows == read.files
    fed = {r["logsource"]: r["events"] for r in metrics.logsources.to_pylist()}
    assert fed["process_creation"] > 1000 and fed["security"] > 1000
    hosts = {r["host"]: r["events"] for r in metrics.hosts.to_pylist()}
    assert sum(hosts.values()) == metrics.total


def test_stats_and_logons_print_hostile_names_safely(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    evil = "\x1b[2J[red]evil[/red]\u202e"
    line = {
        "@timestamp": "2026-03-01T10:00:00Z",
        "Hostname": evil,
        "Channel": "Security",
        "EventID": 4624,
        "TargetUserName": evil,
        "LogonType": "3",
    }
    (folder / "a.jsonl").write_text(json.dumps(line) + "\n")
    for command in ("stats", "logons"):
        result = CliRunner().invoke(
            cli, [command, str(folder), "--workers", "1"], env={"COLUMNS": "300"}
        )
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\u202e" not in result.output
        assert "[red]evil[/red]" in result.output


def test_known_event_ids_are_titled(counted: tuple[pa.Table, pa.Table]) -> None:
    _, counts = counted
    rows = compute_metrics(counts).event_ids.to_pylist()
    titles = {(r["channel"], r["event_id"]): r["title"] for r in rows}
    assert titles[("Security", 4624)] == "An account was successfully logged on"
    assert titles[("security", 4625)] == "An account failed to log on"  # any case
    assert titles[(SYSMON, 1)] == "Process creation"
    assert titles[("Custom/Operational", 7)] is None


def test_event_ids_print_without_thousands_separators(tmp_path: Path) -> None:
    write_jsonl_logs(tmp_path / "logs")
    result = CliRunner().invoke(
        cli, ["stats", str(tmp_path / "logs"), "--workers", "1"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0
    assert "4624" in result.output and "4,624" not in result.output
