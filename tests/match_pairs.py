"""An evaluation's matches as a set of (rule, row id) pairs: what tests compare between
two ways of evaluating the same rules."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from lotlhunt.engines.base import Engine
from lotlhunt.rules.model import CompiledRule


def pairs(table: pa.Table) -> set[tuple[int, int]]:
    """The (rule, rid) pairs of a matches table."""
    return set(zip(table.column("rule").to_pylist(), table.column("rid").to_pylist(), strict=True))


def evaluated_pairs(engine: Engine, rules: Sequence[CompiledRule]) -> set[tuple[int, int]]:
    """The pairs ``engine`` matches with ``rules``; a rule that fails fails the test."""
    found = engine.evaluate(rules)
    assert not found.failed, found.failed
    return pairs(found.matches)
