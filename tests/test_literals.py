"""Literals a regular expression cannot match without (the prefilter's key for regex
rules): what is known must hold on every match, and whatever is unsure gives nothing."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lotlhunt.rules.compile.literals import regex_literals
from lotlhunt.testing import compile_rules, rule_matches


@pytest.mark.parametrize(
    ("pattern", "ignore_case", "expected"),
    [
        ("ipconfig\\s+/all", False, {"ipconfig"}),
        ("net\\s+(user|group)", False, {"user", "group"}),
        ("(abcd)+xy", False, {"abcd"}),  # repeated at least once
        ("(abcd)?xyz", False, {"xyz"}),  # optional: only what follows it
        ("(?i:ABCDEF)", False, {"abcdef"}),
        ("shutdown\\s+/r /f /t 00", False, {"/r /f /t 00"}),  # the longest run
        # Case-insensitive 's' also matches U+017F, which lower-casing keeps: cut there.
        ("(?i)\\$PSHome\\[", False, {"home["}),
        ("shutdown", True, {"hutdown"}),
    ],
)
def test_required_literals(pattern: str, ignore_case: bool, expected: set[str]) -> None:
    assert regex_literals(pattern, ignore_case) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "abc|de",  # one alternative has no literal long enough
        "[[:alpha:]]abc",  # RE2's class; Python would read a literal ']abc'
        "\\pLabc",  # RE2 syntax Python does not read
        "(?<name>abc)",
        "\\w+`(?:\\w+|-|.)`",
        "a{0,3}bc",
        "(",
    ],
)
def test_unsure_patterns_give_nothing(pattern: str) -> None:
    assert regex_literals(pattern) is None


#: Patterns of literals, groups with alternatives, classes and quantifiers.
_PATTERNS = re.compile(
    r"(?:(?:[a-z]{1,6}|\((?:[a-z]{3,6}\|)*[a-z]{3,6}\)|\\s|\.|\[ab\])"
    r"(?:[+?*]|\{[0-2],[1-3]\})?){1,5}"
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.data())
def test_every_match_holds_a_literal(data: st.DataObject) -> None:
    pattern = data.draw(st.from_regex(_PATTERNS, fullmatch=True))
    try:
        compiled = re.compile(pattern)
    except re.error:
        assume(False)
    found = regex_literals(pattern)
    assume(found)
    text = data.draw(st.from_regex(compiled))
    assert found is not None
    assert any(lit in text.lower() for lit in found), (pattern, text, found)


def test_regex_rule_skipped_where_its_literal_is_absent_still_matches_where_present() -> None:
    rule = {
        "title": "t",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {"sel": {"CommandLine|re": "(?i)ipconfig\\s+/all"}, "condition": "sel"},
    }
    events = [
        {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "CommandLine": c}
        for c in ("IPCONFIG   /ALL", "ipconfig /release", "whoami")
    ]
    assert rule_matches(rule, events) == [True, False, False]


def _event_ids(detection: dict[str, object]) -> frozenset[int] | None:
    ruleset = compile_rules(
        {
            "title": "t",
            "logsource": {"product": "windows", "service": "security"},
            "detection": detection,
        }
    )
    assert not ruleset.failed
    return ruleset.rules[0].event_ids


@pytest.mark.parametrize(
    ("detection", "expected"),
    [
        ({"sel": {"EventID": 4624}, "condition": "sel"}, {4624}),
        ({"sel": {"EventID": [4624, "4625"]}, "condition": "sel"}, {4624, 4625}),
        ({"sel": {"eventid": 4624, "LogonType": 3}, "condition": "sel"}, {4624}),
        ({"sel": {"EventID": 4624.0}, "condition": "sel"}, {4624}),  # pySigma's integer
        # An AND holds what every branch naming ids allows.
        (
            {
                "a": {"EventID": [4624, 4625]},
                "b": {"EventID": [4625, 4648]},
                "condition": "a and b",
            },
            {4625},
        ),
        ({"a": {"EventID": 4624}, "b": {"EventID": 4625}, "condition": "a and b"}, set()),
        # An OR, when every branch names some.
        ({"a": {"EventID": 4624}, "b": {"EventID": 5145}, "condition": "1 of *"}, {4624, 5145}),
        # Several conditions: all their ids.
        ({"a": {"EventID": 4624}, "b": {"EventID": 5145}, "condition": ["a", "b"]}, {4624, 5145}),
        ({"sel": {"EventID": 4624}, "f": {"User": "x"}, "condition": "sel and not f"}, {4624}),
    ],
)
def test_event_ids_a_rule_cannot_match_without(
    detection: dict[str, object], expected: set[int]
) -> None:
    assert _event_ids(detection) == expected


@pytest.mark.parametrize(
    "detection",
    [
        {"a": {"EventID": 4624}, "b": {"User": "x"}, "condition": "a or b"},
        {"sel": {"EventID": 4624}, "condition": "not sel"},
        {"sel": {"EventID": "46*"}, "condition": "sel"},
        {"sel": {"EventID|contains": "46"}, "condition": "sel"},
        {"sel": {"EventID|re": "^4624$"}, "condition": "sel"},
        {"sel": {"EventID|gt": 4000}, "condition": "sel"},
        {"sel": {"EventID": 4624.5}, "condition": "sel"},
        {"sel": {"EventID": "４６２４"}, "condition": "sel"},  # not ASCII digits
        {"sel": {"EventIDs": 4624}, "condition": "sel"},
        {"sel": ["4624"], "condition": "sel"},  # a keyword
    ],
)
def test_unsure_event_ids_give_nothing(detection: dict[str, object]) -> None:
    assert _event_ids(detection) is None
