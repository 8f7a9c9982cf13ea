"""Why each detection matched: the fields its rule reads and the selections that held.

A detection shows the values of the fields its rule refers to and which of the rule's
named selections hold on the event. Both come from queries over the matched events only,
after evaluation, because a match is rare and evaluation should not carry their cost.

The engine reads them (:meth:`~lotlhunt.engines.base.Engine.explain`); this module
decides what to read. A selection is only evaluated when the match does not already
decide it: when a rule's SQL is the conjunction of its selections
(``selection and not 1 of filter_*``), a match means every plain selection holds and
every negated one does not. That is the case for most SigmaHQ rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa

from ..engines.base import Engine, ExplainRequest
from ..rules.compile.dialect import ALL_TEXT_FIELD, NEGATION
from ..rules.model import CompiledRule

#: What the scanner of compiled SQL stops at: a whole quoted literal or identifier
#: (doubled quotes inside), a parenthesis, a boolean operator, or an unclosed quote.
_TOKEN = re.compile(r"""'[^']*(?:''[^']*)*'|"[^"]*(?:""[^"]*)*"|[()]| AND | OR |['"]""")
_OPEN_QUOTES = ("'", '"')
#: A negation as the compiler writes it, without its enclosing parentheses.
_NOT_HEAD, _NOT_TAIL = NEGATION[1:-1].split("{}")

Explanation = tuple[dict[str, str | None], tuple[str, ...]]


def explain_matches(
    engine: Engine, rules: Sequence[CompiledRule], matches: pa.Table
) -> dict[tuple[int, int], Explanation]:
    """For each (rule index, row id) in ``matches``: the values of the fields the rule
    reads, and the selections that hold."""
    if matches.num_rows == 0:
        return {}
    fired = sorted(set(matches.column("rule").to_pylist()))
    requests = {
        idx: ExplainRequest(tuple(_shown(rules[idx])), implied_selections(rules[idx]))
        for idx in fired
    }
    out: dict[tuple[int, int], Explanation] = {}
    # Which selections hold repeats itself (a rule's is mostly fixed): named once per
    # distinct outcome, shared by every match with it.
    reasons: dict[tuple[int, tuple[bool, ...]], tuple[str, ...]] = {}
    for table in engine.explain(rules, matches, requests):
        columns = [table.column(c).to_pylist() for c in ("rule", "rid", "vals", "held")]
        for idx, rid, vals, oks in zip(*columns, strict=True):
            names = requests[idx].shown
            fields = {n: v for n, v in zip(names, vals, strict=True) if v is not None}
            key = (idx, tuple(oks))
            why = reasons.get(key)
            if why is None:
                selections = rules[idx].selections
                why = tuple(name for (name, _), ok in zip(selections, oks, strict=True) if ok)
                reasons[key] = why
            out[(idx, rid)] = (fields, why)
    return out


def _shown(rule: CompiledRule) -> list[str]:
    """The fields an explanation of ``rule`` shows (not the whole-event text)."""
    return sorted(n for n in rule.fields if n != ALL_TEXT_FIELD)


def implied_selections(rule: CompiledRule) -> tuple[bool | None, ...]:
    """For each selection of ``rule``, whether it holds on every event the rule matches
    when the rule's SQL alone decides it, else None (it must be evaluated).

    The rule's SQL is read as a conjunction of terms. On a match every term is true: a
    selection all of whose own conjuncts are among them holds; a term written as a
    negation (``NOT coalesce(X, false)``) means no disjunct of ``X`` is true, so a
    selection all of whose own disjuncts are among those does not hold. Anything else
    (a selection under an ``or``, one the condition does not use) is left to evaluation.
    """
    holding: set[str] = set()
    failing: set[str] = set()
    for term in _flat(rule.sql, " AND "):
        if term.startswith(_NOT_HEAD) and term.endswith(_NOT_TAIL):
            inner = term[len(_NOT_HEAD) : -len(_NOT_TAIL)]
            if _scan(inner) is not None:  # not ``NOT coalesce(a, false) OR f(b, false)``
                failing.update(_flat(inner, " OR "))
                continue
        holding.add(term)
    out: list[bool | None] = []
    for _, sql in rule.selections:
        if _flat(sql, " AND ") <= holding:
            out.append(True)
        elif _flat(sql, " OR ") <= failing:
            out.append(False)
        else:
            out.append(None)
    return tuple(out)


def _flat(sql: str, operator: str) -> set[str]:
    """The operands of ``sql`` under nested ``operator`` at its top (``(a AND b) AND c``
    gives a, b and c), each without enclosing parentheses; ``{sql}`` itself when its
    quotes or parentheses do not balance.

    One scan of the text: quoted literals and identifiers are single tokens, and a
    parenthesised group is stepped over by the index of its closing token, so nested
    groups cost no second scan.
    """
    scanned = _scan(sql)
    if scanned is None:
        return {sql.strip()}
    tokens, closing = scanned
    out: set[str] = set()
    todo = [(0, len(sql), 0, len(tokens))]  # character span, token span
    while todo:
        start, end, first, last = todo.pop()
        # Unwrap: a group opening the span (after spaces) and closing at its end.
        while (
            first < last
            and tokens[first][2] == "("
            and closing[first] == last - 1
            and not sql[start : tokens[first][0]].strip()
            and not sql[tokens[last - 1][1] : end].strip()
        ):
            start, end = tokens[first][1], tokens[last - 1][0]
            first, last = first + 1, last - 1
        cuts: list[int] = []
        k = first
        while k < last:
            token = tokens[k][2]
            if token == "(":
                k = closing[k] + 1
                continue
            if token == operator:
                cuts.append(k)
            k += 1
        if not cuts:
            out.add(sql[start:end].strip())
            continue
        bounds = [first - 1, *cuts, last]
        for a, b in zip(bounds, bounds[1:], strict=False):
            lo = tokens[a][1] if a >= first else start
            hi = tokens[b][0] if b < last else end
            todo.append((lo, hi, a + 1, b))
    return out


def _scan(sql: str) -> tuple[list[tuple[int, int, str]], dict[int, int]] | None:
    """The tokens of ``sql`` (start, end, text) and, for each opening parenthesis, the
    index of its closing one; None when quotes or parentheses do not balance."""
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(sql)]
    closing: dict[int, int] = {}
    stack: list[int] = []
    for i, (_, _, token) in enumerate(tokens):
        if token == "(":
            stack.append(i)
        elif token == ")":
            if not stack:
                return None
            closing[stack.pop()] = i
        elif token in _OPEN_QUOTES:
            return None
    return None if stack else (tokens, closing)
