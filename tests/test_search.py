"""``lotlhunt search``: keywords, field values, RE2 expressions and SQL, run in the engine,
over logs or a case, with the hunt's scope, and safe output everywhere."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from corpus import require_corpus
from lotlhunt.cli import cli
from lotlhunt.engines.duckdb.engine import DuckDBEngine

SYSMON = "Microsoft-Windows-Sysmon/Operational"
HOSTILE = "\x1b[31mred\x1b[0m [bold]markup[/bold] \u202etxt.exe"


def event(ts: str, host: str, **fields: object) -> dict[str, object]:
    return {"@timestamp": ts, "Hostname": host, **fields}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    lines = [
        event(
            "2026-03-01T10:00:00Z",
            "dc01.corp.local",
            Channel=SYSMON,
            EventID=1,
            Image="C:\\Windows\\System32\\netsh.exe",
            CommandLine="netsh interface portproxy add v4tov4 listenport=9999",
        ),
        event(
            "2026-03-01T10:01:00Z",
            "ws17.corp.local",
            Channel=SYSMON,
            EventID=1,
            Image="C:\\Windows\\System32\\netsh.exe",
            CommandLine="netsh interface show",
        ),
        event(
            "2026-03-01T10:02:00Z",
            "ws17.corp.local",
            Channel=SYSMON,
            EventID=1,
            Image="C:\\Windows\\System32\\cmd.exe",
            CommandLine="=cmd|' /C calc'!A0",
        ),
        event(
            "2026-03-01T11:00:00Z",
            "dc01.corp.local",
            Channel="Security",
            EventID=4624,
            TargetUserName="Administrator",
            LogonType="3",
        ),
        event(
            "2026-03-01T11:05:00Z",
            "dc01.corp.local",
            Channel="Security",
            EventID=4625,
            TargetUserName="svc_backup",
            LogonType="3",
            Comment=HOSTILE,
        ),
    ]
    (folder / "a.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", "utf-8")
    return folder


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(
        cli, ["search", *args, "--workers", "1"], catch_exceptions=False, env={"COLUMNS": "400"}
    )


def found(logs: Path, tmp: Path, *args: str) -> list[dict[str, object]]:
    out = tmp / "found.jsonl"
    result = run(str(logs), *args, "--jsonl", str(out))
    assert result.exit_code == 0, result.output
    return [json.loads(x) for x in out.read_text().splitlines()]


def commands(rows: list[dict[str, object]]) -> list[object]:
    return [r["fields"].get("CommandLine") for r in rows]  # type: ignore[union-attr]


def test_keywords_search_every_field_in_any_case(logs: Path, tmp_path: Path) -> None:
    rows = found(logs, tmp_path, "-k", "PORTPROXY")
    assert commands(rows) == ["netsh interface portproxy add v4tov4 listenport=9999"]
    # Any of several keywords, or all of them; host and channel count as text too.
    assert len(found(logs, tmp_path, "-k", "portproxy", "-k", "svc_backup")) == 2
    assert len(found(logs, tmp_path, "-k", "netsh", "-k", "ws17", "--all-keywords")) == 1
    assert len(found(logs, tmp_path, "-k", "sysmon/operational")) == 3


def test_fields_compare_exactly_without_regard_to_case(logs: Path, tmp_path: Path) -> None:
    rows = found(logs, tmp_path, "--field", "commandline=NETSH INTERFACE SHOW")
    assert commands(rows) == ["netsh interface show"]
    assert found(logs, tmp_path, "--field", "CommandLine=netsh interface") == []
    # One field's values are alternatives; different fields must all hold.
    assert len(found(logs, tmp_path, "-f", "EventID=4624", "-f", "eventid=4625")) == 2
    rows = found(
        logs,
        tmp_path,
        "-f",
        "EventID=4624",
        "-f",
        "EventID=4625",
        "-f",
        "TargetUserName=SVC_BACKUP",
    )
    assert [r["event_id"] for r in rows] == [4625]


def test_regular_expressions_are_re2(logs: Path, tmp_path: Path) -> None:
    rows = found(logs, tmp_path, "--regex", r"CommandLine=listenport=\d{4}$")
    assert len(rows) == 1
    assert len(found(logs, tmp_path, "--regex", "Image=(?i)NETSH\\.exe$")) == 2
    assert len(found(logs, tmp_path, "--regex", "*=svc_\\w+")) == 1
    # Not RE2 (a backreference): refused before any log is read.
    result = run(str(logs), "--regex", r"CommandLine=(a)\1")
    assert result.exit_code == 2 and "RE2" in result.output
    assert run(str(logs), "--field", "no-equals-sign").exit_code == 2


def test_scope_applies_to_search(logs: Path, tmp_path: Path) -> None:
    assert len(found(logs, tmp_path, "-k", "netsh", "--host", "WS*")) == 1
    assert len(found(logs, tmp_path, "--event-id", "4624", "--event-id", "4625")) == 2
    assert len(found(logs, tmp_path, "--from", "2026-03-01T10:30Z")) == 2


def test_sql_is_one_select_over_the_events(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    result = run(
        str(logs),
        "--sql",
        "SELECT host, count(*) AS n FROM events GROUP BY host ORDER BY n DESC, host",
        "--jsonl",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(x) for x in out.read_text().splitlines()] == [
        {"host": "dc01.corp.local", "n": 3},
        {"host": "ws17.corp.local", "n": 2},
    ]
    # The view holds only the events the other options keep.
    result = run(
        str(logs), "--sql", "SELECT count(*) AS n FROM events", "-k", "netsh", "--jsonl", str(out)
    )
    assert json.loads(out.read_text()) == {"n": 2}


@pytest.mark.parametrize(
    "sql, why",
    [
        ("DROP TABLE events", "SELECT statement only"),
        ("SELECT 1; DELETE FROM events", "one SELECT statement"),
        ("COPY events TO '/tmp/x.csv'", "SELECT statement only"),
        ("SELECT * FROM read_text('/etc/hostname')", "disabled by configuration"),
        ("SELECT * FROM query('DELETE FROM events')", "--sql failed"),
        ("SELEC 1", "does not parse"),
    ],
)
def test_sql_that_is_not_a_plain_select_is_refused(
    logs: Path, tmp_path: Path, sql: str, why: str
) -> None:
    case = tmp_path / "case.duckdb"
    assert run(str(logs), "--case", str(case)).exit_code == 0
    result = run("--case", str(case), "--sql", sql)
    assert result.exit_code == 2
    assert why in result.output
    engine = DuckDBEngine(str(case))
    try:
        assert engine.count_events() == 5
    finally:
        engine.close()


def test_search_a_case_without_reading_logs(logs: Path, tmp_path: Path) -> None:
    case = tmp_path / "case.duckdb"
    assert run(str(logs), "--case", str(case)).exit_code == 0
    out = tmp_path / "c.jsonl"
    result = run("--case", str(case), "-k", "portproxy", "--jsonl", str(out))
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 1
    assert run("--case", str(tmp_path / "missing.duckdb")).exit_code == 2


def test_outputs_hold_every_field_and_are_safe(logs: Path, tmp_path: Path) -> None:
    jsonl, table = tmp_path / "s.jsonl", tmp_path / "s.csv"
    result = run(str(logs), "--jsonl", str(jsonl), "--csv", str(table))
    assert result.exit_code == 0
    rows = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    # Each event has its own fields only, none of the other events' (NULL) columns.
    assert rows[-1]["fields"]["Comment"] == HOSTILE
    assert "CommandLine" not in rows[-1]["fields"] and "Comment" not in rows[0]["fields"]
    assert all(v is not None for r in rows for v in r["fields"].values())
    assert set(rows[0]) == {
        "timestamp",
        "host",
        "channel",
        "provider",
        "event_id",
        "record_id",
        "source",
        "position",
        "fields",
    }
    cells = list(csv.DictReader(table.open(encoding="utf-8")))
    assert len(cells) == 5
    formula = [c for c in cells if "calc" in c["fields"]]
    assert json.loads(formula[0]["fields"])["CommandLine"] == "=cmd|' /C calc'!A0"
    csv_text = table.read_text("utf-8")
    assert "\n=" not in csv_text and ",=" not in csv_text
    # The terminal gets neither escape sequences nor markup from a log.
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "\\e[31mred" in result.output
    assert "[bold]markup[/bold]" in result.output


def test_sql_cells_are_made_safe_in_csv(logs: Path, tmp_path: Path) -> None:
    table = tmp_path / "q.csv"
    result = run(
        str(logs),
        "--sql",
        "SELECT CommandLine AS c FROM events WHERE c LIKE '=%'",
        "--csv",
        str(table),
    )
    assert result.exit_code == 0, result.output
    assert list(csv.reader(table.open())) == [["c"], ["'=cmd|' /C calc'!A0"]]


def test_a_field_no_event_has_is_said(logs: Path) -> None:
    result = run(str(logs), "--field", "NoSuchField=x")
    assert result.exit_code == 0
    assert "no event has a field named 'NoSuchField'" in result.output
    assert "0 events" in result.output


def test_terminal_shows_the_first_rows_and_the_count(logs: Path) -> None:
    result = run(str(logs), "--limit", "2")
    assert result.exit_code == 0
    assert "5 events (first 2)" in result.output


@pytest.mark.corpus
def test_search_of_the_attack_samples_agrees_with_a_scan_of_every_event(tmp_path: Path) -> None:
    """Every event exported, then scanned in Python: the oracle for the engine's
    keyword, field and regular expression tests."""
    import re

    samples = require_corpus("evtx-attack-samples")
    case = tmp_path / "case.duckdb"
    everything = found(samples, tmp_path, "--case", str(case))
    assert len(everything) > 8000

    def text(event: dict[str, object]) -> str:
        fields = event["fields"]
        assert isinstance(fields, dict)
        core = [event["host"], event["channel"], event["provider"], event["event_id"]]
        return "\n".join(str(v) for v in [*core, *fields.values()] if v is not None).lower()

    def ids(rows: list[dict[str, object]]) -> list[tuple[object, object]]:
        return sorted((r["source"], r["position"]) for r in rows)

    def search(*args: str) -> list[tuple[object, object]]:
        out = tmp_path / "hits.jsonl"
        result = run("--case", str(case), *args, "--jsonl", str(out))
        assert result.exit_code == 0, result.output
        return ids([json.loads(x) for x in out.read_text().splitlines()])

    hits = search("-k", "MimiKatz")
    assert hits == ids([e for e in everything if "mimikatz" in text(e)]) and hits
    logon_type = [
        e
        for e in everything
        if e["event_id"] == 4624 and str(e["fields"].get("LogonType", "")).lower() == "10"  # type: ignore[union-attr]
    ]
    assert search("-f", "eventid=4624", "-f", "logontype=10") == ids(logon_type)
    pattern = re.compile(r"\\(psexesvc|paexec)[^\\]*\.exe$", re.IGNORECASE)
    expected = [
        e
        for e in everything
        if any(
            k.lower() == "image" and isinstance(v, str) and pattern.search(v)
            for k, v in e["fields"].items()  # type: ignore[union-attr]
        )
    ]
    assert search("-r", r"Image=(?i)\\(psexesvc|paexec)[^\\]*\.exe$") == ids(expected)
    assert expected and logon_type


@pytest.mark.parametrize("command", ["search", "stats", "logons"])
def test_every_reading_command_lists_its_input_problems(
    logs: Path, tmp_path: Path, command: str
) -> None:
    with (logs / "b.jsonl").open("w") as out:
        out.write('{"@timestamp": "2026-03-01T12:00:00Z", "EventID": 1}\n{broken\n')
    (logs / "README.md").write_text("not a log")
    issues = tmp_path / "issues.jsonl"
    result = CliRunner().invoke(
        cli,
        [command, str(logs), "--workers", "1", "--issues", str(issues)],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in issues.read_text().splitlines()]
    assert [(r["kind"], Path(r["file"]).name, r["position"]) for r in rows] == [
        ("record", "b.jsonl", 2),
        ("skipped", "README.md", None),
    ]
    assert "README.md" in result.output and "1 failed" in result.output
