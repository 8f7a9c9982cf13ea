"""Literals a Sigma condition cannot match without: the key of the engine's prefilter.

A rule that needs ``\\ntdsutil.exe`` in ``Image`` cannot match an event without it; the
prefilter (:mod:`lotlhunt.engines.prefilter`) skips or narrows rules by finding such
literals in a slice once for all rules. Strings give their longest literal part; regular
expressions the literals every match holds (``ipconfig\\s+/all`` needs ``ipconfig``;
``net\\s+(user|group)`` needs ``user`` or ``group``), read with Python's own parser (the
syntax RE2 shares with it), where anything it reads differently or cannot read gives no
literal. Knowing nothing is always safe: the rule then runs on every row.

Literals are lower-cased and matched against lower-cased values, so only those whose
lower-casing Python and the engine certainly share are used (:func:`caseless_safe`).
"""

from __future__ import annotations

import re
import warnings
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from sigma.types import SigmaRegularExpression

_LITERAL = sre_constants.LITERAL
_SUBPATTERN = sre_constants.SUBPATTERN
_BRANCH = sre_constants.BRANCH
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_IGNORECASE = re.IGNORECASE

#: Longest literal kept for the prefilter; a longer one is cut to its first characters
#: (still a literal every match holds). pyahocorasick builds a trie node per character
#: and frees it recursively: a word of 700,000 characters crashed the process (SIGSEGV)
#: when its automaton was freed, 500,000 did not (pyahocorasick 2.3.1, 8 MiB stack).
MAX_LITERAL = 1024

Clause = frozenset[tuple[str, str]]
#: Required literals in conjunctive form: every clause needs one of its (field, literal)
#: pairs present; None when nothing is known.
Needs = tuple[Clause, ...] | None


def union_needs(parts: list[Needs]) -> Needs:
    """Needs of an OR: one clause made of the smallest clause of each branch."""
    if not parts or any(not p for p in parts):
        return None
    clause: set[tuple[str, str]] = set()
    for p in parts:
        assert p is not None
        clause |= min(p, key=len)
    return (frozenset(clause),)


def required_literals(node: Any) -> Needs:
    """Literals a condition cannot match without: the key of the engine's prefilter.

    The result is a conjunction of clauses. An AND keeps the clauses of all its branches
    (each must match); an OR must allow any branch, so it yields one clause uniting the
    smallest clause of every branch; a regular expression gives the literals every match
    holds (:func:`regex_literals`); NOT, numbers and keywords give nothing.
    Only literals whose characters are ASCII or caseless (emoji, CJK) are used,
    so Python's lower-casing agrees with the engine's.
    """
    # pySigma is imported when a rule is compiled, not when a cached one is loaded.
    from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
    from sigma.types import (
        SigmaExpansion,
        SigmaRegularExpression,
        SigmaRegularExpressionFlag,
        SigmaString,
    )

    if isinstance(node, ConditionOR):
        return union_needs([required_literals(a) for a in node.args])
    if isinstance(node, ConditionAND):
        clauses = [c for a in node.args for c in (required_literals(a) or ())]
        return tuple(dict.fromkeys(clauses)) or None
    if isinstance(node, ConditionFieldEqualsValueExpression) and node.field:
        value = node.value
        if isinstance(value, SigmaExpansion):
            return union_needs(
                [
                    required_literals(ConditionFieldEqualsValueExpression(node.field, v))
                    for v in value.values
                ]
            )
        if isinstance(value, SigmaRegularExpression):
            ignore_case = SigmaRegularExpressionFlag.IGNORECASE in value.flags
            found = regex_literals(regex_pattern(value), ignore_case)
            if found:
                return (frozenset((node.field, lit) for lit in found),)
            return None
        if isinstance(value, SigmaString) and not value.contains_placeholder():
            parts = [p for p in value.s if isinstance(p, str)]
            longest = max(parts, key=len, default="")
            if longest and caseless_safe(longest):
                return (frozenset({(node.field, longest.lower()[:MAX_LITERAL])}),)
    return None


EventIds = frozenset[int] | None


def union_event_ids(parts: list[EventIds]) -> EventIds:
    """Event ids of an OR: all of its branches' ids, when every branch has some."""
    if not parts or any(p is None for p in parts):
        return None
    return frozenset().union(*parts)  # type: ignore[arg-type]


