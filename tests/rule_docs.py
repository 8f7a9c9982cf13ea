"""Rules written in a test as their detections only (process creation rules, keyword
rules of any Windows log), numbered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import compile_rules


def process_creation_rules(*detections: dict[str, Any]) -> list[CompiledRule]:
    """One compiled process creation rule per detection, titled and identified by its
    place (``rule 0``, ``...-000000000000``); a rule that fails to compile fails the test."""
    logsource = {"product": "windows", "category": "process_creation"}
    return _numbered("rule", "9000", logsource, detections)


def keyword_rules(*keyword_lists: list[str]) -> list[CompiledRule]:
    """One compiled rule of keywords alone (any Windows log: the slice of every event)
    per list, titled ``keywords 0``..."""
    detections = [{"k": keywords, "condition": "k"} for keywords in keyword_lists]
    return _numbered("keywords", "a000", {"product": "windows"}, detections)


def _numbered(
    title: str, block: str, logsource: dict[str, str], detections: Sequence[dict[str, Any]]
) -> list[CompiledRule]:
    out: list[CompiledRule] = []
    for n, detection in enumerate(detections):
        ruleset = compile_rules(
            {
                "title": f"{title} {n}",
                "id": f"00000000-0000-4000-{block}-{n:012d}",
                "logsource": logsource,
                "detection": detection,
            }
        )
        assert not ruleset.failed, ruleset.failed
        out.extend(ruleset.rules)
    return out
