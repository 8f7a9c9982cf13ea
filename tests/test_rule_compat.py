"""Public rule sets load: what Hayabusa, Chainsaw and Zircolite accept, lotlhunt accepts.

The rules under ``tests/rulesets/hayabusa`` are written for these tests in the style of
Hayabusa's rule repository (its own rules and the SigmaHQ rules it converts), one habit
of that repository per file. Each test checks that the rule loads *and* matches what it
should, on events read by the real reader, so tolerance never means a rule that loads
and then never fires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from corpus import require_corpus
from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.rules.compat import tolerate
from lotlhunt.rules.loader import load_rules
from lotlhunt.rules.model import CompiledRule, RuleSet
from lotlhunt.testing import rules_fired, write_yaml

HAYABUSA = Path(__file__).parent / "rulesets" / "hayabusa"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "cache"))


def load(*parts: str) -> RuleSet:
    return load_rules([HAYABUSA.joinpath(*parts)], workers=1)


def only(ruleset: RuleSet) -> CompiledRule:
    assert ruleset.failed == [], [str(i) for i in ruleset.failed]
    assert len(ruleset.rules) == 1, [r.title for r in ruleset.rules]
    return ruleset.rules[0]


def fires(rule: CompiledRule, events: list[dict[str, Any]]) -> list[bool]:
    return [bool(hit) for hit in rules_fired([rule], events)]


def ev(channel: str, eid: int, seconds: float = 0, **fields: Any) -> dict[str, Any]:
    at = (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    return {"Channel": channel, "EventID": eid, "Hostname": "ws1", "@timestamp": at, **fields}


def test_every_test_rule_in_hayabusa_style_loads() -> None:
    ruleset = load_rules([HAYABUSA], workers=1)
    assert ruleset.failed == [], [str(i) for i in ruleset.failed]
    assert ruleset.not_applicable == []
    assert len(ruleset.rules) == 8 and len(ruleset.correlations) == 2


def test_a_tag_without_namespace_is_kept_and_the_rule_runs() -> None:
    rule = only(load("sigma", "sysmon", "process_creation"))
    assert rule.tags == ("attack.defense_evasion", "attack.t1140", "sysmon")
    assert rule.warnings == ()
    events = [
        ev(
            SYSMON, 1, Image=r"C:\Windows\System32\certutil.exe", CommandLine="certutil -decode a b"
        ),
        ev(SYSMON, 1, Image=r"C:\Windows\System32\certutil.exe", CommandLine="certutil -urlcache"),
        # The same command line in Security 4688: the rule's Channel says Sysmon only.
        ev(
            "Security",
            4688,
            NewProcessName=r"C:\x\certutil.exe",
            CommandLine="certutil -decode a b",
        ),
    ]
    assert fires(rule, events) == [True, False, False]


def test_a_converted_rule_selects_its_events_by_its_own_channel() -> None:
    """Hayabusa converts registry_set rules to Security 4657: the logsource still says
    registry_set (Sysmon 13), the detection says Security 4657. Its Channel wins."""
    rule = only(load("sigma", "builtin", "registry"))
    assert rule.by_channel and rule.logsource == ("windows", "registry_set", None)
    events = [
        ev(
            "Security",
            4657,
            ObjectName=r"\REGISTRY\MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run",
            ProcessName=r"C:\Windows\System32\wscript.exe",
        ),
        ev(
            SYSMON,
            13,
            TargetObject=r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run\x",
            Image=r"C:\Windows\System32\wscript.exe",
        ),
    ]
    assert fires(rule, events) == [True, False]


def test_a_vendor_channel_named_as_product_runs_on_that_channel() -> None:
    rule = only(load("sigma", "vendor"))
    assert rule.by_channel
    events = [
        ev("Example Endpoint Security", 236),
        ev("Example Endpoint Security", 237),
        ev("Application", 236),
    ]
    assert fires(rule, events) == [True, False, False]


def test_hayabusa_own_rule_with_empty_keys_and_details_runs() -> None:
    ruleset = load("hayabusa", "builtin", "Security", "Sec_4624_Info_Logon-Network_Local_Noisy.yml")
    rule = only(ruleset)
    assert rule.level == "informational" and rule.status == "stable"
    events = [
        ev("Security", 4624, LogonType=3, IpAddress="127.0.0.1"),
        ev("Security", 4624, LogonType=3, IpAddress="10.0.0.5"),
        ev("Security", 4624, LogonType=2, IpAddress="-"),
    ]
    assert fires(rule, events) == [True, False, False]


def test_hayabusa_field_comparison_modifiers_read_as_fieldref() -> None:
    name = "Sec_4624_Med_Logon_SameUserAndComputer.yml"
    rule = only(load("hayabusa", "builtin", "Security", name))
    assert any("|equalsfield" in f for f in rule.tolerated)
    events = [
        ev(
            "Security",
            4624,
            TargetUserName="bob",
            SubjectUserName="bob",
            TargetDomainName="corp.example",
            SubjectDomainName="example",
        ),
        ev(
            "Security",
            4624,
            TargetUserName="bob",
            SubjectUserName="alice",
            TargetDomainName="corp.example",
            SubjectDomainName="example",
        ),
        ev(
            "Security",
            4624,
            TargetUserName="bob",
            SubjectUserName="bob",
            TargetDomainName="example",
            SubjectDomainName="corp.example",
        ),
    ]
    assert fires(rule, events) == [True, False, False]


def test_loose_metadata_is_repaired_and_the_suspect_parts_are_warned_about() -> None:
    rule = only(load("hayabusa", "builtin", "Security", "Sec_1102_High_LogCleared_Loose.yml"))
    assert rule.id == "Sec_1102_LogCleared"
    assert rule.level == "critical" and rule.status == ""
    assert rule.tags == ("attack.t1070.001",)
    assert rule.falsepositives == ("system administrator",)
    assert rule.author == "lotlhunt tests, someone else"
    assert any("not a UUID" in w for w in rule.warnings)
    assert any("unknown status 'production'" in w for w in rule.warnings)
    assert any("modified 'last week'" in f for f in rule.tolerated)
    assert fires(rule, [ev("Security", 1102), ev("System", 1102)]) == [True, False]


def test_hayabusa_correlation_file_with_empty_keys_correlates(tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    rows = [ev("Security", 4625, i, SubStatus="0xc000006a", IpAddress="10.0.0.9") for i in range(3)]
    rows.append(ev("Security", 4625, 5, SubStatus="0xc000006a", IpAddress="10.0.0.8"))
    write_jsonl(logs, rows)
    rules = HAYABUSA / "hayabusa" / "builtin" / "Security"
    result = run_hunt(
        HuntConfig(
            paths=[logs],
            rules=[rules / "Sec_4625_Med_LogonFail_WrongPW_Correlation.yml"],
            default_rules=False,
        )
    )
    assert [(c.rule_title, c.group, c.value) for c in result.correlations] == [
        ("Password Guessing", {"IpAddress": "10.0.0.9"}, 3)
    ]
    assert result.detections == []  # the base rule only feeds the correlation


def test_a_deprecated_count_aggregation_becomes_a_correlation(tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    users = ["alice", "bob", "carol", "carol"]
    rows = [
        ev("Security", 4648, i * 10, TargetUserName=u, IpAddress="10.1.1.1")
        for i, u in enumerate(users)
    ]
    rows += [
        ev("Security", 4648, i, TargetUserName=u, IpAddress="10.1.1.2")
        for i, u in enumerate(["a", "b"])
    ]
    # Three distinct users but ten minutes apart: outside the 5 minute timeframe.
    rows += [
        ev("Security", 4648, i * 600, TargetUserName=u, IpAddress="10.1.1.3")
        for i, u in enumerate("xyz")
    ]
    write_jsonl(logs, rows)
    rule = (
        HAYABUSA
        / "hayabusa"
        / "builtin"
        / "Security"
        / "Sec_4648_Med_ExplicitLogon_Spray_Cnt_Deprecated.yml"
    )
    result = run_hunt(HuntConfig(paths=[logs], rules=[rule], default_rules=False))
    assert result.rule_issues == []
    assert [(c.rule_id, c.group, c.value, c.level) for c in result.correlations] == [
        ("3e7a9c12-5d4b-4e6f-9a8b-2c1d0e9f8a7b", {"IpAddress": "10.1.1.1"}, 3, "medium")
    ]
    assert result.detections == []


def test_an_aggregation_without_timeframe_is_counted_over_everything_with_a_warning() -> None:
    doc = {
        "title": "many failures",
        "id": "5d6e7f80-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
        "logsource": {"product": "windows", "service": "security"},
        "detection": {"sel": {"EventID": 4625}, "condition": "sel | count() > 10"},
    }
    fixed, tolerated = tolerate(doc)
    assert fixed["detection"]["condition"] == "sel"
    assert tolerated.correlation is not None
    assert tolerated.correlation["correlation"] == {
        "type": "event_count",
        "rules": [fixed["id"]],
        "timespan": "3650d",
        "condition": {"gt": 10},
    }
    assert any("no timeframe" in w for w in tolerated.warnings)


def test_tolerance_never_hides_a_broken_detection(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "broken.yml",
        {
            "title": "broken",
            "id": "6e7f8091-2b3c-4d4e-9f50-6b7c8d9e0f1a",
            "tags": ["sysmon"],
            "logsource": {"product": "windows", "service": "security"},
            "detection": {"sel": {"EventID": 1102}, "condition": "sel and missing"},
            "ruletype": "Hayabusa",
        },
    )
    ruleset = load_rules([path], workers=1)
    assert ruleset.rules == [] and len(ruleset.failed) == 1


def test_a_strict_sigma_rule_is_left_untouched() -> None:
    doc = {
        "title": "t",
        "id": "7f8091a2-3c4d-4e5f-a061-7c8d9e0f1a2b",
        "status": "test",
        "level": "high",
        "tags": ["attack.t1003"],
        "references": ["https://example.org"],
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {"sel": {"Image|endswith": "\\x.exe"}, "condition": "sel"},
    }
    fixed, tolerated = tolerate(doc)
    assert fixed == doc and not tolerated.changed()


def test_sigma_channel_condition_keeps_its_logsource_outside_hayabusa(tmp_path: Path) -> None:
    """A SigmaHQ-style rule that names Channel keeps its mapped logsource: only rules of
    Hayabusa's repository, or with an unmapped logsource, are chosen by channel."""
    path = write_yaml(
        tmp_path / "r.yml",
        {
            "title": "t",
            "id": "8091a2b3-4d5e-4f60-b172-8d9e0f1a2b3c",
            "logsource": {"product": "windows", "service": "security"},
            "detection": {"sel": {"Channel": "Security", "EventID": 1102}, "condition": "sel"},
        },
    )
    rule = only(load_rules([path], workers=1))
    assert not rule.by_channel and [v.name for v in rule.variants] == ["security"]