def required_event_ids(node: Any) -> EventIds:
    """The event ids a condition cannot match without (``EventID: 4624``), or None.

    The engine builds a rule's slice of those events only: most rules of a whole
    channel's logsource (``service: security``) name their events in the detection, so
    they need not scan the channel's other events, and a rule whose events the logs do
    not hold need not run. An AND holds the ids every branch that names some allows; an
    OR the ids of all its branches, known only if each has some. Only exact integers
    count (a number, or a string of ASCII digits: ``'04624'`` matches no event, so
    reading it as 4624 only keeps rows that cannot match); NOT, wildcards, modifiers and
    placeholders give nothing, which is always safe.
    """
    from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
    from sigma.types import SigmaExpansion, SigmaNumber, SigmaString

    if isinstance(node, ConditionOR):
        return union_event_ids([required_event_ids(a) for a in node.args])
    if isinstance(node, ConditionAND):
        known = [ids for ids in map(required_event_ids, node.args) if ids is not None]
        return frozenset.intersection(*known) if known else None
    if not isinstance(node, ConditionFieldEqualsValueExpression) or not node.field:
        return None
    if node.field.lower() != "eventid":
        return None
    value = node.value
    if isinstance(value, SigmaExpansion):
        return union_event_ids(
            [
                required_event_ids(ConditionFieldEqualsValueExpression(node.field, v))
                for v in value.values
            ]
        )
    if isinstance(value, SigmaNumber) and type(value.number) is int:
        return frozenset({value.number})
    if isinstance(value, SigmaString) and not (
        value.contains_special() or value.contains_placeholder()
    ):
        text = value.to_plain()
        if text.isascii() and text.isdigit():
            return frozenset({int(text)})
    return None


#: Shortest literal worth requiring (shorter ones occur almost everywhere).
MIN_LITERAL = 3


def regex_literals(pattern: str, ignore_case: bool = False) -> frozenset[str] | None:
    """Lower-cased literals one of which occurs in every text ``pattern`` matches, or
    None when nothing is known.

    The text is the lower-cased value the prefilter searches. Case-insensitive matching
    folds ``s`` with ``ſ`` (U+017F), which lower-casing leaves as it is, so under
    ``(?i)`` a literal stops at every ``s``.
    """
    try:
        with warnings.catch_warnings():
            # Python warns where its reading may differ from other engines' (a nested
            # set such as RE2's ``[[:alpha:]]``): no literal is known there.
            warnings.simplefilter("error")
            parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError, Warning):
        return None
    ignore_case = ignore_case or bool(parsed.state.flags & _IGNORECASE)
    found = _sequence(list(parsed), ignore_case)
    return frozenset(found) if found else None


def _sequence(items: list[tuple[object, object]], ignore_case: bool) -> set[str] | None:
    """The best clause of a sequence: its longest run of literal characters, or a group's
    clause when that is better (one alternative per literal)."""
    best: set[str] | None = None
    run: list[str] = []

    def consider(clause: set[str] | None) -> None:
        nonlocal best
        if clause and (best is None or _score(clause) > _score(best)):
            best = clause

    def flush() -> None:
        if run:
            consider(_literal("".join(run), ignore_case))
            run.clear()

    for op, av in items:
        if op is _LITERAL:
            run.append(chr(av))  # type: ignore[arg-type]
            continue
        flush()
        if op is _SUBPATTERN:
            _group, add_flags, del_flags, sub = cast(tuple[Any, int, int, Any], av)
            sub_case = (ignore_case or bool(add_flags & _IGNORECASE)) and not (
                del_flags & _IGNORECASE
            )
            consider(_sequence(list(sub), sub_case))
        elif op is _BRANCH:
            _unused, alternatives = cast(tuple[Any, list[Any]], av)
            union: set[str] = set()
            for alt in alternatives:
                clause = _sequence(list(alt), ignore_case)
                if not clause:
                    union = set()
                    break
                union |= clause
            consider(union or None)
        elif op in _REPEATS:
            low, _high, sub = cast(tuple[int, int, Any], av)
            if low >= 1:
                consider(_sequence(list(sub), ignore_case))
    flush()
    return best


def _literal(text: str, ignore_case: bool) -> set[str] | None:
    """The usable part of a run of literal characters, lower-cased."""
    parts = re.split("[sS]", text) if ignore_case else [text]
    parts = [p for p in parts if len(p) >= MIN_LITERAL and caseless_safe(p)]
    if not parts:
        return None
    return {max(parts, key=len).lower()[:MAX_LITERAL]}


def _score(clause: set[str]) -> int:
    """A clause filters as well as its weakest (shortest) literal, and worse the more
    alternatives it has."""
    return min(len(lit) for lit in clause) * 4 - len(clause)


def regex_pattern(rx: SigmaRegularExpression) -> str:
    """The pattern text of a Sigma regular expression, as the rule wrote it."""
    return rx.regexp.original if hasattr(rx.regexp, "original") else str(rx.regexp)


def caseless_safe(text: str) -> bool:
    """Whether Python's lower-casing of ``text`` is certainly the engine's."""
    return all(c.isascii() or c.lower() == c.upper() for c in text)
