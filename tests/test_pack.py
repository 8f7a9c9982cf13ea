"""The bundled Volt Typhoon pack: every rule is valid, documented, and has cases that hold.

Rules live in ``data/rules/volt_typhoon`` (one rule per file), indicator rules are generated
by :func:`lotlhunt.indicators.indicator_rules`, and the cases in ``tests/pack_cases`` give
for every rule events that must fire and benign look-alikes that must not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection

import lotlhunt.rules.indicators as indicators
from lotlhunt.rules.indicators import indicator_rules
from lotlhunt.rules.loader import bundled_rules_dir

RULES_DIR = bundled_rules_dir() / "volt_typhoon"
CASES_DIR = Path(__file__).parent / "pack_cases"
INDICATOR_PREFIX = "indicators:"
TECHNIQUE_TAG = re.compile(r"^attack\.t\d{4}(\.\d{3})?$")
LEVELS = {"informational", "low", "medium", "high", "critical"}

RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
PROCESS_CREATION_FILES = [
    p
    for p in RULE_FILES
    if yaml.safe_load(p.read_text(encoding="utf-8"))["logsource"].get("category")
    == "process_creation"
]
INDICATOR_RULES = indicator_rules()


def _load_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                cases.append({**doc, "_file": path.name})
    return cases


CASES = _load_cases()


def _rule_for(name: str) -> dict[str, Any] | str:
    """The rule a case names: a file stem of the pack (as YAML text) or ``indicators:<title>``."""
    if name.startswith(INDICATOR_PREFIX):
        title = name[len(INDICATOR_PREFIX) :]
        matches = [r for r in INDICATOR_RULES if r["title"] == title]
        assert len(matches) == 1, f"no single indicator rule titled {title!r}"
        return matches[0]
    path = RULES_DIR / f"{name}.yml"
    assert path.is_file(), f"case names missing rule file {path.name}"
    return path.read_text(encoding="utf-8")


def _check_metadata(rule: dict[str, Any]) -> None:
    assert rule.get("id"), "missing id"
    assert rule.get("title"), "missing title"
    assert rule.get("status") == "experimental"
    assert rule.get("author") == "lotlhunt"
    assert rule.get("description")
    assert rule.get("level") in LEVELS, f"bad level {rule.get('level')!r}"
    assert rule.get("references"), "missing references"
    assert all(str(u).startswith("https://") for u in rule["references"])
    assert rule.get("falsepositives"), "missing falsepositives"
    assert str(rule.get("lotlhunt_source", "")).strip(), "missing lotlhunt_source"
    tags = rule.get("tags") or []
    assert any(TECHNIQUE_TAG.match(t) for t in tags), f"no attack.tNNNN tag in {tags}"
    assert all(t == t.lower() for t in tags)


def test_pack_is_not_empty() -> None:
    assert len(RULE_FILES) >= 30
    assert INDICATOR_RULES


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_file_parses_and_is_documented(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert len(docs) == 1, "one rule per file"
    collection = SigmaCollection.from_yaml(text, collect_errors=True)
    errors = list(collection.errors) + [e for r in collection.rules for e in r.errors]
    assert not errors, errors
    assert len(collection.rules) == 1
    for condition in collection.rules[0].detection.parsed_condition:
        condition.parsed  # noqa: B018 - parsing the condition is the check
    _check_metadata(docs[0])


@pytest.mark.parametrize("rule", INDICATOR_RULES, ids=lambda r: r["title"])
def test_indicator_rule_parses_and_is_documented(rule: dict[str, Any]) -> None:
    collection = SigmaCollection.from_dicts([rule], collect_errors=True)
    errors = list(collection.errors) + [e for r in collection.rules for e in r.errors]
    assert not errors, errors
    _check_metadata(rule)
    assert rule["lotlhunt_indicators"], "indicator rule names no indicators"
    assert all(i["source"] for i in rule["lotlhunt_indicators"])


def test_rule_ids_are_unique() -> None:
    ids = [yaml.safe_load(p.read_text(encoding="utf-8"))["id"] for p in RULE_FILES]
    ids += [r["id"] for r in INDICATOR_RULES]
    assert len(ids) == len(set(ids))


def test_indicator_rule_ids_are_deterministic() -> None:
    assert [r["id"] for r in indicator_rules()] == [r["id"] for r in INDICATOR_RULES]


def test_indicator_hashes_are_sha256_and_unique() -> None:
    data = yaml.safe_load(indicators.DEFAULT_PATH.read_text(encoding="utf-8"))
    hashes = [h["sha256"] for h in data["hashes"]]
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)
    assert len(hashes) == len(set(hashes))
    assert all(h["source"] in data["sources"] for h in data["hashes"])
    assert all(f["source"] in data["sources"] for f in data["files"])


def test_every_rule_has_cases() -> None:
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for case in CASES:
        by_rule.setdefault(case["rule"], []).append(case)
    wanted = [p.stem for p in RULE_FILES]
    wanted += [INDICATOR_PREFIX + r["title"] for r in INDICATOR_RULES]
    for name in wanted:
        cases = by_rule.get(name, [])
        assert any(c.get("positive") for c in cases), f"{name}: no positive case"
        assert any(c.get("negative") for c in cases), f"{name}: no negative case"
    for path in RULE_FILES:
        assert (CASES_DIR / f"{path.stem}.yml").is_file(), f"{path.stem}: no cases file"
    assert set(by_rule) <= set(wanted), f"cases for unknown rules: {set(by_rule) - set(wanted)}"


@pytest.mark.parametrize("path", PROCESS_CREATION_FILES, ids=lambda p: p.stem)
def test_process_creation_rules_have_sysmon_and_4688_positives(path: Path) -> None:
    cases = yaml.safe_load((CASES_DIR / f"{path.stem}.yml").read_text(encoding="utf-8"))
    kinds = {(e["Channel"], e["EventID"]) for e in cases["positive"]}
    assert ("Microsoft-Windows-Sysmon/Operational", 1) in kinds
    assert ("Security", 4688) in kinds


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["rule"])
def test_case_events_match_as_expected(case: dict[str, Any]) -> None:
    from lotlhunt.testing import rule_matches

    rule = _rule_for(case["rule"])
    positive = case.get("positive") or []
    negative = case.get("negative") or []
    fired = rule_matches(rule, positive + negative)
    assert fired[: len(positive)] == [True] * len(positive), "positive event did not fire"
    assert fired[len(positive) :] == [False] * len(negative), "benign look-alike fired"