def test_tolerated_rules_come_back_the_same_from_the_cache() -> None:
    cold = load_rules([HAYABUSA], workers=1)
    warm = load_rules([HAYABUSA], workers=1)
    assert warm.cache_hits > 0
    assert sorted(warm.rules, key=lambda r: r.id) == sorted(cold.rules, key=lambda r: r.id)
    assert len(warm.correlations) == 2


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")


@pytest.mark.corpus
@pytest.mark.parametrize(
    "folder", ["rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder"]
)
def test_each_sigmahq_folder_loads_at_least_99_percent(folder: str, tmp_path: Path) -> None:
    """Every Windows rule of each folder compiles, given values for its placeholders
    (without them, rules-placeholder's rules are listed as waiting for values)."""
    import re

    path = require_corpus("sigma", folder)
    names = set()
    for file in path.rglob("*.yml"):
        names.update(re.findall(r"%(\w+)%", file.read_text("utf-8", errors="replace")))
    values = write_yaml(tmp_path / "ph.yml", {n: ["value-of-" + n] for n in sorted(names)})
    ruleset = load_rules([path], placeholders=values)
    windows = len(ruleset.rules) + len(ruleset.failed)
    assert windows > 0
    rate = len(ruleset.rules) / windows
    print(f"{folder}: {len(ruleset.rules)} of {windows} Windows rules compile ({rate:.2%})")
    assert rate >= 0.99, [str(i) for i in ruleset.failed]


