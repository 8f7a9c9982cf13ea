"""Explanations of detections: which selections held, decided from the rule's SQL where a
match decides them, and evaluated otherwise, with the same outcome either way."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest

from lotlhunt.analytics import explain
from lotlhunt.engines.base import EngineOptions
from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.testing import compile_rules

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _rule(detection: dict[str, Any], title: str = "r", n: int = 1) -> dict[str, Any]:
    return {
        "title": title,
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "level": "medium",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": detection,
    }


def _implied(detection: dict[str, Any]) -> dict[str, bool | None]:
    (rule,) = compile_rules(_rule(detection)).rules
    names = [name for name, _ in rule.selections]
    return dict(zip(names, explain.implied_selections(rule), strict=True))


def test_selection_and_not_filters_are_decided_by_the_match() -> None:
    assert _implied(
        {
            "selection": {"Image|endswith": "\\cmd.exe", "CommandLine|contains": "whoami"},
            "filter_main_a": {"ParentImage|endswith": "\\explorer.exe"},
            "filter_main_b": {"User|contains": ["SYSTEM", "LOCAL SERVICE"]},
            "condition": "selection and not 1 of filter_main_*",
        }
    ) == {"selection": True, "filter_main_a": False, "filter_main_b": False}


def test_selections_under_or_are_left_to_evaluation() -> None:
    assert _implied(
        {
            "sel_a": {"Image|endswith": "\\cmd.exe"},
            "sel_b": {"Image|endswith": "\\powershell.exe"},
            "condition": "1 of sel_*",
        }
    ) == {"sel_a": None, "sel_b": None}
    assert _implied(
        {
            "selection": {"Image|endswith": "\\cmd.exe"},
            "other": {"CommandLine|contains": "x"},
            "unused": {"User": "bob"},
            "condition": "selection and other",
        }
    ) == {"selection": True, "other": True, "unused": None}


def test_and_inside_a_value_is_not_an_operator() -> None:
    # The rule's SQL holds the text ' AND ' inside a string literal and an identifier.
    decided = _implied(
        {
            "selection": {"CommandLine|contains": "a) AND (b", "Field AND x": "y"},
            "filter": {"Image|contains": "' AND '"},
            "condition": "selection and not filter",
        }
    )
    assert decided == {"selection": True, "filter": False}


def test_a_negated_selection_alone_does_not_hold() -> None:
    assert _implied(
        {"selection": {"Image|endswith": "\\cmd.exe"}, "condition": "not selection"}
    ) == {"selection": False}


EVENTS: list[dict[str, Any]] = [
    {"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c whoami", "User": "bob"},
    {"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c dir", "User": "SYSTEM"},
    {"Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"},
    {"Image": "C:\\Tools\\procdump.exe", "CommandLine": "procdump -ma lsass.exe a.dmp"},
    {"Image": "C:\\Windows\\explorer.exe", "ParentImage": "C:\\Windows\\userinit.exe"},
    {"CommandLine": "net user admin /add", "User": "LOCAL SERVICE"},
]

RULES: list[dict[str, Any]] = [
    _rule(
        {
            "selection": {"Image|endswith": "\\cmd.exe"},
            "filter": {"User": "SYSTEM"},
            "condition": "selection and not filter",
        },
        "and not",
        1,
    ),
    _rule(
        {
            "sel_img": {"Image|endswith": ["\\cmd.exe", "\\powershell.exe"]},
            "sel_dump": {"CommandLine|contains": "lsass"},
            "condition": "1 of sel_*",
        },
        "one of",
        2,
    ),
    _rule(
        {
            "selection": {"Image|contains": "\\Windows\\"},
            "filter_a": {"ParentImage|endswith": "\\userinit.exe"},
            "filter_b": {"CommandLine|contains": "dir"},
            "condition": "selection and not 1 of filter_*",
        },
        "not one of",
        3,
    ),
    _rule(
        {"keywords": ["whoami", "/add"], "condition": "keywords"},
        "keywords",
        4,
    ),
    _rule(
        {
            "selection": {"CommandLine|contains|all": ["net", "user"]},
            "other": {"User|contains": "SERVICE"},
            "condition": "selection and (other or not other)",
        },
        "mixed",
        5,
    ),
]


def _explained(
    tmp_path: Path, options: EngineOptions | None = None
) -> list[tuple[str, int, dict[str, str | None], tuple[str, ...]]]:
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps({"Channel": SYSMON, "EventID": 1, "Hostname": "ws1", **e}) + "\n"
            for e in EVENTS
        ),
        encoding="utf-8",
    )
    config = HuntConfig(paths=[events], default_rules=False, extra_rule_dicts=RULES)
    if options is not None:
        config.engine_options = options
    result = run_hunt(config)
    return sorted(
        (d.rule_title, int(d.position or 0), d.fields, d.matched) for d in result.detections
    )


def test_decided_selections_are_the_ones_evaluation_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decided = _explained(tmp_path)
    monkeypatch.setattr(
        explain, "implied_selections", lambda rule: tuple(None for _ in rule.selections)
    )
    evaluated = _explained(tmp_path)
    assert decided == evaluated
    assert {title for title, *_ in decided} == {
        "and not",
        "one of",
        "not one of",
        "keywords",
        "mixed",
    }
    by_title = {(t, m) for t, _, _, m in decided}
    assert ("and not", ("selection",)) in by_title
    assert ("not one of", ("selection",)) in by_title
    assert ("one of", ("sel_dump",)) in by_title


def test_many_fired_rules_of_one_slice_are_explained_in_chunks(tmp_path: Path) -> None:
    # Fewer rules per explanation query than fired rules: every chunk answers its own.
    whole = _explained(tmp_path)
    assert _explained(tmp_path, EngineOptions(explain_per_query=2)) == whole


def test_collecting_leaves_the_garbage_collector_as_it_was(tmp_path: Path) -> None:
    # Collection pauses the cyclic collector while it builds detections; it must come
    # back on, and stay off for a caller who had turned it off.
    assert _explained(tmp_path)
    assert gc.isenabled()
    gc.disable()
    try:
        assert _explained(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_matches_on_two_slices_of_one_rule_show_each_slice_s_values(tmp_path: Path) -> None:
    # Process creation is Sysmon 1 and Security 4688 (Image named NewProcessName there):
    # each match is explained from the slice its event lies on, with that slice's names,
    # and a slice holding none of a rule's matches is left alone.
    events = tmp_path / "events.jsonl"
    rows = [
        {"Channel": SYSMON, "EventID": 1, "Image": "C:\\Windows\\System32\\cmd.exe"},
        {"Channel": "security", "EventID": 4688, "NewProcessName": "C:\\Tools\\cmd.exe"},
        {"Channel": "Security", "EventID": 4624, "NewProcessName": "C:\\Other\\cmd.exe"},
    ]
    events.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    rules = [
        _rule({"selection": {"Image|endswith": "\\cmd.exe"}, "condition": "selection"}, "img", 1),
        _rule(
            {
                "a": {"Image|contains": "\\Tools\\"},
                "b": {"Image|contains": "\\System32\\"},
                "condition": "a or b",
            },
            "either",
            2,
        ),
    ]
    config = HuntConfig(paths=[events], default_rules=False, extra_rule_dicts=rules)
    got = sorted(
        (d.rule_title, d.channel, d.fields.get("Image"), d.matched)
        for d in run_hunt(config).detections
    )
    assert got == [
        (
            "either",
            "Microsoft-Windows-Sysmon/Operational",
            "C:\\Windows\\System32\\cmd.exe",
            ("b",),
        ),
        ("either", "security", "C:\\Tools\\cmd.exe", ("a",)),
        (
            "img",
            "Microsoft-Windows-Sysmon/Operational",
            "C:\\Windows\\System32\\cmd.exe",
            ("selection",),
        ),
        ("img", "security", "C:\\Tools\\cmd.exe", ("selection",)),
    ]
