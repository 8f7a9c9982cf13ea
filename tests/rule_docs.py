"""Rules written in a test as their detections only: process creation rules, numbered."""

from __future__ import annotations

from typing import Any

from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import compile_rules


def process_creation_rules(*detections: dict[str, Any]) -> list[CompiledRule]:
    """One compiled process creation rule per detection, titled and identified by its
    place (``rule 0``, ``...-000000000000``); a rule that fails to compile fails the test."""
    out: list[CompiledRule] = []
    for n, detection in enumerate(detections):
        ruleset = compile_rules(
            {
                "title": f"rule {n}",
                "id": f"00000000-0000-4000-9000-{n:012d}",
                "logsource": {"product": "windows", "category": "process_creation"},
                "detection": detection,
            }
        )
        assert not ruleset.failed, ruleset.failed
        out.extend(ruleset.rules)
    return out