def test_hayabusa_file_references_fail_with_a_clear_reason(tmp_path: Path) -> None:
    """Hayabusa reads some value lists from its own config folder (``regexes:``); without
    that folder the rule cannot run, and the reason must say so."""
    path = write_yaml(
        tmp_path / "Sec_4688_Low_ProcExec_Lolbin.yml",
        {
            "title": "Susp CmdLine",
            "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            "level": "low",
            "status": "stable",
            "logsource": {"product": "windows", "service": "security"},
            "detection": {
                "selection": {
                    "Channel": "Security",
                    "EventID": 4688,
                    "NewProcessName": {"regexes": "./rules/config/regex/lolbas_paths.txt"},
                },
                "condition": "selection",
            },
            "tags": ["lolbas"],
            "ruletype": "Hayabusa",
        },
    )
    ruleset = load_rules([path], workers=1)
    assert ruleset.rules == []
    [issue] = ruleset.failed
    assert (
        "NewProcessName: Hayabusa's 'regexes:' reads './rules/config/regex/lolbas_paths.txt'"
        in (issue.message)
    )


def _log_clear_records() -> list[Any]:
    """A Security log clear, a System 104 that names the cleared log in its data (as
    Windows writes it: ``<UserData><LogFileCleared><Channel>``), and a logon."""
    from lotlhunt.simulate.records import EvtxRecord

    def rec(channel: str, eid: int, n: int, **data: str) -> EvtxRecord:
        return EvtxRecord(
            provider="Microsoft-Windows-Eventlog",
            event_id=eid,
            channel=channel,
            computer="dc1.corp.example",
            timestamp=T0 + timedelta(seconds=n),
            record_id=100 + n,
            event_data=dict(data),
        )

    return [
        rec("Security", 1102, 0, SubjectUserName="alice"),
        rec("System", 104, 1, SubjectUserName="alice", Channel="Windows PowerShell"),
        rec("Security", 4624, 2, TargetUserName="bob", LogonType="3"),
    ]


