"""Literals a regular expression cannot match without, for the engine's prefilter.

``ipconfig\\s+/all`` matches nothing that lacks ``ipconfig``; ``net\\s+(user|group)``
nothing that lacks ``user`` or ``group``. Knowing this lets the prefilter skip a rule made
of regular expressions wherever those literals are absent, as it does for ``contains``.
Patterns are read with Python's own parser (the syntax RE2 shares with it); anything it
reads differently or cannot read gives no literal, which is always safe: the rule then
runs on every row.
"""

from __future__ import annotations

import re
import warnings

try:  # Python 3.11+
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

_LITERAL = sre_constants.LITERAL
_SUBPATTERN = sre_constants.SUBPATTERN
_BRANCH = sre_constants.BRANCH
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_IGNORECASE = re.IGNORECASE

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
            _group, add_flags, del_flags, sub = av  # type: ignore[misc]
            sub_case = (ignore_case or bool(add_flags & _IGNORECASE)) and not (
                del_flags & _IGNORECASE
            )
            consider(_sequence(list(sub), sub_case))
        elif op is _BRANCH:
            _unused, alternatives = av  # type: ignore[misc]
            union: set[str] = set()
            for alt in alternatives:
                clause = _sequence(list(alt), ignore_case)
                if not clause:
                    union = set()
                    break
                union |= clause
            consider(union or None)
        elif op in _REPEATS:
            low, _high, sub = av  # type: ignore[misc]
            if low >= 1:
                consider(_sequence(list(sub), ignore_case))
    flush()
    return best


def _literal(text: str, ignore_case: bool) -> set[str] | None:
    """The usable part of a run of literal characters, lower-cased."""
    parts = re.split("[sS]", text) if ignore_case else [text]
    parts = [p for p in parts if len(p) >= MIN_LITERAL and _caseless_safe(p)]
    if not parts:
        return None
    return {max(parts, key=len).lower()}


def _score(clause: set[str]) -> int:
    """A clause filters as well as its weakest (shortest) literal, and worse the more
    alternatives it has."""
    return min(len(lit) for lit in clause) * 4 - len(clause)


def _caseless_safe(text: str) -> bool:
    return all(c.isascii() or c.lower() == c.upper() for c in text)
