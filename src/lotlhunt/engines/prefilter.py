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
- :func:`plan_rules` goes further, for slices where many rules share many rows (the
  engine's distinct slices: process creation runs 1,200 rules): each rule gets the rows
  holding a literal of each of its required clauses, and runs on those only (candidate
  bits, one per rule, 64 rules per UBIGINT column). On 31,678 distinct process
  creations, 152 rules then evaluate 123,870 candidate rows instead of 4.8 M.

Both are conservative: a rule without known literals runs on every row, and a candidate
row is still evaluated by the rule's own SQL, so the answer is exactly the rule's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import ahocorasick
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..rules.compile.dialect import re2_escape
from ..rules.compile.literals import MAX_LITERAL, Clause
from ..rules.model import CompiledRule

#: Rules whose candidate bits share one UBIGINT column.
WORD_BITS = 64
#: Literals shorter than this are not looked for row by row: they occur in most values
#: (``-c``, ``:``, digits), so the automaton would report nearly every position to
#: Python for almost no filtering; a clause allowing one holds on every row.
ROW_LITERAL_MIN = 3
#: Row id column of the candidate bits table (a name no Sigma field takes).
BITS_KEY = "__bits_rid"
SEPARATOR = "\x00"


@dataclass
class RulePlan:
    """How each rule of a slice runs: not at all, on every row, or on its candidates."""

    skipped: list[int] = field(default_factory=list)
    plain: list[int] = field(default_factory=list)
    #: rule -> (bit column index, bit) of the rules that run on their candidate rows.
    masked: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: ``BITS_KEY`` (row id) plus one UBIGINT column per 64 masked rules
    #: (:func:`word_column`), for the rows with at least one candidate bit set.
    words: pa.Table | None = None


def plan_by_presence(
    rules: Sequence[CompiledRule],
    idxs: Sequence[int],
    present: Callable[[dict[str, set[str]]], set[tuple[str, str]]],
) -> RulePlan:
    """Skip the rules among ``idxs`` with a required clause none of whose literals occurs
    in the slice; run the others on every row. ``present(literals by field)`` gives the
    (field, literal) pairs that occur (:func:`present_literals`,
    :func:`present_by_search`)."""
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


def word_column(k: int) -> str:
    """Name of the k-th column of candidate bits."""
    return f"__w{k}"


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


class _FieldHits:
    """For one field of one chunk: which distinct values hold which literal."""

    def __init__(self, column: pa.Array, literals: list[str]) -> None:
        encoded = pc.dictionary_encode(column)
        self.distinct = len(encoded.dictionary)
        # Rows whose value is NULL point at one extra value that holds nothing.
        self.rows = encoded.indices.fill_null(self.distinct).to_numpy(zero_copy_only=False)
        self.ids = {lit: n for n, lit in enumerate(literals)}
        self.values = np.zeros(0, np.int64)
        self.bounds = np.zeros(len(literals) + 1, np.int64)
        if not self.distinct:
            return
        automaton = _automaton(self.ids)
        values = encoded.dictionary.to_pylist()
        lengths = np.fromiter((len(v) + 1 for v in values), np.int64, len(values))
        starts = np.cumsum(lengths) - lengths
        ends: list[int] = []
        found: list[int] = []
        for end, n in automaton.iter(SEPARATOR.join(values)):
            ends.append(end)
            found.append(n)
        value_of = np.searchsorted(starts, np.asarray(ends, np.int64), side="right") - 1
        lit_of = np.asarray(found, np.int64)
        order = np.argsort(lit_of, kind="stable")
        self.values = value_of[order]
        self.bounds = np.searchsorted(lit_of[order], np.arange(len(literals) + 1))

    def present(self, lit: str) -> bool:
        n = self.ids[lit]
        return bool(self.bounds[n + 1] > self.bounds[n])

    def row_mask(self, lits: Iterable[str]) -> np.ndarray:
        """Rows whose value holds at least one of ``lits``."""
        held = np.zeros(self.distinct + 1, bool)
        for lit in lits:
            n = self.ids[lit]
            held[self.values[self.bounds[n] : self.bounds[n + 1]]] = True
        return held[self.rows]


def plan_rules(
    rules: Sequence[CompiledRule],
    idxs: Sequence[int],
    batches: Callable[[list[str]], Iterable[pa.RecordBatch]],
) -> RulePlan:
    """Decide how each of ``idxs`` runs on a slice, down to its candidate rows.

    ``batches(fields)`` yields the slice's rows as record batches: the row id, then the
    lower-cased value of each of ``fields`` in that order.
    """
    plan = RulePlan()
    by_field = literal_index(rules, idxs)
    known = [i for i in idxs if rules[i].needs]
    plan.plain = [i for i in idxs if not rules[i].needs]
    if not known:
        return plan
    literals = {
        name: sorted(lit for lit in lits if len(lit) >= ROW_LITERAL_MIN)
        for name, lits in by_field.items()
    }
    names = sorted(name for name, lits in literals.items() if lits)
    rid_chunks: list[pa.Array] = []
    # rule -> [(chunk number, packed candidate bits)], only for chunks where it has any.
    hits: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    counts: dict[int, int] = defaultdict(int)
    total = 0
    for chunk, batch in enumerate(batches(names)):
        rows = batch.num_rows
        total += rows
        rid_chunks.append(batch.column(0))
        fields = {
            name: _FieldHits(batch.column(k + 1), literals[name]) for k, name in enumerate(names)
        }
        clause_masks: dict[Clause, np.ndarray | None] = {}
        for i in known:
            mask = _rule_mask(rules[i].needs or (), fields, clause_masks, rows)
            if mask is None:
                continue
            n = int(np.count_nonzero(mask))
            if n:
                counts[i] += n
                hits[i].append((chunk, np.packbits(mask)))
    for i in known:
        if not counts[i]:
            plan.skipped.append(i)
        elif counts[i] == total:
            plan.plain.append(i)  # every row is a candidate: the bit would be noise
        else:
            plan.masked[i] = divmod(len(plan.masked), WORD_BITS)
    if plan.masked:
        plan.words = _words(plan.masked, hits, rid_chunks)
    return plan


def _rule_mask(
    needs: Sequence[Clause],
    fields: dict[str, _FieldHits],
    cache: dict[Clause, np.ndarray | None],
    rows: int,
) -> np.ndarray | None:
    """Candidate rows of a rule in a chunk: rows holding a literal of every clause (None
    when some clause has no literal in the chunk at all)."""
    mask: np.ndarray | None = None
    for clause in needs:
        if clause not in cache:
            cache[clause] = _clause_mask(clause, fields, rows)
        held = cache[clause]
        if held is None:
            return None
        mask = held if mask is None else mask & held
    return mask


def _clause_mask(clause: Clause, fields: dict[str, _FieldHits], rows: int) -> np.ndarray | None:
    """Rows holding a literal of ``clause`` (None: no row does)."""
    by_field: dict[str, list[str]] = defaultdict(list)
    for name, lit in clause:
        if len(lit) < ROW_LITERAL_MIN:
            return np.ones(rows, bool)
        hit = fields[name.lower()]
        if hit.present(lit):
            by_field[name.lower()].append(lit)
    if not by_field:
        return None
    return np.logical_or.reduce([fields[name].row_mask(lits) for name, lits in by_field.items()])


def _words(
    masked: dict[int, tuple[int, int]],
    hits: dict[int, list[tuple[int, np.ndarray]]],
    rid_chunks: list[pa.Array],
) -> pa.Table:
    """The candidate bits as a table: row id, then one UBIGINT per 64 masked rules; only
    rows where some bit is set."""
    n_words = max(w for w, _ in masked.values()) + 1
    sizes = [len(c) for c in rid_chunks]
    words = [[np.zeros(size, np.uint64) for size in sizes] for _ in range(n_words)]
    for i, (w, bit) in masked.items():
        value = np.uint64(1) << np.uint64(bit)
        for chunk, packed in hits[i]:
            rows = np.unpackbits(packed, count=sizes[chunk]).astype(bool)
            words[w][chunk][rows] |= value
    columns = [np.concatenate(chunks) for chunks in words]
    rids = pa.concat_arrays(rid_chunks)
    keep = np.zeros(len(rids), bool)
    for col in columns:
        keep |= col != 0
    bits = {word_column(k): pa.array(col, pa.uint64()) for k, col in enumerate(columns)}
    table = pa.table({BITS_KEY: rids, **bits})
    return table.filter(pa.array(keep))