def test_hayabusa_channel_is_the_system_channel_whatever_the_data_holds(tmp_path: Path) -> None:
    """Hayabusa reads ``Channel`` as the event's System channel. One event whose data has
    a ``Channel`` item (the 104 of a cleared log) must not blind every rule of the
    repository to the events of other channels (it did: 0 detections over a corpus)."""
    from lotlhunt.simulate.evtx_writer import write_evtx

    logs = tmp_path / "logs" / "dc1.evtx"
    logs.parent.mkdir()
    write_evtx(logs, _log_clear_records())
    haya = {"logsource": {"product": "windows", "service": "security"}, "ruletype": "Hayabusa"}
    rules = tmp_path / "rules"
    write_yaml(
        rules / "Sec_1102_High_LogCleared.yml",
        {
            "title": "Log Cleared",
            "id": "0c9f2a14-6b1e-4f57-9d0a-3e8b7c6d5a41",
            "level": "high",
            **haya,
            "detection": {
                "selection_basic": {"Channel": "Security", "EventID": 1102},
                "condition": "selection_basic",
            },
        },
    )
    write_yaml(
        rules / "Sys_104_Med_LogCleared.yml",
        {
            "title": "Some Log Cleared",
            "id": "5e2d7c90-1f4a-4b8e-a3c6-9d0e1f2a3b4c",
            "level": "medium",
            **haya,
            "logsource": {"product": "windows", "service": "system"},
            "detection": {
                "selection": {"Channel": "System", "EventID": 104},
                "condition": "selection",
            },
        },
    )
    # SigmaHQ's own 104 rule reads the cleared log's name from the data: unchanged.
    write_yaml(
        rules / "win_system_important_log_cleared.yml",
        {
            "title": "Important Log Cleared",
            "id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "level": "high",
            "logsource": {"product": "windows", "service": "system"},
            "detection": {
                "selection": {"EventID": 104, "Channel": ["Windows PowerShell", "Security"]},
                "condition": "selection",
            },
        },
    )
    result = run_hunt(HuntConfig(paths=[logs.parent], rules=[rules], default_rules=False))
    assert result.rule_issues == []
    fired = sorted((d.rule_title, d.event_id) for d in result.detections)
    assert fired == [
        ("Important Log Cleared", 104),
        ("Log Cleared", 1102),
        ("Some Log Cleared", 104),
    ]


