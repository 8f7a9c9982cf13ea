"""The command line end to end, on logs and rules the tests write themselves."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from lotlhunt.cli import cli

RULE = """
title: Netsh Portproxy Added
id: 7f3f3a5e-1111-4c8e-9b57-0a0b0c0d0e01
status: experimental
level: high
tags: [attack.command-and-control, attack.t1090.001]
logsource: {product: windows, category: process_creation}
detection:
  selection:
    Image|endswith: '\\netsh.exe'
    CommandLine|contains|all: [portproxy, add]
  condition: selection
"""

BURST = """
title: Failed Logon
id: 7f3f3a5e-2222-4c8e-9b57-0a0b0c0d0e02
name: failed_logon
level: low
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
---
title: Logon Failure Burst
id: 7f3f3a5e-3333-4c8e-9b57-0a0b0c0d0e03
level: medium
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 5m
  condition: {gte: 3}
"""


def event(ts: str, **fields: object) -> dict[str, object]:
    return {"@timestamp": ts, "Hostname": "dc01.corp.local", **fields}


def write_logs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sysmon = "Microsoft-Windows-Sysmon/Operational"
    lines = [
        event(
            "2026-03-01T10:00:00Z",
            Channel=sysmon,
            EventID=1,
            Image="C:\\Windows\\System32\\netsh.exe",
            CommandLine="netsh interface portproxy add v4tov4 listenport=9999",
        ),
        event(
            "2026-03-01T10:01:00Z",
            Channel=sysmon,
            EventID=1,
            Image="C:\\Windows\\System32\\netsh.exe",
            CommandLine="netsh interface show",
        ),
    ]
    lines += [
        event(
            f"2026-03-01T11:0{i}:00Z", Channel="Security", EventID=4625, TargetUserName="svc_backup"
        )
        for i in range(3)
    ]
    (folder / "a.jsonl").write_text(
        "\n".join(json.dumps(x) for x in lines) + "\n{not json\n", "utf-8"
    )
    with zipfile.ZipFile(folder / "b.zip", "w") as zf:
        zf.writestr("inner.json", json.dumps([lines[0]]))
        zf.writestr("capture.pcap", b"\xd4\xc3\xb2\xa1binary")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    write_logs(tmp_path / "logs")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "portproxy.yml").write_text(RULE, "utf-8")
    (tmp_path / "rules" / "burst.yml").write_text(BURST, "utf-8")
    return tmp_path


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_hunt_writes_jsonl_csv_and_stats(workspace: Path) -> None:
    out = workspace / "out"
    out.mkdir()
    result = run(
        "hunt",
        str(workspace / "logs"),
        "--rules",
        str(workspace / "rules"),
        "--no-default-rules",
        "--jsonl",
        str(out / "d.jsonl"),
        "--csv",
        str(out / "t.csv"),
        "--stats",
        str(out / "s.json"),
        "--workers",
        "1",
    )
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "s.json").read_text())
    # 5 good lines + 1 broken line in a.jsonl, 1 event in the zip member; the pcap skipped.
    assert stats["records"] == 6 and stats["records_failed"] == 1
    assert stats["files_skipped"] == 1
    assert stats["rules_loaded"] == 3 and stats["rules_failed"] == 0
    lines = [json.loads(x) for x in (out / "d.jsonl").read_text().splitlines()]
    plain = [x for x in lines if x.get("type") != "correlation"]
    corr = [x for x in lines if x.get("type") == "correlation"]
    assert {x["rule_title"] for x in plain} == {"Netsh Portproxy Added"}
    assert sorted(x["source"].rsplit("/", 1)[-1] for x in plain) == ["a.jsonl", "b.zip!inner.json"]
    first = plain[0]
    assert first["timestamp"] == "2026-03-01T10:00:00.000000Z"
    assert first["fields"]["CommandLine"].startswith("netsh interface portproxy add")
    assert first["host"] == "dc01.corp.local" and first["event_id"] == 1
    # The base rule feeds a generate:false correlation, so it stays quiet on its own.
    assert len(corr) == 1 and corr[0]["correlation"]["value"] == 3
    assert corr[0]["correlation"]["group"] == {"TargetUserName": "svc_backup"}
    assert len(corr[0]["correlation"]["events"]) == 3
    assert stats["detections"] == 2 and stats["correlations"] == 1
    rows = list(csv.DictReader((out / "t.csv").open()))
    assert [r["RuleTitle"] for r in rows] == ["Netsh Portproxy Added"] * 2


def test_strict_fails_on_input_problems(workspace: Path) -> None:
    args = [
        "hunt",
        str(workspace / "logs"),
        "--rules",
        str(workspace / "rules"),
        "--no-default-rules",
        "--workers",
        "1",
    ]
    assert run(*args).exit_code == 0
    assert run(*args, "--strict").exit_code == 1


def test_the_hunt_process_ends_with_its_status_and_every_output_whole(
    workspace: Path, tmp_path: Path
) -> None:
    # The entry point ends a finished hunt without the interpreter's teardown: its
    # status, what it printed and the files it wrote must all be there, and its
    # processes must not have imported pandas.
    out = tmp_path / "d.jsonl"
    code = (
        "import sys; from lotlhunt.cli import main; main()\n"
        "import pandas  # never reached: main ends the process\n"
    )
    args = [
        sys.executable,
        "-c",
        "import atexit, sys\n"
        "atexit.register(lambda: print('pandas' in sys.modules, file=sys.stderr))\n" + code,
        "hunt",
        str(workspace / "logs"),
        "--rules",
        str(workspace / "rules"),
        "--no-default-rules",
        "--workers",
        "1",
        "--jsonl",
        str(out),
    ]
    env = {**os.environ, "LOTLHUNT_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Netsh Portproxy Added" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "False"  # the exit handlers ran
    assert len(out.read_text("utf-8").splitlines()) == 3  # 2 detections, 1 correlation
    strict = subprocess.run([*args, "--strict"], capture_output=True, env=env, timeout=120)
    assert strict.returncode == 1


def test_invalid_rule_is_reported_and_hunt_goes_on(workspace: Path) -> None:
    (workspace / "rules" / "broken.yml").write_text("title: x\ndetection: [unclosed\n", "utf-8")
    stats = workspace / "s.json"
    result = run(
        "hunt",
        str(workspace / "logs"),
        "--rules",
        str(workspace / "rules"),
        "--no-default-rules",
        "--stats",
        str(stats),
        "--workers",
        "1",
    )
    assert result.exit_code == 0
    data = json.loads(stats.read_text())
    assert data["rules_failed"] == 1 and data["detections"] == 2
    assert "broken.yml" in result.output


def test_usage_errors_exit_2(workspace: Path) -> None:
    assert run("hunt", str(workspace / "missing")).exit_code == 2
    assert run("hunt").exit_code == 2
    assert run("hunt", str(workspace / "logs"), "--workers", "0").exit_code == 2


def test_case_file_rehunts_without_logs(workspace: Path) -> None:
    case = workspace / "case.duckdb"
    first = run(
        "hunt",
        str(workspace / "logs"),
        "--case",
        str(case),
        "--no-default-rules",
        "--rules",
        str(workspace / "rules"),
        "--workers",
        "1",
    )
    assert first.exit_code == 0
    stats = workspace / "again.json"
    again = run(
        "hunt",
        "--case",
        str(case),
        "--no-default-rules",
        "--rules",
        str(workspace / "rules" / "portproxy.yml"),
        "--stats",
        str(stats),
    )
    assert again.exit_code == 0, again.output
    data = json.loads(stats.read_text())
    assert data["records"] == 6 and data["records_failed"] == 1 and data["detections"] == 2


def test_default_pack_runs(workspace: Path) -> None:
    result = run("hunt", str(workspace / "logs"), "--workers", "1")
    assert result.exit_code == 0
    assert "detections" in result.output


def test_exclusions_tune_a_rule_without_editing_it(workspace: Path) -> None:
    excl = workspace / "exclusions.yml"
    excl.write_text(
        "exclusions:\n"
        "  - rule: 7f3f3a5e-1111-4c8e-9b57-0a0b0c0d0e01\n"
        "    reason: lab relay\n"
        "    match:\n"
        "      CommandLine|contains: 'listenport=9999'\n",
        "utf-8",
    )
    stats = workspace / "s.json"
    result = run(
        "hunt",
        str(workspace / "logs"),
        "--rules",
        str(workspace / "rules"),
        "--no-default-rules",
        "--exclusions",
        str(excl),
        "--stats",
        str(stats),
        "--workers",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(stats.read_text())["detections"] == 0


def test_explain_shows_matched_selections(workspace: Path) -> None:
    result = run(
        "hunt",
        str(workspace / "logs"),
        "--rules",
        str(workspace / "rules"),
        "--no-default-rules",
        "--explain",
        "--workers",
        "1",
    )
    assert result.exit_code == 0
    assert "selection" in result.output and "portproxy" in result.output


def test_rules_check_lists_failures_and_blind_rules(workspace: Path) -> None:
    (workspace / "rules" / "broken.yml").write_text("title: x\ndetection: [unclosed\n", "utf-8")
    case = workspace / "case.duckdb"
    assert (
        run(
            "hunt",
            str(workspace / "logs"),
            "--case",
            str(case),
            "--no-default-rules",
            "--workers",
            "1",
        ).exit_code
        == 0
    )
    result = run(
        "rules",
        "check",
        str(workspace / "rules"),
        "--no-default-rules",
        "--case",
        str(case),
        "--json",
        "--all",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    states = {r["rule"].split(" (")[0]: r for r in rows}
    assert any(r["state"] == "failed" and "broken.yml" in r["path"] for r in rows)
    assert states["Netsh Portproxy Added"]["events_in_case"] == 3  # Sysmon 1 events
    assert states["Logon Failure Burst"]["state"] == "correlation"


def test_pandas_is_kept_out_until_let_in() -> None:
    # The command line's processes refuse pandas (pyarrow and DuckDB only import it to
    # check what they are handed); what needs it (Spark) lets it in, and it then works.
    code = """
import sys
from lotlhunt._support.no_pandas import keep_pandas_out, let_pandas_in
keep_pandas_out()
import duckdb, pyarrow as pa
con = duckdb.connect()
con.register("t", pa.table({"a": [1, 2]}))
assert con.execute("SELECT sum(a) FROM t WHERE a > ?", [0]).fetchone() == (3,)
assert "pandas" not in sys.modules
try:
    import pandas
except ImportError:
    pass
else:
    raise SystemExit("pandas was imported")
let_pandas_in()
print(pa.table({"a": [1, 2]}).to_pandas()["a"].sum())
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"
