"""Placeholders (``field|expand: '%name%'``): shipped defaults, a user's file, and rules
that stay unresolved being listed with the placeholder's name and how to provide it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corpus import require_corpus
from lotlhunt.errors import UsageError
from lotlhunt.rules.loader import load_rules
from lotlhunt.rules.model import CompiledRule, RuleSet
from lotlhunt.rules.placeholders import load_placeholders
from lotlhunt.testing import rule_matches, rules_fired, write_yaml

SYSMON = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Hostname": "ws1"}
SECURITY = {"Channel": "Security", "Hostname": "dc1"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "cache"))


def rule_doc(detection: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc = {
        "title": "placeholder case",
        "id": "00000000-0000-4000-8000-0000000000a1",
        "level": "high",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": detection,
    }
    doc.update(extra)
    return doc


write = write_yaml


def run(rules: list[CompiledRule], events: list[dict[str, Any]]) -> list[bool]:
    """Whether any of ``rules`` fires on each event, through the real reader and engine."""
    return [bool(hits) for hits in rules_fired(rules, events)]


def only_rule(ruleset: RuleSet) -> CompiledRule:
    assert not ruleset.failed, [str(i) for i in ruleset.failed]
    assert len(ruleset.rules) == 1
    return ruleset.rules[0]


# -- defaults -----------------------------------------------------------------------------


def test_default_resolves_userdomain_as_the_literal_variable() -> None:
    # cmd.exe expands %userdomain% after the process starts: the log holds the literal.
    doc = rule_doc(
        {
            "selection": {
                "CommandLine|contains": "echo ",
                "CommandLine|contains|expand": "%userdomain%",
            },
            "condition": "selection",
        }
    )
    events = [
        {**SYSMON, "CommandLine": "cmd.exe /c echo %USERDOMAIN%"},
        {**SYSMON, "CommandLine": "cmd.exe /c echo CONTOSO"},
    ]
    assert rule_matches(doc, events) == [True, False]


def test_default_machine_account_value_for_zerologon(tmp_path: Path) -> None:
    doc = rule_doc(
        {
            "selection": {
                "EventID": 4742,
                "SubjectUserName": "ANONYMOUS LOGON",
                "TargetUserName|expand": "%DC-MACHINE-NAME%",
            },
            "condition": "selection",
        },
        logsource={"product": "windows", "service": "security"},
    )
    rule = only_rule(load_rules([write(tmp_path / "r.yml", doc)]))
    assert rule.placeholders == ("DC-MACHINE-NAME",)
    events = [
        {
            **SECURITY,
            "EventID": 4742,
            "SubjectUserName": "ANONYMOUS LOGON",
            "TargetUserName": "DC01$",
        },
        {
            **SECURITY,
            "EventID": 4742,
            "SubjectUserName": "ANONYMOUS LOGON",
            "TargetUserName": "bob",
        },
    ]
    assert run([rule], events) == [True, False]


def test_default_leaves_network_specific_placeholders_unresolved(tmp_path: Path) -> None:
    doc = rule_doc(
        {
            "selection": {"EventID": 4624, "TargetUserName|expand": "%dc_machine_accounts%"},
            "filter": {"IpAddress|expand": "%dc_ip_addresses%"},
            "condition": "selection and not filter",
        },
        logsource={"product": "windows", "service": "security"},
    )
    ruleset = load_rules([write(tmp_path / "r.yml", doc)])
    assert ruleset.rules == []
    [issue] = ruleset.failed
    assert "%dc_machine_accounts%" in issue.message and "%dc_ip_addresses%" in issue.message
    assert "--placeholders" in issue.message and "specific to your network" in issue.message
    assert set(ruleset.unresolved_placeholders) == {"dc_machine_accounts", "dc_ip_addresses"}


def test_unknown_placeholder_is_listed_not_dropped(tmp_path: Path) -> None:
    doc = rule_doc({"sel": {"User|expand": "%Payroll_Team%"}, "condition": "sel"})
    ruleset = load_rules([write(tmp_path / "r.yml", doc)])
    assert ruleset.rules == []
    [issue] = ruleset.failed
    assert "%Payroll_Team%" in issue.message and "no value is known" in issue.message
    assert "Payroll_Team: [value, ...]" in issue.message
    assert ruleset.unresolved_placeholders == {
        "Payroll_Team": ["placeholder case (00000000-0000-4000-8000-0000000000a1)"]
    }


# -- a user's file --------------------------------------------------------------------------


def test_user_file_values_expand_with_the_fields_modifiers(tmp_path: Path) -> None:
    doc = rule_doc(
        {
            "selection": {"Image|endswith": "\\reg.exe"},
            "filter": {"User|endswith|expand": "%Admins%"},
            "condition": "selection and not filter",
        }
    )
    ph = write(tmp_path / "ph.yml", {"Admins": ["\\adm-alice", "\\adm-b*"]})
    rule = only_rule(load_rules([write(tmp_path / "r.yml", doc)], placeholders=ph))
    events = [
        {**SYSMON, "Image": "C:\\Windows\\reg.exe", "User": "CORP\\adm-alice"},
        {**SYSMON, "Image": "C:\\Windows\\reg.exe", "User": "CORP\\adm-bob"},
        {**SYSMON, "Image": "C:\\Windows\\reg.exe", "User": "CORP\\mallory"},
        {**SYSMON, "Image": "C:\\Windows\\reg.exe"},  # no User: the filter cannot match
    ]
    assert run([rule], events) == [False, False, True, True]


def test_user_file_resolves_a_default_unresolved_name_and_numbers(tmp_path: Path) -> None:
    doc = rule_doc(
        {
            "sel": {
                "EventID": 4769,
                "ServiceName|expand": "%dc_machine_accounts%",
                "Status|expand": "%codes%",
            },
            "condition": "sel",
        },
        logsource={"product": "windows", "service": "security"},
    )
    ph = write(tmp_path / "ph.yml", {"dc_machine_accounts": "DC01$", "codes": [0]})
    rule = only_rule(load_rules([write(tmp_path / "r.yml", doc)], placeholders=ph))
    events = [
        {**SECURITY, "EventID": 4769, "ServiceName": "dc01$", "Status": "0"},
        {**SECURITY, "EventID": 4769, "ServiceName": "ws01$", "Status": "0"},
    ]
    assert run([rule], events) == [True, False]


def test_user_null_overrides_a_default_value(tmp_path: Path) -> None:
    doc = rule_doc({"sel": {"QueryName|expand": "%internal_domains%"}, "condition": "sel"})
    ph = write(tmp_path / "ph.yml", {"internal_domains": None})
    ruleset = load_rules([write(tmp_path / "r.yml", doc)], placeholders=ph)
    [issue] = ruleset.failed
    assert f"{ph} sets it to null" in issue.message


def test_names_fall_back_to_case_insensitive_lookup() -> None:
    ph = load_placeholders()
    assert ph.resolved("USERDOMAIN") == ("%userdomain%",)
    assert ph.resolved("dc_ip_addresses") is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("- a\n- b\n", "mapping"),
        ("Admins: []\n", "empty list"),
        ("Admins: [{a: 1}]\n", "strings or numbers"),
        ("Admins: [true]\n", "strings or numbers"),
        ("'%x%': [a]\n", "invalid placeholder name"),
        ("Admins: [a\n", "not valid YAML"),
    ],
)
def test_bad_placeholder_files_are_usage_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "ph.yml"
    path.write_text(content, "utf-8")
    with pytest.raises(UsageError, match=message):
        load_placeholders(path)


def test_missing_placeholder_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read placeholder file"):
        load_rules([], placeholders=tmp_path / "absent.yml")


def test_every_default_placeholder_is_documented() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "placeholders.md").read_text("utf-8")
    for name in load_placeholders().values:
        assert f"`{name}`" in docs, name


# -- SigmaHQ's placeholder rules ------------------------------------------------------------


@pytest.mark.corpus
def test_sigmahq_placeholder_rules(tmp_path: Path) -> None:
    folder = require_corpus("sigma", "rules-placeholder")
    default = load_rules([folder], cache=False)
    assert default.not_applicable  # the cloud and identity rules
    unresolved = [i for i in default.failed if "placeholder %" in i.message]
    assert unresolved and len(unresolved) == len(default.failed)
    for issue in unresolved:
        assert "--placeholders" in issue.message
    assert {r.title for r in default.rules} >= {"Userdomain Variable Enumeration"}

    # Give every name a value: then every Windows placeholder rule compiles.
    names = set(default.unresolved_placeholders)
    ph = write(tmp_path / "ph.yml", {n: [f"value-of-{n}"] for n in sorted(names)})
    full = load_rules([folder], placeholders=ph, cache=False)
    assert full.failed == []
    assert len(full.rules) == len(default.rules) + len(unresolved)
    assert all(r.placeholders for r in full.rules)
