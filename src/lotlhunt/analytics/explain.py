"""Why each detection matched: the fields its rule reads and the selections that held.

A detection shows the values of the fields its rule refers to and which of the rule's
named selections hold on the event. Both come from queries over the matched events only,
after evaluation, because a match is rare and evaluation should not carry their cost.

Planning a query costs DuckDB milliseconds whatever its input, and planning a rule's
SQL costs about as much as planning the rule itself did in evaluation (the largest
SigmaHQ rules are IOC lists of 200 kB). So the fired rules of one slice are explained
together, one scan of their matched events, and a selection is only evaluated when the
match does not already decide it: when a rule's SQL is the conjunction of its selections
(``selection and not 1 of filter_*``), a match means every plain selection holds and
every negated one does not. That is the case for most SigmaHQ rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pyarrow as pa
import yaml

from ..engines.duckdb.engine import EVENTS, ROW_ID, WORK_DB, DuckDBEngine, address_fields
from ..events import schema
from ..rules.compile.dialect import ALL_TEXT_FIELD, NEGATION, Dialect
from ..rules.loader import CompiledRule
from ..rules.logsources import Variant

#: Work table of matches (rule, event row id), read to explain detections.
MATCHES = f"{WORK_DB}.matches"
#: Its column naming the rule that matched.
HIT_RULE = "__rule"
#: Fired rules of one slice explained by one query.
EXPLAIN_PER_QUERY = 32

#: What the scanner of compiled SQL stops at: a whole quoted literal or identifier
#: (doubled quotes inside), a parenthesis, a boolean operator, or an unclosed quote.
_TOKEN = re.compile(r"""'[^']*(?:''[^']*)*'|"[^"]*(?:""[^"]*)*"|[()]| AND | OR |['"]""")
_OPEN_QUOTES = ("'", '"')
#: A negation as the compiler writes it, without its enclosing parentheses.
_NOT_HEAD, _NOT_TAIL = NEGATION[1:-1].split("{}")

Explanation = tuple[dict[str, str | None], tuple[str, ...]]


@dataclass(frozen=True)
class _Fired:
    """A rule that fired: the span of its matched row ids, the fields its explanation
    shows (in the order of the query's values) and the SQL of its selection tests."""

    lo: int
    hi: int
    shown: list[str]
    tests: list[str]


def explain_matches(
    engine: DuckDBEngine, rules: Sequence[CompiledRule], matches: pa.Table
) -> dict[tuple[int, int], Explanation]:
    """For each (rule index, row id) in ``matches`` (already in the ``MATCHES`` work
    table): the values of the fields the rule reads, and the selections that hold."""
    spans = matches.group_by("rule").aggregate([("rid", "min"), ("rid", "max")])
    by_rule = zip(
        spans.column("rule").to_pylist(),
        spans.column("rid_min").to_pylist(),
        spans.column("rid_max").to_pylist(),
        strict=True,
    )
    fired: dict[int, _Fired] = {}
    groups: dict[tuple[object, ...], tuple[Variant, list[int]]] = {}
    for idx, lo, hi in sorted(by_rule):
        fired[idx] = _Fired(int(lo), int(hi), _shown(rules[idx]), _held_tests(rules[idx]))
        for variant in rules[idx].variants:
            groups.setdefault(variant.key, (variant, []))[1].append(idx)
    queries = [
        _explain_query(engine, rules, variant, idxs[k : k + EXPLAIN_PER_QUERY], fired)
        for variant, idxs in groups.values()
        for k in range(0, len(idxs), EXPLAIN_PER_QUERY)
    ]
    out: dict[tuple[int, int], Explanation] = {}
    # Which selections hold repeats itself (a rule's is mostly fixed): named once per
    # distinct outcome, shared by every match with it.
    reasons: dict[tuple[int, tuple[bool, ...]], tuple[str, ...]] = {}
    for table in engine.query_all(queries):
        columns = [table.column(c).to_pylist() for c in ("rule", "rid", "vals", "held")]
        for idx, rid, vals, oks in zip(*columns, strict=True):
            names = fired[idx].shown
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


def _explain_query(
    engine: DuckDBEngine,
    rules: Sequence[CompiledRule],
    variant: Variant,
    idxs: Sequence[int],
    fired: dict[int, _Fired],
) -> str:
    """One query explaining the matches of rules ``idxs`` on the slice of ``variant``:
    their matched events scanned once, a ``CASE`` on the rule picking its values."""
    vals: list[str] = []
    held: list[str] = []
    fields: set[str] = set()
    for idx in idxs:
        shown = [Dialect.ident(n) for n in fired[idx].shown]
        fields |= rules[idx].fields  # ``used`` keeps only the columns the query reads
        vals.append(f"WHEN {int(idx)} THEN [{', '.join(shown)}]::VARCHAR[]")
        held.append(f"WHEN {int(idx)} THEN [{', '.join(fired[idx].tests)}]::BOOLEAN[]")
    used = "\n".join(vals + held)
    ips = address_fields(rules[i] for i in idxs)
    inner = ", ".join(engine.slice_columns(variant, sorted(fields), ips, used))
    ids = ", ".join(str(int(i)) for i in idxs)
    lo = min(fired[i].lo for i in idxs)
    hi = max(fired[i].hi for i in idxs)
    # The id range lets the scan skip row groups before the semi-join.
    return (
        f"SELECT m.{HIT_RULE} AS rule, s.{ROW_ID} AS rid, "
        f"CASE m.{HIT_RULE} {' '.join(vals)} END AS vals, "
        f"CASE m.{HIT_RULE} {' '.join(held)} END AS held FROM "
        f"(SELECT {ROW_ID}{', ' + inner if inner else ''} FROM {EVENTS} "
        f"WHERE {ROW_ID} BETWEEN {lo} AND {hi} AND {ROW_ID} IN "
        f"(SELECT {ROW_ID} FROM {MATCHES} WHERE {HIT_RULE} IN ({ids})) "
        f"AND {engine.slice_filter(variant)}) s "
        f"JOIN {MATCHES} m ON m.{ROW_ID} = s.{ROW_ID} AND m.{HIT_RULE} IN ({ids})"
    )


def _held_tests(rule: CompiledRule) -> list[str]:
    """SQL telling whether each selection of ``rule`` holds on a matched event."""
    return [
        f"coalesce({sql}, false)" if known is None else str(known).lower()
        for (_, sql), known in zip(rule.selections, implied_selections(rule), strict=True)
    ]


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


#: Key fields of a matched event, by row id: what the event is about.
Details = dict[int, dict[str, str | None]]


@lru_cache(maxsize=1)
def key_fields() -> dict[tuple[str, int], tuple[str, ...]]:
    """``data/key_fields.yaml``: the fields that say what an event is about, keyed by
    (lower-cased channel, event id)."""
    text = resources.files("lotlhunt").joinpath("data/key_fields.yaml").read_text("utf-8")
    raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    return {
        (str(channel).lower(), int(eid)): tuple(str(n) for n in names)
        for channel, ids in raw.items()
        for eid, names in (ids or {}).items()
    }


def event_details(engine: DuckDBEngine, pairs: Sequence[tuple[str | None, int | None]]) -> Details:
    """The key fields of every matched event (the ``MATCHES`` work table), in one query:
    a ``CASE`` on (channel, event id) picks each event's list, for the ``pairs`` among
    the matched events only, and fields no event holds are left out before the query."""
    spec = key_fields()
    columns = engine.columns
    spaceless = {k.replace(" ", ""): c for k, c in columns.items()}
    wanted: list[tuple[str, int, list[str], list[str]]] = []
    for channel, eid in sorted({(c.lower(), e) for c, e in pairs if c and e is not None}):
        names = spec.get((channel, eid))
        if not names:
            continue
        found: list[tuple[str, str]] = []
        for name in names:
            key = schema.field_column(name).lower()
            col = columns.get(key) or spaceless.get(key.replace(" ", ""))
            if col is not None:
                found.append((name, col))
        if found:
            wanted.append((channel, eid, [n for n, _ in found], [c for _, c in found]))
    if not wanted:
        return {}
    which = " ".join(
        f"WHEN lower({schema.CHANNEL}) = {_quoted(ch)} AND {schema.EVENT_ID} = {eid} THEN {k}"
        for k, (ch, eid, _, _) in enumerate(wanted)
    )
    vals = " ".join(
        f"WHEN {k} THEN [{', '.join(Dialect.ident(c) for c in cols)}]::VARCHAR[]"
        for k, (_, _, _, cols) in enumerate(wanted)
    )
    needed = ", ".join(Dialect.ident(c) for c in sorted({c for w in wanted for c in w[3]}))
    table = engine.con.sql(
        f"SELECT {ROW_ID} AS rid, spec, CASE spec {vals} END AS vals FROM "
        f"(SELECT {ROW_ID}, {needed}, CASE {which} END AS spec FROM {EVENTS} "
        f"WHERE {ROW_ID} IN (SELECT {ROW_ID} FROM {MATCHES})) WHERE spec IS NOT NULL"
    ).to_arrow_table()
    out: Details = {}
    for rid, k, values in zip(
        table.column("rid").to_pylist(),
        table.column("spec").to_pylist(),
        table.column("vals").to_pylist(),
        strict=True,
    ):
        names = wanted[k][2]
        out[rid] = {n: v for n, v in zip(names, values, strict=True) if v is not None}
    return out


def _quoted(text: str) -> str:
    """A SQL string literal of ``text``."""
    return "'" + text.replace("'", "''") + "'"
