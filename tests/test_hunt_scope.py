"""``hunt`` with a scope (time, host, event id, level, tag), and the friction a new user
met: inputs without events, problems that can be listed, ``-h``, honest progress bars."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from lotlhunt.cli import RichProgress, cli
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.scope import EventScope
from test_cli import BURST, RULE, write_logs


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    write_logs(tmp_path / "logs")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "portproxy.yml").write_text(RULE, "utf-8")
    (tmp_path / "rules" / "burst.yml").write_text(BURST, "utf-8")
    return tmp_path


def run(*args: str) -> click.testing.Result:
    # Wide enough that no message is wrapped.
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "400"})


def hunt_args(workspace: Path, *more: str) -> list[str]:
    return [
        "hunt",
        str(workspace / "logs"),
        "--rules",
        str(workspace / "rules"),
        "--no-default-rules",
        "--workers",
        "1",
        *more,
    ]


def stored(case: Path) -> int:
    engine = DuckDBEngine(str(case))
    try:
        return engine.count_events()
    finally:
        engine.close()


def test_scope_is_applied_while_reading_so_fewer_events_are_stored(workspace: Path) -> None:
    whole, narrow = workspace / "whole.duckdb", workspace / "narrow.duckdb"
    stats = workspace / "s.json"
    assert run(*hunt_args(workspace, "--case", str(whole))).exit_code == 0
    result = run(
        *hunt_args(
            workspace,
            "--case",
            str(narrow),
            "--from",
            "2026-03-01T10:00:30Z",
            "--to",
            "2026-03-01T11:01:30Z",
            "--stats",
            str(stats),
        )
    )
    assert result.exit_code == 0, result.output
    # 6 events read: the first netsh one (10:00) and the last failed logon (11:02) are out.
    assert stored(whole) == 6
    assert stored(narrow) == 3
    data = json.loads(stats.read_text())
    assert data["records"] == 6 and data["records_out_of_scope"] == 3
    assert "3 records outside" in result.output


def test_host_and_event_id_scope(workspace: Path) -> None:
    stats = workspace / "s.json"
    result = run(
        *hunt_args(workspace, "--host", "DC0?.*", "--event-id", "1", "--stats", str(stats))
    )
    assert result.exit_code == 0, result.output
    data = json.loads(stats.read_text())
    assert data["records_out_of_scope"] == 3 and data["detections"] == 2
    other = run(*hunt_args(workspace, "--host", "ws*", "--stats", str(stats)))
    assert other.exit_code == 0
    assert json.loads(stats.read_text())["detections"] == 0


def test_rehunt_of_a_case_takes_the_scope_in_the_engine(workspace: Path) -> None:
    case = workspace / "case.duckdb"
    assert run(*hunt_args(workspace, "--case", str(case))).exit_code == 0
    stats = workspace / "s.json"
    args = ["hunt", "--case", str(case), "--no-default-rules", "--rules", str(workspace / "rules")]
    assert run(*args, "--stats", str(stats)).exit_code == 0
    assert json.loads(stats.read_text())["detections"] == 2
    assert run(*args, "--stats", str(stats), "--from", "2026-03-01T10:00:30Z").exit_code == 0
    data = json.loads(stats.read_text())
    # Both portproxy events are at 10:00; the three failed logons still correlate.
    assert data["detections"] == 0 and data["correlations"] == 1
    assert run(*args, "--stats", str(stats), "--to", "2026-03-01T11:01:30Z").exit_code == 0
    assert json.loads(stats.read_text())["correlations"] == 0  # two failed logons left
    assert stored(case) == 6  # the case itself is left as it was


def test_min_level_and_tag_choose_rules_and_keep_correlations_fed(workspace: Path) -> None:
    out = workspace / "d.jsonl"
    assert run(*hunt_args(workspace, "--min-level", "high", "--jsonl", str(out))).exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {x["rule_title"] for x in lines} == {"Netsh Portproxy Added"}
    # The correlation (medium) is kept and still fed by its low base rule, which stays quiet.
    assert run(*hunt_args(workspace, "--min-level", "medium", "--jsonl", str(out))).exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["rule_title"] for x in lines if x.get("type") == "correlation"] == [
        "Logon Failure Burst"
    ]
    assert run(*hunt_args(workspace, "--tag", "attack.t1090", "--jsonl", str(out))).exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {x["rule_title"] for x in lines} == {"Netsh Portproxy Added"}
    assert run(*hunt_args(workspace, "--tag", "attack.t1003", "--jsonl", str(out))).exit_code == 0
    assert out.read_text() == ""


def test_bad_scope_is_a_usage_error(workspace: Path) -> None:
    assert run(*hunt_args(workspace, "--from", "last tuesday")).exit_code == 2
    assert run(*hunt_args(workspace, "--from", "1d", "--to", "2d")).exit_code == 2
    assert run(*hunt_args(workspace, "--min-level", "severe")).exit_code == 2


def test_inputs_without_events_are_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("hunt", str(empty), "--no-default-rules", "--workers", "1")
    assert result.exit_code == 1
    assert "no events in the inputs" in result.output
    (empty / "notes.md").write_text("# not a log\n")
    (empty / "broken.jsonl").write_text("{not json\n")
    result = run("hunt", str(empty), "--no-default-rules", "--workers", "1")
    assert result.exit_code == 1
    assert "1 records that could not be read" in result.output
    assert "notes.md" in result.output
    case = tmp_path / "empty.duckdb"
    DuckDBEngine(str(case)).close()
    result = run("hunt", "--case", str(case), "--no-default-rules")
    assert result.exit_code == 1 and "holds no events" in result.output


def test_issues_file_lists_every_problem_and_skipped_file(workspace: Path) -> None:
    (workspace / "rules" / "broken.yml").write_text("title: x\ndetection: [unclosed\n", "utf-8")
    issues = workspace / "issues.jsonl"
    result = run(*hunt_args(workspace, "--issues", str(issues)))
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in issues.read_text().splitlines()]
    assert all(set(r) == {"kind", "file", "position", "reason"} for r in rows)
    record = [r for r in rows if r["kind"] == "record"]
    assert len(record) == 1 and record[0]["file"].endswith("a.jsonl")
    assert record[0]["position"] == 6  # the sixth line is not JSON
    assert any(r["kind"] == "rule" and r["file"].endswith("broken.yml") for r in rows)
    assert [r["file"].rsplit("!", 1)[-1] for r in rows if r["kind"] == "skipped"] == [
        "capture.pcap"
    ]
    assert "capture.pcap" in result.output  # skipped files are named in the summary too


def test_dash_h_is_help_on_every_command() -> None:
    def commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
        out = [prefix]
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                out += commands(command, [*prefix, name])
            else:
                out.append([*prefix, name])
        return out

    for path in commands(cli, []):
        short, long = run(*path, "-h"), run(*path, "--help")
        assert short.exit_code == 0, path
        assert short.output == long.output


def test_rules_tables_fit_the_terminal(workspace: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["rules", "list", str(workspace / "rules"), "--no-default-rules"],
        env={"COLUMNS": "70"},
    )
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 70


class Recording:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None, int]] = []

    def start(self, phase: str, total: int | None) -> None:
        self.phases.append((phase, total, 0))

    def advance(self, n: int = 1, records: int = 0) -> None:
        phase, total, done = self.phases[-1]
        self.phases[-1] = (phase, total, done + n)

    def note(self, message: str) -> None:
        pass


def test_hunting_progress_counts_exactly_its_total(workspace: Path) -> None:
    # The process creation rule covers Sysmon 1 and Security 4688: two steps, not one.
    progress = Recording()
    run_hunt(
        HuntConfig(
            paths=[workspace / "logs"],
            rules=[workspace / "rules"],
            default_rules=False,
            workers=1,
            scope=EventScope(),
        ),
        progress,
    )
    phases = {p: (total, done) for p, total, done in progress.phases}
    total, done = phases["hunting"]
    assert done == total == 3
    total, done = phases["reading"]
    assert done == total == 2


def test_progress_bar_never_passes_its_total() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with RichProgress(console) as bar:
        bar.start("reading", 2)
        bar.advance(0, records=5000)
        bar.advance(1)
        assert "5,000 records, 1/2 files" in bar.counts()
        bar.start("hunting", 3)
        bar.advance(5)
        assert bar.done == 3 and bar.counts() == "3/3 rule runs"


def test_reading_progress_counts_the_records_outside_the_scope(workspace: Path) -> None:
    # The readers drop them, but they were read: the progress counts every record.
    counted = []

    class Counting(Recording):
        def advance(self, n: int = 1, records: int = 0) -> None:
            super().advance(n, records)
            if self.phases[-1][0] == "reading":
                counted.append(records)

    result = run_hunt(
        HuntConfig(
            paths=[workspace / "logs"],
            rules=[workspace / "rules"],
            default_rules=False,
            workers=1,
            scope=EventScope(event_ids=frozenset({1})),
        ),
        Counting(),
    )
    assert result.stats.records_out_of_scope == 3
    assert sum(counted) == result.stats.records == 6
