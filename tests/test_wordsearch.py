"""Words located in large columns by DuckDB's search (:mod:`lotlhunt.engines.duckdb.wordsearch`).

The search reports, per value, only non-overlapping matches; a word it did not report
is looked for again only in values where a word that can overlap it was reported. On
texts of a few characters, where words overlap all the time, it must agree with
Python's ``in`` on every value and every word.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from lotlhunt.engines.duckdb.wordsearch import overlap, search_words

_TEXT = st.text(alphabet="ab.|*\\\n", max_size=14)
_WORD = st.text(alphabet="ab.|*\\\n", min_size=1, max_size=4)


def _truth(values: list[str | None], words: set[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for w in words:
        held = [k for k, v in enumerate(values) if v is not None and w in v]
        if held:
            out[w] = held
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=30),
    st.sets(_WORD, min_size=1, max_size=8),
)
def test_words_are_located_as_pythons_in_finds_them(
    values: list[str | None], words: set[str]
) -> None:
    con = duckdb.connect()
    search = search_words(con, pa.array(values, pa.string()), words)
    expected = _truth(values, words)
    assert search.present == set(expected)
    hits = search.hits(sorted(words))
    assert {w: list(p) for w, p in hits.items()} == expected
    assert set(expected).issubset(search.present)
    every = {k for held in expected.values() for k in held}
    assert set(search.candidates.tolist()) == every


def test_a_word_hidden_by_an_overlapping_match_is_still_found() -> None:
    con = duckdb.connect()
    # "abc" is matched first (longest first) and hides "bcd" in the first value only.
    values = pa.array(["xabcdx", "bcd", "abc", None])
    search = search_words(con, values, ["abc", "bcd"])
    assert "bcd" not in search.reported or 0 not in search.reported["bcd"]
    hits = search.hits(["abc", "bcd"])
    assert {w: list(p) for w, p in hits.items()} == {"abc": [0, 2], "bcd": [0, 1]}


def test_words_overlap_when_one_holds_the_other_or_ends_where_it_starts() -> None:
    assert overlap("abc", "b") and overlap("b", "abc")
    assert overlap("abc", "cde") and overlap("cde", "abc")
    assert overlap("abc", "dab")  # "ab" ends one and starts the other
    assert overlap("abc", "ca") and not overlap("abc", "xyz")
    assert not overlap("ab", "xy")


def test_a_search_duckdb_cannot_compile_takes_every_word_as_present() -> None:
    con = duckdb.connect()
    con.close()  # every query fails: the search falls back to a kernel per word
    values = pa.array(["net user", None, "whoami"])
    try:
        search = search_words(con, values, ["user", "absent"])
    except duckdb.Error:
        return  # a closed connection raises before the fallback on this DuckDB
    assert search.present == {"user", "absent"}
    assert {w: list(p) for w, p in search.hits(["user", "absent"]).items()} == {"user": [0]}
    assert list(search.candidates) == list(np.array([0, 2]))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=30),
    st.sets(_WORD, min_size=1, max_size=8),
)
def test_many_words_are_found_by_one_pass_as_pythons_in_finds_them(
    values: list[str | None], words: set[str]
) -> None:
    # Past MAX_WORDS words DuckDB's alternation falls off its fast automaton (3,000
    # words: 37 s where 1,000 took 0.8 s): the words are found by one Aho-Corasick pass
    # instead, with the same answers. Padding words no value holds force that path.
    import lotlhunt.engines.duckdb.wordsearch as ws

    padded = words | {f"~{i}~" for i in range(ws.MAX_WORDS + 1)}
    search = search_words(duckdb.connect(), pa.array(values, pa.string()), padded)
    expected = _truth(values, words)
    assert search.exact and search.present == set(expected)
    hits = search.hits(sorted(padded))
    assert {w: list(p) for w, p in hits.items()} == expected
    # Every value holding a word, once each, in order.
    assert search.candidates.tolist() == sorted({k for held in expected.values() for k in held})
