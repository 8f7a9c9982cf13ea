"""Which words occur in a large column of distinct values, and where, by DuckDB's search.

Python's Aho-Corasick pass (:func:`.kernels.substring_hits`) runs at tens of MB/s; past
a few MB of values (Mordor's script blocks) DuckDB's regular expression search does the
finding instead. One search for an alternation of every word returns, per value, the
words it matched (``regexp_extract_all``: leftmost matches, none overlapping). Every
value holding some word holds a match (the *candidates*); a word the search did not
report in a value can still be there only where one of its occurrences overlaps a
reported match: the search resumes after each match and would otherwise have found it.
So a word is located as where it was reported, plus a substring kernel over only the
values where a word that can overlap it (shares a part: one holds the other, or one's
end is the other's start) was reported. Which words occur at all is settled by further
rounds over the candidates (:func:`~lotlhunt.engines.prefilter.present_by_search`).

On Mordor, locating each word found by a kernel over all of a field's values (192 MB of
PowerShell context, 20 words found) was a quarter of the hunt phase. One search serves
a field's prefilter literals and its ``contains`` tests together.

The search is for a few words over long values: past :data:`MAX_WORDS` words the
Aho-Corasick pass does the finding whatever the size (see there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import count

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...rules.compile.dialect import DUCKDB
from ..prefilter import alternation, present_by_search
from .arrow_view import arrow_view
from .memory import out_of_memory

_VIEWS = count()
#: Words past which one alternation is not searched by DuckDB: its regular expression
#: engine (RE2) gives up its fast automaton when the alternation's states outgrow its
#: memory budget, and the search then costs a hundredfold. Measured on the 78,511
#: distinct lowered command lines (11.6 MB) of a simulated 1 M-event case: 300 words
#: 0.40 s, 1,000 words 0.81 s, 3,000 words 37 s, against 0.37, 0.46 and 0.62 s for the
#: Aho-Corasick pass (SigmaHQ holds thousands of ``CommandLine`` words: the whole
#: re-hunt of that case spent 93 % of its time in this search).
MAX_WORDS = 256


@dataclass
class WordSearch:
    """The outcome of searching ``column`` for ``words``: the ones present, the values
    where the search reported each (``reported``: positions, sorted), and the values
    holding any (``candidates``)."""

    column: pa.Array
    words: frozenset[str]
    present: frozenset[str]
    candidates: np.ndarray
    reported: dict[str, np.ndarray] = field(default_factory=dict)
    #: Whether ``reported`` holds every value holding each word (nothing to locate).
    exact: bool = False
    _located: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def covers(self, words: Iterable[str]) -> bool:
        """Whether every one of ``words`` was searched for."""
        return self.words.issuperset(words)

    def hits(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        """For each of ``words`` present (all searched for), the positions of the
        values holding it (see the module's docstring), located once."""
        words = list(words)
        for word in words:
            if word in self.present and word not in self._located:
                self._located[word] = self._locate(word)
        return {w: self._located[w] for w in words if len(self._located.get(w, _NONE))}

    def _locate(self, word: str) -> np.ndarray:
        held = self.reported.get(word, _NONE)
        if self.exact:
            return held
        others = [p for u, p in self.reported.items() if u != word and overlap(u, word)]
        if not others:
            return held
        maybe = np.setdiff1d(np.unique(np.concatenate(others)), held, assume_unique=True)
        if not len(maybe):
            return held
        if 2 * len(maybe) > len(self.column):
            # Most values to look in: one kernel call over all of them costs less than
            # copying most of a large column first.
            found = pc.match_substring(self.column, word).fill_null(False)
            return np.flatnonzero(found.to_numpy(zero_copy_only=False))
        found = pc.match_substring(self.column.take(pa.array(maybe, pa.int64())), word)
        more = maybe[np.flatnonzero(found.fill_null(False).to_numpy(zero_copy_only=False))]
        return np.union1d(held, more)


_NONE = np.empty(0, np.int64)


@lru_cache(maxsize=1 << 16)
def overlap(a: str, b: str) -> bool:
    """Whether occurrences of ``a`` and ``b`` can overlap in a text: one holds the
    other, or a proper end of one is a start of the other."""
    if a in b or b in a:
        return True
    return any(a.endswith(b[:k]) for k in range(1, len(b))) or any(
        b.endswith(a[:k]) for k in range(1, len(a))
    )


def search_words(
    cursor: duckdb.DuckDBPyConnection, column: pa.Array, words: Iterable[str]
) -> WordSearch:
    """Search ``column`` (a string array) for ``words`` (see the module's docstring).
    Where DuckDB cannot compile the search, or a word is empty, every word is taken as
    present in every value: exact still, as a kernel then looks for each."""
    wanted = frozenset(words)
    if not wanted:
        return WordSearch(column, wanted, frozenset(), _NONE)
    valid = np.flatnonzero(pc.is_valid(column).to_numpy(zero_copy_only=False))
    # Every word present, every value to look in: the empty word overlaps every word.
    everywhere = WordSearch(column, wanted, wanted, valid, {"": valid})
    if "" in wanted:
        return everywhere
    if len(wanted) > MAX_WORDS:
        return _every_occurrence(column, wanted)
    view = f"__words_{next(_VIEWS)}"
    table = pa.table({"i": pa.array(np.arange(len(column), dtype=np.int64)), "v": column})
    try:
        pattern = DUCKDB.literal(alternation(sorted(wanted, key=lambda x: (-len(x), x))))
        with arrow_view(cursor, view, table):
            found = cursor.execute(
                f"SELECT i, m FROM (SELECT i, list_distinct(regexp_extract_all(v, {pattern})) "
                f"AS m FROM {view} WHERE v IS NOT NULL) WHERE len(m) > 0 ORDER BY i"
            ).to_arrow_table()
        candidates = found.column("i").to_numpy()
        flat = pc.list_flatten(found.column("m")).combine_chunks()
        rows = np.repeat(candidates, pc.list_value_length(found.column("m")).to_numpy())
        reported: dict[str, np.ndarray] = {}
        if len(flat):
            codes = pc.dictionary_encode(flat)
            index = codes.indices.to_numpy()
            order = np.argsort(index, kind="stable")  # rows of each word, still sorted
            bounds = np.cumsum(np.bincount(index, minlength=len(codes.dictionary)))
            groups = np.split(rows[order], bounds[:-1])
            for name, positions in zip(codes.dictionary.to_pylist(), groups, strict=True):
                if name in wanted:
                    reported[name] = positions
        # Further rounds look in the candidates only; where they are most values, in the
        # whole column instead (the others hold no word, so they add no match): a copy
        # of most of a large column cost more memory than its search saves (Mordor's
        # PowerShell context: every value but one a candidate, a 193 MB copy).
        if 2 * len(candidates) > len(column):
            held = pa.table({"v": column})
        else:
            held = pa.table({"v": column.take(pa.array(candidates, pa.int64()))})

        def search(_field: str, ordered: list[str]) -> set[str]:
            pattern = DUCKDB.literal(alternation(ordered))
            with arrow_view(cursor, view, held):
                rows = cursor.execute(
                    f"SELECT DISTINCT unnest(regexp_extract_all(v, {pattern})) FROM {view}"
                ).fetchall()
            return {row[0] for row in rows}

        seen = set(reported)
        rest = wanted - seen
        if rest and seen:
            seen |= {w for _, w in present_by_search({"": set(rest)}, search)}
    except duckdb.Error as exc:
        if out_of_memory(exc):
            raise
        return everywhere
    return WordSearch(column, wanted, frozenset(seen), candidates, reported)


def _every_occurrence(column: pa.Array, words: frozenset[str]) -> WordSearch:
    """Every value holding each of ``words``, by one Aho-Corasick pass (many words)."""
    from .kernels import substring_hits  # the kernels search through this module

    found = substring_hits(column, sorted(words))
    # Marked, not sorted: the positions of thousands of words over tens of thousands of
    # values run to millions, and ``np.unique`` of them cost as much as finding them.
    held = np.zeros(len(column), bool)
    for positions in found.values():
        held[positions] = True
    candidates = np.flatnonzero(held).astype(np.int64, copy=False)
    return WordSearch(column, words, frozenset(found), candidates, found, exact=True)
