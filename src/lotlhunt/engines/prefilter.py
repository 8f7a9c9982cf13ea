"""Which rules can match a slice, and on which rows, before paying the engine for them.

Planning a rule's SQL costs DuckDB a few milliseconds whatever the data size, and running
it costs a string scan of every row per value it compares; most rules match almost
nothing. Most rules need some literal (``\\ntdsutil.exe``, ``portproxy``) in some field
(:func:`lotlhunt.literals.required_literals`), and which of them occur in a slice is
cheap to find once for all its rules:

- :func:`plan_by_presence`: a rule none of whose required literals occurs is not run
  (the engine searches each field for an alternation of all its literals,
  :func:`present_by_search`; :func:`present_literals` is one Aho-Corasick pass over the
  distinct values in Python).

It is conservative: a rule without known literals is never skipped, and a rule that is
not skipped is evaluated in full, so the answer is exactly the rule's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import ahocorasick
import pyarrow as pa

from ..rules.compile.dialect import re2_escape
from ..rules.compile.literals import MAX_LITERAL
from ..rules.model import CompiledRule

SEPARATOR = "\x00"


@dataclass
class RulePlan:
    """How each rule of a slice runs: not at all, on every row, or on its candidates."""

    skipped: list[int] = field(default_factory=list)
    plain: list[int] = field(default_factory=list)


def plan_by_presence(
    rules: Sequence[CompiledRule],
    idxs: Sequence[int],
    present: Callable[[dict[str, set[str]]], set[tuple[str, str]]],
    by_field: dict[str, set[str]] | None = None,
) -> RulePlan:
    """Skip the rules among ``idxs`` with a required clause none of whose literals occurs
    in the slice; run the others on every row. ``present(literals by field)`` gives the
    (field, literal) pairs that occur (:func:`present_literals`,
    :func:`present_by_search`); ``by_field``: the rules' :func:`literal_index`, if known."""
    if by_field is None:
        by_field = literal_index(rules, idxs)
    if not by_field:
        return RulePlan(plain=list(idxs))
    found = present(by_field)
    plan = RulePlan()
    for i in idxs:
        (plan.plain if may_match(rules[i], found) else plan.skipped).append(i)
    return plan


def present_literals(
    by_field: dict[str, set[str]],
    distinct_values: Callable[[str], Iterable[pa.Array]],
) -> set[tuple[str, str]]:
    """The (field, literal) pairs that occur in at least one value of the slice."""
    found: set[tuple[str, str]] = set()
    for name, literals in by_field.items():
        automaton = _automaton({lit: lit for lit in literals})
        remaining = set(literals)
        for chunk in distinct_values(name):
            text = SEPARATOR.join(v for v in chunk.to_pylist() if v is not None)
            for _end, lit in automaton.iter(text):
                if lit in remaining:
                    remaining.discard(lit)
                    found.add((name, lit))
            if not remaining:
                break
    return found


def present_by_search(
    by_field: dict[str, set[str]],
    search: Callable[[str, list[str]], set[str]],
) -> set[tuple[str, str]]:
    """The (field, literal) pairs that occur, found by an engine's regular-expression
    search instead of Python: ``search(field, literals)`` returns the texts of all
    non-overlapping matches of an alternation of ``literals`` in the field's values.

    A search does not report a literal whose every occurrence overlaps another's match,
    so it runs again on the literals not reported yet, until a round reports none of
    them: then none occurs (a search finds a match wherever any alternative matches).
    Usually two or three rounds. The engine scans long values at its own speed: 205 MB
    of distinct PowerShell payloads took Python's Aho-Corasick pass 8.5 s, three
    rounds in DuckDB 1.9 s.
    """
    found: set[tuple[str, str]] = set()
    for name, literals in by_field.items():
        remaining = set(literals)
        while remaining:
            # Longest first: of alternatives matching at one place, the first listed wins.
            new = search(name, sorted(remaining, key=lambda x: (-len(x), x))) & remaining
            if not new:
                break
            remaining -= new
            found.update((name, lit) for lit in new)
    return found


def alternation(literals: Iterable[str]) -> str:
    """An RE2 pattern matching any of ``literals``, in the order given."""
    return "|".join(re2_escape(lit) for lit in literals)


def may_match(rule: CompiledRule, found: set[tuple[str, str]]) -> bool:
    """False only when some required clause has none of its literals in the slice."""
    return all(any((f.lower(), lit) in found for f, lit in clause) for clause in rule.needs or ())


def literal_index(rules: Sequence[CompiledRule], idxs: Iterable[int]) -> dict[str, set[str]]:
    """Per lower-cased field, every literal some rule among ``idxs`` requires."""
    by_field: dict[str, set[str]] = defaultdict(set)
    for i in idxs:
        for clause in rules[i].needs or ():
            for name, literal in clause:
                by_field[name.lower()].add(literal)
    return by_field


def _automaton(words: Mapping[str, object]) -> ahocorasick.Automaton:
    """An Aho-Corasick automaton reporting each word's value where the word occurs."""
    automaton = ahocorasick.Automaton()
    for word, value in words.items():
        if len(word) > MAX_LITERAL:  # see MAX_LITERAL: a longer word can crash the process
            raise ValueError(f"literal of {len(word)} characters, over {MAX_LITERAL}")
        automaton.add_word(word, value)
    automaton.make_automaton()
    return automaton