def test_two_rule_files_with_one_id_both_run_and_are_warned_about(tmp_path: Path) -> None:
    """Hayabusa's repository renamed rules over time (``alerts/1_ProcessCreated...`` then
    ``Sysmon_1_High_ProcExec_RuleAlert``) keeping their id; a folder holding both runs
    both, and says that the id no longer names one rule."""
    doc = {
        "title": "Proc Exec Sysmon Alert",
        "id": "2f4e6a8c-0b1d-4e3f-9a5b-7c9d1e3f5a7b",
        "level": "high",
        "status": "stable",
        "logsource": {"product": "windows", "service": "sysmon"},
        "detection": {
            "selection_basic": {"Channel": SYSMON, "EventID": 1},
            "filter_no_alerts": [{"RuleName": ""}, {"RuleName": "-"}],
            "condition": "selection_basic and not filter_no_alerts",
        },
        "tags": ["sysmon"],
        "ruletype": "Hayabusa",
    }
    old = write_yaml(tmp_path / "alerts" / "1_ProcessCreated_SysmonAlert.yml", doc)
    new = write_yaml(tmp_path / "Sysmon_1_High_ProcExec_RuleAlert.yml", doc)
    ruleset = load_rules([tmp_path], workers=1)
    assert ruleset.failed == []
    warned = {r.path: r.warnings for r in ruleset.rules}
    assert warned == {
        str(old): (f"id 2f4e6a8c-0b1d-4e3f-9a5b-7c9d1e3f5a7b is also the id of the rule in {new}",),
        str(new): (f"id 2f4e6a8c-0b1d-4e3f-9a5b-7c9d1e3f5a7b is also the id of the rule in {old}",),
    }
    events = [ev(SYSMON, 1, RuleName="technique_id=T1036"), ev(SYSMON, 1, RuleName="-")]
    assert [fires(r, events) for r in ruleset.rules] == [[True, False], [True, False]]


def test_hayabusa_channel_in_each_branch_of_an_or_selects_each_branch_s_events(
    tmp_path: Path,
) -> None:
    """Hayabusa's rules covering two logs name each log's channel in its own selection
    under ``or`` (a Security 1102 or a System 104). Each branch must read the System
    channel, so each fires on its own events only, and the logon of neither stays out."""
    from lotlhunt.simulate.evtx_writer import write_evtx

    logs = tmp_path / "logs" / "dc1.evtx"
    logs.parent.mkdir()
    write_evtx(logs, _log_clear_records())
    rules = tmp_path / "rules"
    write_yaml(
        rules / "Win_LogCleared_Any.yml",
        {
            "title": "A Log Cleared",
            "id": "3c1d9e7f-2a4b-4c6d-8e0f-1a2b3c4d5e6f",
            "level": "high",
            "ruletype": "Hayabusa",
            "logsource": {"product": "windows"},
            "detection": {
                "security": {"Channel": "Security", "EventID": 1102},
                "system": {"Channel": "System", "EventID": 104},
                "condition": "security or system",
            },
        },
    )
    result = run_hunt(HuntConfig(paths=[logs.parent], rules=[rules], default_rules=False))
    assert result.rule_issues == []
    fired = sorted((d.rule_title, d.channel, d.event_id) for d in result.detections)
    assert fired == [("A Log Cleared", "Security", 1102), ("A Log Cleared", "System", 104)]
