"""Nothing from a log or a rule reaches the terminal as a control sequence or as markup:
host names, rule titles, file names, --explain values, rules list/check, issue messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from lotlhunt._support.text import control_free, spreadsheet_safe, terminal_safe
from lotlhunt.cli import cli
from lotlhunt.reports.console import activity_strip, print_explanations, print_summary
from report_fixtures import fake_result

#: Clear screen, window title (OSC, BEL-terminated), hyperlink, C1 CSI, bidi override,
#: carriage return, backspace, and rich markup that would style or hide the rest.
HOSTILE = "WS1\x1b[2J\x1b]0;owned\x07\x1b]8;;http://x\x1b\\\x9b31m\u202e\r\x08[bold red]x[/]"
#: What may never appear in output: ESC, BEL, C1 controls, bidi controls, CR, BS.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_control_free_shows_every_control_as_an_escape() -> None:
    assert control_free("a\x1b[2Jb") == "a\\e[2Jb"
    assert control_free("\x07\x9b\u202e\r\n\t") == "\\x07\\x9b\\u202e\\r\\n\\t"
    assert control_free("plain ä text") == "plain ä text"
    assert control_free(None) == ""


def test_terminal_safe_also_escapes_markup() -> None:
    console = Console(record=True, width=200, color_system=None)
    console.print(terminal_safe("[bold]x[/] \x1b[31m"))
    assert console.export_text().strip() == "[bold]x[/] \\e[31m"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\uff1dx"])
def test_spreadsheet_safe_neutralises_formulas(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text
    assert spreadsheet_safe("dc01") == "dc01"


def test_terminal_safe_clips_after_escaping_and_before_markup() -> None:
    # Clipping never cuts an escape in half nor leaves a bracket unescaped.
    assert terminal_safe("abcdef", 4) == "abc…"
    assert terminal_safe("ab", 4) == "ab"
    assert terminal_safe("\x1b[2Jxyz", 5) == "\\e[2…"
    clipped = terminal_safe("[bold]" * 10, 7)
    console = Console(record=True, width=200, color_system=None)
    console.print(clipped)
    assert console.export_text().strip() == "[bold]…"


def test_terminal_safe_hides_no_line_tab_or_invisible_character() -> None:
    # Newline and tab would fake a row or a column of a table; zero-width and bidi
    # isolate characters hide or reorder text.
    shown = terminal_safe("a\nb\tc\u200bd\u2066e\ufeff")
    assert shown == "a\\nb\\tc\\u200bd\\u2066e\\ufeff"


def test_spreadsheet_safe_takes_any_value() -> None:
    assert spreadsheet_safe(None) == ""
    assert spreadsheet_safe(-5) == "'-5"
    assert spreadsheet_safe("a=1") == "a=1"


def test_csv_rows_neutralise_full_width_formulas(tmp_path: Path) -> None:
    from lotlhunt.reports.rows import CsvRows

    sink = CsvRows(tmp_path / "rows.csv", ["\uff1dHEADER", "host"])
    sink.write([{"\uff1dHEADER": "\uff0bcmd", "host": "@dc01"}])
    sink.close()
    lines = (tmp_path / "rows.csv").read_text("utf-8").splitlines()
    assert lines == ["'\uff1dHEADER,host", "'\uff0bcmd,'@dc01"]


def rendered(print_fn: object, width: int = 80) -> str:
    console = Console(file=None, width=width, force_terminal=True, color_system="truecolor")
    with console.capture() as cap:
        print_fn(console)  # type: ignore[operator]
    return cap.get()


def without_styles(text: str) -> str:
    """Our own SGR colour codes removed: what is left must have no control at all."""
    return re.sub("\x1b\\[[0-9;]*m", "", text)


def test_summary_and_explanations_never_pass_controls() -> None:
    result = fake_result(12, hostile=HOSTILE)
    out = rendered(lambda c: print_summary(result, c)) + rendered(
        lambda c: print_explanations(result, c)
    )
    assert not UNSAFE.search(without_styles(out)), repr(UNSAFE.search(without_styles(out)))
    assert "[bold red]x[/]" in without_styles(out)  # shown as text, not applied


def test_summary_fits_80_columns_without_cutting_host_names() -> None:
    result = fake_result(24)
    console = Console(width=80, record=True, color_system=None)
    print_summary(result, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for host in {d.host for d in result.detections}:
        assert host in text.replace("\n", "")
        assert host in text  # on one line, not folded
    assert "…" not in text
    # The story comes first: the best incident, its hosts in the order reached.
    assert text.index("INC-0001") < text.index("Activity per host") < text.index("Read 5 files")
    assert "adssp01.harbor.local → dc01.harbor.local → fs02.harbor.local" in text


def test_activity_strip_shows_count_and_worst_level() -> None:
    result = fake_result(8)
    times = [d.timestamp for d in result.detections]
    strip = activity_strip(times, [d.level for d in result.detections], times[0], times[-1], 8)  # type: ignore[arg-type]
    assert len(strip.plain) == 8 and strip.plain.count("█") == 8


RULE = """
title: "Netsh \\e[2J [bold]Added[/] \\a"
id: 7f3f3a5e-1111-4c8e-9b57-0a0b0c0d0e01
level: high
logsource: {product: windows, category: process_creation}
detection:
  selection:
    CommandLine|contains: portproxy
  condition: selection
"""


def test_cli_never_passes_controls_from_logs_or_rules(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yml").write_text(RULE, "utf-8")
    (tmp_path / "rules" / "bad\x1b[2J.yml").write_text("title: [unclosed\n", "utf-8")
    log = {
        "@timestamp": "2026-03-01T10:00:00Z",
        "Hostname": HOSTILE,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 1,
        "CommandLine": "netsh portproxy " + HOSTILE,
    }
    logs = tmp_path / "logs\x1b]0;t\x07"
    logs.mkdir()
    (logs / "a.jsonl").write_text(json.dumps(log) + "\n{broken " + HOSTILE + "\n", "utf-8")
    runner = CliRunner()
    rules = str(tmp_path / "rules")
    outputs = []
    for args in (
        ["hunt", str(logs), "--rules", rules, "--no-default-rules", "--explain", "--workers", "1"],
        ["rules", "list", rules, "--no-default-rules"],
        ["rules", "check", rules, "--no-default-rules", "--all"],
    ):
        result = runner.invoke(cli, args, catch_exceptions=False, color=True)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    hunt, listed, checked = outputs
    assert "Added" in listed and "portproxy" in hunt and "failed" in checked
    for out in outputs:
        match = UNSAFE.search(without_styles(out))
        assert match is None, (out, match)
