"""What ``lotlhunt rules`` says a rule reads: its logsource's events, narrowed to the
event ids its detection names, and how many of them a case holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lotlhunt.analytics.coverage import case_counts, describe_needs
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import compile_rules, load_events


def _rule(logsource: dict[str, str], detection: dict[str, Any]) -> CompiledRule:
    return compile_rules({"title": "t", "logsource": logsource, "detection": detection}).rules[0]


SECURITY = {"product": "windows", "service": "security"}
PROCESS = {"product": "windows", "category": "process_creation"}


def test_needs_name_the_event_ids_of_the_detection() -> None:
    logon = _rule(SECURITY, {"s": {"EventID": [4624, 4625]}, "condition": "s"})
    anything = _rule(SECURITY, {"s": {"User": "bob"}, "condition": "s"})
    sysmon_only = _rule(PROCESS, {"s": {"EventID": 1, "Image": "x"}, "condition": "s"})
    nowhere = _rule(PROCESS, {"s": {"EventID": 4624}, "condition": "s"})
    assert describe_needs(logon) == "Security 4624, 4625"
    assert describe_needs(anything) == "Security"
    assert describe_needs(sysmon_only) == "Microsoft-Windows-Sysmon/Operational 1"
    assert describe_needs(nowhere).startswith("no event")


def test_case_counts_only_the_events_a_rule_can_see(tmp_path: Path) -> None:
    events = [
        {"Channel": "Security", "EventID": eid, "Hostname": "h"}
        for eid in (4624, 4624, 4625, 4634, 4688)
    ]
    rules = [
        _rule(SECURITY, {"s": {"EventID": [4624, 4625]}, "condition": "s"}),
        _rule(SECURITY, {"s": {"EventID": 4697}, "condition": "s"}),
        _rule(SECURITY, {"s": {"User": "bob"}, "condition": "s"}),
    ]
    engine = DuckDBEngine()
    try:
        load_events(engine, events, tmp_path)
        assert case_counts(engine, rules) == {0: 3, 1: 0, 2: 5}
    finally:
        engine.close()
