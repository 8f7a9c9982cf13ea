"""Level overrides: an analyst's file that re-grades rules without editing them.

A rule that is right but over-graded for a network (``high`` for a tool its admins run
daily) is re-graded rather than silenced. The file maps a rule id, or a glob over rule
titles, to a level::

    5f1a1b0c-3c1e-4d0b-9f6e-0c1e2d3a4b5c: low      # one rule, by id
    "Whoami Utility Execution": informational      # by title
    "Suspicious * Via Netsh*": medium              # every title the glob matches

An id wins over a title glob; among globs the first in the file wins. Ids compare as
UUIDs, titles case-insensitively. Overrides apply after loading (never to the compile
cache) and before a profile chooses rules, so a re-graded rule moves in or out of
``--profile core`` accordingly. Each re-graded rule records the change
(``CompiledRule.level_override``); an entry that matches no rule is reported, as a
typo would otherwise leave a rule at its old level unnoticed.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._support.yaml_files import read_yaml_file
from ..errors import InputIssue, UsageError

if TYPE_CHECKING:
    from .model import RuleSet

LEVELS = ("informational", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Override:
    pattern: str
    level: str
    by_id: bool


def _as_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def load_overrides(path: str | Path) -> list[Override]:
    """Read a level override file; anything malformed is a usage error."""
    path = Path(path)
    data, _ = read_yaml_file(path, "level override file")
    if data is None:
        return []
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a level override file maps rule ids or titles to levels")
    out = []
    for key, value in data.items():
        level = str(value).strip().lower()
        if level not in LEVELS:
            raise UsageError(f"{path}: {key!r}: level {value!r} is not one of {', '.join(LEVELS)}")
        text = str(key).strip()
        ident = _as_uuid(text)
        out.append(Override(ident or text, level, by_id=ident is not None))
    return out


def apply_overrides(ruleset: RuleSet, path: str | Path) -> list[InputIssue]:
    """Re-grade the rules (and correlation rules) of ``ruleset`` in place; return an
    issue per entry that matched nothing."""
    from sigma.rule import SigmaLevel

    overrides = load_overrides(path)
    used: set[Override] = set()
    label = Path(path).name

    def choose(rule_id: str | None, title: str) -> Override | None:
        ident = _as_uuid(rule_id) if rule_id else None
        for o in overrides:
            if o.by_id and ident == o.pattern:
                return o
        for o in overrides:
            if not o.by_id and fnmatch.fnmatchcase(title.lower(), o.pattern.lower()):
                return o
        return None

    for i, rule in enumerate(ruleset.rules):
        o = choose(rule.id, rule.title)
        if o is None:
            continue
        used.add(o)
        if o.level != rule.level:
            ruleset.rules[i] = dataclasses.replace(
                rule, level=o.level, level_override=f"{label}: {rule.level} -> {o.level}"
            )
    for corr, _ in ruleset.correlations:
        o = choose(str(corr.id) if corr.id else None, corr.title or "")
        if o is not None:
            used.add(o)
            corr.level = SigmaLevel[o.level.upper()]
    return [
        InputIssue(str(path), None, f"level override {o.pattern!r} matches no rule", "override")
        for o in overrides
        if o not in used
    ]
