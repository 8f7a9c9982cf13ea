"""Facts the compiler records while it writes a rule's SQL, kept on CompiledRule and in
the rule cache: which fields are read and how, keywords, and what a match implies of
each selection. Nothing downstream re-reads the SQL to learn them."""

from __future__ import annotations

from pathlib import Path

from lotlhunt.rules.loader import load_rules
from lotlhunt.testing import compile_rules, write_yaml

RULE = {
    "title": "facts",
    "id": "00000000-0000-4000-8000-00000000fac7",
    "level": "high",
    "logsource": {"product": "windows", "category": "network_connection"},
    "detection": {
        "selection": {"Image|endswith": "\\rundll32.exe", "DestinationIp|cidr": "10.0.0.0/8"},
        "cased": {"CommandLine|cased": "AbC"},
        "keywords": ["mimikatz"],
        "filter": {"User|re": "^NT AUTH"},
        "condition": "selection and (cased or keywords) and not filter",
    },
}


def test_fields_are_recorded_by_how_they_are_read() -> None:
    (rule,) = compile_rules(RULE).rules
    assert rule.lower_fields == {"Image", "__text"}
    assert rule.plain_fields == {"CommandLine", "User"}
    assert rule.ip_fields == {"DestinationIp"} and rule.cidr
    assert rule.keywords
    assert rule.fields == rule.lower_fields | rule.plain_fields | rule.ip_fields


def test_what_a_match_implies_of_each_selection() -> None:
    (rule,) = compile_rules(RULE).rules
    implied = dict(zip((name for name, _ in rule.selections), rule.implied, strict=True))
    assert implied == {"selection": True, "cased": None, "keywords": None, "filter": False}


def test_the_facts_come_back_from_the_cache(tmp_path: Path) -> None:
    write_yaml(tmp_path / "rules" / "facts.yml", RULE)
    compiled = load_rules([tmp_path / "rules"], cache_dir=tmp_path / "cache", workers=1)
    cached = load_rules([tmp_path / "rules"], cache_dir=tmp_path / "cache", workers=1)
    assert cached.cache_hits == 1 and compiled.compiled == 1
    assert cached.rules == compiled.rules
    assert cached.rules[0].implied == (True, None, None, False)
