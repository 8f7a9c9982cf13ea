"""Skip rules that cannot match a slice, before paying the engine's per-rule cost.

Planning a rule's SQL costs DuckDB a few milliseconds whatever the data size, so running
2,400 rules costs seconds even on a few thousand events. Most rules need some literal
(``\\ntdsutil.exe``, ``portproxy``) in some field. One Aho-Corasick pass per field over the
slice's distinct lower-cased values finds which of all the rules' literals occur at all;
a rule none of whose required literals occurs is known not to match and is not run.
The check is conservative: a rule without known literals always runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import ahocorasick
import pyarrow as pa

from ..rules import CompiledRule
from ..sigma_sql import LOWER_SUFFIX, Dialect

#: Distinct values joined per Aho-Corasick pass; bounds memory on large slices.
SCAN_ROWS = 65_536
SEPARATOR = "\x00"


def literal_index(rules: Sequence[CompiledRule], idxs: Iterable[int]) -> dict[str, set[str]]:
    """Per field, every literal some rule among ``idxs`` requires."""
    by_field: dict[str, set[str]] = defaultdict(set)
    for i in idxs:
        for clause in rules[i].needs or ():
            for field, literal in clause:
                by_field[field.lower()].add(literal)
    return by_field


def present_literals(
    by_field: dict[str, set[str]],
    distinct_values: Callable[[str], Iterable[pa.Array]],
) -> set[tuple[str, str]]:
    """The (field, literal) pairs that occur in at least one value of the slice."""
    found: set[tuple[str, str]] = set()
    for field, literals in by_field.items():
        automaton = ahocorasick.Automaton()
        for lit in literals:
            automaton.add_word(lit, lit)
        automaton.make_automaton()
        remaining = set(literals)
        for chunk in distinct_values(field):
            text = SEPARATOR.join(v for v in chunk.to_pylist() if v is not None)
            for _end, lit in automaton.iter(text):
                if lit in remaining:
                    remaining.discard(lit)
                    found.add((field, lit))
            if not remaining:
                break
    return found


def may_match(rule: CompiledRule, found: set[tuple[str, str]]) -> bool:
    """False only when some required clause has none of its literals in the slice."""
    return all(any((f.lower(), lit) in found for f, lit in clause) for clause in rule.needs or ())


def distinct_query(field: str, table: str) -> str:
    col = Dialect.ident(field + LOWER_SUFFIX)
    return f"SELECT DISTINCT {col} AS v FROM {table} WHERE {col} IS NOT NULL"
