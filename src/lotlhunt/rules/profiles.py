"""Rule profiles: which loaded rules a hunt runs, chosen by level and status.

The sets follow Hayabusa's scan wizard, itself built on SigmaHQ's rule packages: a
rule's ``status`` says how long it has gone without reported false positives
(``stable``/``test``: six months or more), its ``level`` how much a hit matters.

=========  ==========================================================================
``core``   status ``stable`` or ``test``, level ``high`` or ``critical``: few false
           positives, worth reading every hit.
``core+``  status ``stable`` or ``test``, level ``medium`` or above.
``core++`` status ``stable``, ``test`` or ``experimental``, level ``medium`` or above.
``hunting`` ``core++`` and ``low``, plus every rule tagged ``detection.threat-hunting``
           or ``detection.emerging-threats`` at any level: for a hunter who reads
           weak signals; ``deprecated`` and ``unsupported`` rules stay out.
``all``    every rule that loads (the default).
=========  ==========================================================================

A rule without a status counts as ``experimental``. A rule outside the profile that a
correlation rule of the profile counts is kept (the correlation needs its hits; with
``generate: false`` they are not reported on their own). Every rule left out is
counted, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import CompiledRule, RuleSet

LEVEL_RANK = {"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
HUNTING_TAGS = ("detection.threat-hunting", "detection.emerging-threats")


class Profile(StrEnum):
    CORE = "core"
    CORE_PLUS = "core+"
    CORE_PLUS_PLUS = "core++"
    HUNTING = "hunting"
    ALL = "all"


@dataclass(frozen=True)
class _Bounds:
    statuses: frozenset[str] | None  # None: any
    min_level: str
    tags: tuple[str, ...] = ()  # rules with one of these tags are in at any level


_STABLE = frozenset({"stable", "test"})
_BOUNDS = {
    Profile.CORE: _Bounds(_STABLE, "high"),
    Profile.CORE_PLUS: _Bounds(_STABLE, "medium"),
    Profile.CORE_PLUS_PLUS: _Bounds(_STABLE | {"experimental"}, "medium"),
    Profile.HUNTING: _Bounds(_STABLE | {"experimental"}, "low", HUNTING_TAGS),
    Profile.ALL: _Bounds(None, "informational"),
}


def in_profile(profile: Profile, level: str, status: str, tags: Iterable[str]) -> bool:
    """Whether a rule of this level, status and tags belongs to ``profile``."""
    bounds = _BOUNDS[profile]
    status = status or "experimental"
    if bounds.statuses is not None and status not in bounds.statuses:
        return False
    if LEVEL_RANK.get(level, 0) >= LEVEL_RANK[bounds.min_level]:
        return True
    lowered = [t.lower() for t in tags]
    return any(t in lowered for t in bounds.tags)


def _correlation_facts(corr: Any) -> tuple[str, str, list[str]]:
    level = corr.level.name.lower() if corr.level else "informational"
    status = corr.status.name.lower() if corr.status else ""
    return level, status, [f"{t.namespace}.{t.name}" for t in corr.tags]


def apply_profile(ruleset: RuleSet, profile: Profile) -> int:
    """Keep the rules of ``profile`` in ``ruleset`` (in place); return how many left."""
    if profile is Profile.ALL:
        return 0
    kept_corr = [
        (c, p) for c, p in ruleset.correlations if in_profile(profile, *_correlation_facts(c))
    ]
    wanted = {str(r.reference).lower() for c, _ in kept_corr for r in c.rules or ()}

    def keep(rule: CompiledRule) -> bool:
        if in_profile(profile, rule.level, rule.status, rule.tags):
            return True
        return rule.id.lower() in wanted or (rule.name or "").lower() in wanted

    before = len(ruleset.rules) + len(ruleset.correlations)
    ruleset.rules = [r for r in ruleset.rules if keep(r)]
    ruleset.correlations = kept_corr
    return before - len(ruleset.rules) - len(ruleset.correlations)
