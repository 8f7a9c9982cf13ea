"""Tuning without editing rules: Sigma filter documents and analyst exclusions, end to end
(the rule fires on an event, the tuned-away event no longer fires it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lotlhunt.errors import UsageError
from lotlhunt.rules.loader import load_rules
from lotlhunt.rules.model import CompiledRule
from lotlhunt.rules.tuning import load_exclusions
from lotlhunt.testing import rules_fired, write_yaml

SYSMON = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Hostname": "ws1"}
ID_A = "11111111-1111-4111-8111-111111111111"
ID_B = "22222222-2222-4222-8222-222222222222"
ID_NET = "33333333-3333-4333-8333-333333333333"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "cache"))


def rule_doc(rid: str, name: str, detection: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc = {
        "title": f"rule {name}",
        "id": rid,
        "name": name,
        "level": "high",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": detection,
    }
    doc.update(extra)
    return doc


write = write_yaml


def fires(rules: list[CompiledRule], events: list[dict[str, Any]]) -> dict[str, list[bool]]:
    """Rule name -> whether it fires on each event (real reader, real engine)."""
    fired = rules_fired(rules, events)
    return {str(r.name): [i in hits for hits in fired] for i, r in enumerate(rules)}


@pytest.fixture
def rule_dir(tmp_path: Path) -> Path:
    """Two rules of the same logsource (reg.exe, and anything by rundll32), one network."""
    folder = tmp_path / "rules"
    write(
        folder / "a.yml",
        rule_doc(ID_A, "reg_use", {"sel": {"Image|endswith": "\\reg.exe"}, "condition": "sel"}),
    )
    write(
        folder / "b.yml",
        rule_doc(ID_B, "reg_too", {"sel": {"Image|endswith": "\\reg.exe"}, "condition": "sel"}),
    )
    write(
        folder / "net.yml",
        rule_doc(
            ID_NET,
            "net_conn",
            {"sel": {"DestinationPort": 4444}, "condition": "sel"},
            logsource={"product": "windows", "category": "network_connection"},
        ),
    )
    return folder


EVENTS = [
    {
        **SYSMON,
        "Image": "C:\\Windows\\System32\\reg.exe",
        "User": "CORP\\svc_backup",
        "ParentImage": "C:\\Tools\\backup.exe",
    },
    {
        **SYSMON,
        "Image": "C:\\Windows\\System32\\reg.exe",
        "User": "CORP\\svc_backup",
        "ParentImage": "C:\\Windows\\explorer.exe",
    },
    {**SYSMON, "Image": "C:\\Windows\\System32\\reg.exe", "User": "CORP\\mallory"},
    {**SYSMON, "Image": "C:\\Windows\\System32\\reg.exe"},
]


# -- Sigma filters ----------------------------------------------------------------------------


def sigma_filter(rules: Any, detection: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc = {
        "title": "backup job",
        "id": "44444444-4444-4444-8444-444444444444",
        "logsource": {"product": "windows", "category": "process_creation"},
        "filter": {"rules": rules, **detection},
    }
    doc.update(extra)
    return doc


def test_sigma_filter_applies_to_the_named_rule_only(rule_dir: Path, tmp_path: Path) -> None:
    write(
        rule_dir / "filters" / "backup.yml",
        sigma_filter(
            [ID_A], {"backup": {"ParentImage|endswith": "\\backup.exe"}, "condition": "not backup"}
        ),
    )
    ruleset = load_rules([rule_dir])
    assert ruleset.failed == [] and ruleset.tuning_issues == [] and ruleset.filters == 1
    by_name = {r.name: r for r in ruleset.rules}
    assert by_name["reg_use"].filters == ("backup job (44444444-4444-4444-8444-444444444444)",)
    assert by_name["reg_too"].filters == ()
    hits = fires(ruleset.rules, EVENTS)
    assert hits["reg_use"] == [False, True, True, True]
    assert hits["reg_too"] == [True, True, True, True]


def test_sigma_filter_by_rule_name_and_in_the_same_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "one.yml",
        rule_doc(ID_A, "reg_use", {"sel": {"Image|endswith": "\\reg.exe"}, "condition": "sel"}),
        sigma_filter("reg_use", {"svc": {"User|endswith": "\\svc_backup"}, "condition": "not svc"}),
    )
    ruleset = load_rules([path])
    assert ruleset.tuning_issues == []
    [rule] = ruleset.rules
    assert rule.filters
    assert fires([rule], EVENTS)["reg_use"] == [False, False, True, True]


def test_sigma_filter_any_rule_of_its_logsource(rule_dir: Path, tmp_path: Path) -> None:
    write(
        rule_dir / "f.yml",
        sigma_filter("any", {"svc": {"User|endswith": "\\svc_backup"}, "condition": "not svc"}),
    )
    ruleset = load_rules([rule_dir])
    by_name = {r.name: r for r in ruleset.rules}
    assert by_name["reg_use"].filters and by_name["reg_too"].filters
    assert by_name["net_conn"].filters == ()  # another logsource


def test_sigma_filter_naming_an_unknown_rule_is_reported(rule_dir: Path) -> None:
    write(
        rule_dir / "f.yml",
        sigma_filter(
            [ID_A, "55555555-5555-4555-8555-555555555555", "no_such_rule"],
            {"svc": {"User": "x"}, "condition": "not svc"},
        ),
    )
    ruleset = load_rules([rule_dir])
    messages = [i.message for i in ruleset.tuning_issues]
    assert len(messages) == 2
    assert any("55555555-5555-4555-8555-555555555555" in m for m in messages)
    assert any("'no_such_rule'" in m for m in messages)
    assert all(i.kind == "filter" for i in ruleset.tuning_issues)


def test_sigma_filter_with_other_logsource_is_reported(rule_dir: Path) -> None:
    write(
        rule_dir / "f.yml",
        sigma_filter([ID_NET], {"svc": {"User": "x"}, "condition": "not svc"}),
    )
    ruleset = load_rules([rule_dir])
    [issue] = ruleset.tuning_issues
    assert "logsource is not covered" in issue.message


def test_invalid_sigma_filter_is_reported(rule_dir: Path) -> None:
    doc = sigma_filter([ID_A], {"svc": {"User": "x"}})  # no condition
    write(rule_dir / "f.yml", doc)
    ruleset = load_rules([rule_dir])
    assert any("filter" in i.message.lower() for i in ruleset.tuning_issues + ruleset.failed)
    assert all(r.filters == () for r in ruleset.rules)


def test_editing_a_filter_recompiles_the_rules_it_names_only(
    rule_dir: Path, tmp_path: Path
) -> None:
    f = rule_dir / "f.yml"
    write(f, sigma_filter([ID_A], {"svc": {"User": "x"}, "condition": "not svc"}))
    first = load_rules([rule_dir])
    assert first.compiled == 4 and first.cache_hits == 0
    write(f, sigma_filter([ID_A], {"svc": {"User": "y"}, "condition": "not svc"}))
    second = load_rules([rule_dir])
    # f.yml changed, a.yml is changed by it; b.yml and net.yml are served from the cache.
    assert second.cache_hits == 2 and second.compiled == 2
    a = next(r for r in second.rules if r.name == "reg_use")
    assert "'y'" in a.sql and "'x'" not in a.sql
    third = load_rules([rule_dir])
    assert third.cache_hits == 4 and [r.sql for r in third.rules] == [r.sql for r in second.rules]


# -- analyst exclusions --------------------------------------------------------------------------


def exclusions_file(tmp_path: Path, entries: Any) -> Path:
    path = tmp_path / "exclusions.yml"
    path.write_text(yaml.safe_dump({"exclusions": entries}, sort_keys=False), "utf-8")
    return path


BACKUP = {
    "rule": ID_A,
    "id": "backup-job",
    "reason": "nightly backup job queries the registry",
    "match": {"User|endswith": "\\svc_backup", "ParentImage|endswith": "\\backup.exe"},
}


def test_exclusion_silences_exactly_the_matching_events(rule_dir: Path, tmp_path: Path) -> None:
    ruleset = load_rules([rule_dir], exclusions=exclusions_file(tmp_path, [BACKUP]))
    assert ruleset.tuning_issues == []
    by_name = {r.name: r for r in ruleset.rules}
    assert by_name["reg_use"].exclusions == ("backup-job: nightly backup job queries the registry",)
    assert by_name["reg_too"].exclusions == ()
    assert {"User", "ParentImage"} <= by_name["reg_use"].fields
    assert "AND NOT coalesce(" in by_name["reg_use"].sql
    hits = fires(ruleset.rules, EVENTS)
    # Both conditions must hold; an event without the fields is never excluded.
    assert hits["reg_use"] == [False, True, True, True]
    assert hits["reg_too"] == [True, True, True, True]


def test_exclusion_for_all_rules_by_name_and_alternatives(rule_dir: Path, tmp_path: Path) -> None:
    entries = [
        {"rule": "*", "reason": "lab host", "match": {"Computer": "lab-ws"}},
        {
            "rules": ["reg_too"],
            "reason": "either account is benign",
            "match": [{"User|endswith": "\\svc_backup"}, {"User|endswith": "\\mallory"}],
        },
    ]
    ruleset = load_rules([rule_dir], exclusions=exclusions_file(tmp_path, entries))
    assert ruleset.tuning_issues == []
    assert all(r.exclusions[0].startswith("exclusions.yml#1: lab host") for r in ruleset.rules)
    events = [*EVENTS, {**EVENTS[2], "Hostname": "lab-ws"}]
    hits = fires(ruleset.rules, events)
    assert hits["reg_use"] == [True, True, True, True, False]
    assert hits["reg_too"] == [False, False, False, True, False]


def test_exclusion_scoped_by_logsource(rule_dir: Path, tmp_path: Path) -> None:
    entries = [
        {
            "rule": "*",
            "logsource": {"category": "network_connection"},
            "reason": "scanner",
            "match": {"SourceIp": "10.0.0.5"},
        }
    ]
    ruleset = load_rules([rule_dir], exclusions=exclusions_file(tmp_path, entries))
    tuned = {r.name for r in ruleset.rules if r.exclusions}
    assert tuned == {"net_conn"}


def test_exclusion_modifiers_and_placeholders(rule_dir: Path, tmp_path: Path) -> None:
    ph = tmp_path / "ph.yml"
    ph.write_text("BackupAccounts: ['*\\svc_backup']\n", "utf-8")
    entries = [{"rule": ID_A, "reason": "backup", "match": {"User|expand": "%BackupAccounts%"}}]
    ruleset = load_rules([rule_dir], placeholders=ph, exclusions=exclusions_file(tmp_path, entries))
    assert ruleset.tuning_issues == []
    hits = fires(ruleset.rules, EVENTS)
    assert hits["reg_use"] == [False, False, True, True]


def test_exclusion_naming_an_unknown_rule_is_reported(rule_dir: Path, tmp_path: Path) -> None:
    entries = [{**BACKUP, "rule": "66666666-6666-4666-8666-666666666666"}]
    ruleset = load_rules([rule_dir], exclusions=exclusions_file(tmp_path, entries))
    [issue] = ruleset.tuning_issues
    assert issue.kind == "exclusion" and "unknown rule" in issue.message and issue.position == 1
    assert all(r.exclusions == () for r in ruleset.rules)


def test_invalid_exclusion_entries_are_reported_and_skipped(rule_dir: Path, tmp_path: Path) -> None:
    entries = [
        {"rule": ID_A, "match": {"User": "x"}},  # no reason
        {"rule": ID_A, "reason": "r", "match": {"User|nosuchmodifier": "x"}},
        {"rule": ID_A, "reason": "r", "macth": {"User": "x"}},
        BACKUP,
    ]
    ruleset = load_rules([rule_dir], exclusions=exclusions_file(tmp_path, entries))
    positions = sorted(i.position for i in ruleset.tuning_issues)
    assert positions == [1, 2, 3]
    assert "reason is required" in ruleset.tuning_issues[0].message
    a = next(r for r in ruleset.rules if r.name == "reg_use")
    assert a.exclusions == ("backup-job: nightly backup job queries the registry",)


@pytest.mark.parametrize("content", ["rule: x\n", "exclusions: {a: 1}\n", "- [\n"])
def test_bad_exclusions_file_is_a_usage_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "e.yml"
    path.write_text(content, "utf-8")
    with pytest.raises(UsageError):
        load_exclusions(path)


def test_exclusions_do_not_invalidate_the_cache(rule_dir: Path, tmp_path: Path) -> None:
    load_rules([rule_dir])
    ruleset = load_rules([rule_dir], exclusions=exclusions_file(tmp_path, [BACKUP]))
    assert ruleset.cache_hits == 3 and ruleset.compiled == 0
    assert next(r for r in ruleset.rules if r.name == "reg_use").exclusions
