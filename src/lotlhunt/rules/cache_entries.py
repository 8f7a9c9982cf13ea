"""How a rule file's compiled outcome is stored in and rebuilt from the rule cache.

A cache entry holds what compiling one file gave (rules, failures, not-applicable rules,
the rules it defines, and which Sigma filters shaped it); what is a function of the
cache key (a rule's slices) is derived on the way back instead of stored.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ..errors import InputIssue
from . import cache as rule_cache
from .compiling import BY_CHANNEL
from .logsources import Variant, resolve_names
from .model import DEFERRED_FIELDS, CompiledRule, RuleSet
from .tuning import (
    LoadedFilter,
    RuleRef,
    filter_digest,
)

#: How a cache entry's parts are rebuilt.
_ENTRY_SCHEMA: dict[str, Any] = {
    "rules": list[CompiledRule],
    "failed": list[InputIssue],
    "not_applicable": list[tuple[str, str]],
    "unresolved": dict[str, list[str]],
    "known": list[RuleRef],
    "filters_key": str,
}


@functools.cache
def _variants(
    logsource: tuple[str | None, str | None, str | None], by_channel: bool = False
) -> tuple[Variant, ...]:
    """A compiled rule's slices: a function of its logsource (and logsources.yaml, part of
    the cache key), so the cache derives them instead of storing them."""
    if by_channel:
        return (BY_CHANNEL,)
    product, category, service = logsource
    return resolve_names(product, category, service).variants


rule_cache.DERIVED[CompiledRule] = {
    "variants": lambda v: _variants(tuple(v["logsource"]), bool(v["by_channel"]))
}
rule_cache.DEFERRED[CompiledRule] = DEFERRED_FIELDS


def _entry(result: RuleSet, filters_key: str) -> dict[str, Any]:
    return {
        "rules": result.rules,
        "failed": result.failed,
        "not_applicable": result.not_applicable,
        "unresolved": result.unresolved_placeholders,
        "known": result.known,
        "filters_key": filters_key,
    }


def _from_entry(entry: dict[str, Any]) -> RuleSet:
    return RuleSet(
        rules=list(entry["rules"]),
        failed=list(entry["failed"]),
        not_applicable=list(entry["not_applicable"]),
        unresolved_placeholders=dict(entry["unresolved"]),
        known=list(entry["known"]),
        files=1,
        cache_hits=1,
    )


def _applicable_key(known: Sequence[RuleRef], filters: Sequence[LoadedFilter]) -> str:
    return filter_digest({f.digest: f for f in filters for r in known if f.applies_to(r)}.values())
