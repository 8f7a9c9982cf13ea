"""Keywords on the whole event's text found column by column in the raw bytes
(engines/duckdb/textsearch.py): the search and the exact test after it give the rows
``contains(lower(concat_ws(chr(10), <columns>)), keyword)`` gives, in DuckDB itself.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotlhunt.engines.base import EngineOptions
from lotlhunt.engines.duckdb import evaluate as evaluate_module
from lotlhunt.engines.duckdb import textsearch
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.engines.duckdb.textsearch import candidates, keywords, literals, per_value
from lotlhunt.rules.compile.dialect import DUCKDB, re2_escape
from lotlhunt.rules.logsources import Variant
from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import load_events
from match_pairs import evaluated_pairs
from rule_docs import keyword_rules

hyperscan = pytest.importorskip("hyperscan")

LOWER_TEXT = '"__text__lc"'
COLUMNS = ["A", "b", "C c"]


def _contains(word: str) -> str:
    return DUCKDB.contains.format(col=LOWER_TEXT, lit=DUCKDB.literal(word))


def _alternation(words: list[str]) -> str:
    pattern = "(?s)" + "|".join(sorted({re2_escape(w) for w in words}))
    return DUCKDB.regex.format(col=LOWER_TEXT, lit=DUCKDB.literal(pattern))


@dataclasses.dataclass
class _Store:
    parts: tuple[Any, ...] = ()

    def field_columns(self) -> list[str]:
        return COLUMNS


class _Slices:
    """What :func:`candidates` reads of a slice: its columns and its filter."""

    store = _Store()

    def slice_filter(self, _variant: Variant) -> str:
        return "true"


# Fragments that build values around the keywords below: case, the characters DuckDB
# lower-cases to ASCII letters (Kelvin sign to k, U+0130 to i), the separator, others.
FRAGMENTS = [
    "kiwi",
    "KIWI",
    "ki",
    "wi",
    "\u212aiwi",  # Kelvin sign
    "k\u0130wi",  # dotted capital I
    "se::",
    "SE",
    "::",
    "\n",
    "",
    "é",
    "ß",
    "a.b",
    "A.B",
    "x",
]
WORDS = ["kiwi", "se::", "a.b", "iwi\nse", "kİwi", "wi", "e::"]
values = st.one_of(
    st.none(), st.lists(st.sampled_from(FRAGMENTS), max_size=5).map("".join), st.text(max_size=4)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(values, values, values), min_size=1, max_size=30),
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4, unique=True),
    alternation=st.booleans(),
)
def test_search_then_exact_test_gives_the_lowered_joined_texts_rows(
    rows: list[tuple[str | None, ...]], words: list[str], alternation: bool
) -> None:
    con = duckdb.connect()
    table = pa.table(
        {"__rid": pa.array(range(len(rows)), pa.int64())}
        | {c: pa.array([r[k] for r in rows], pa.string()) for k, c in enumerate(COLUMNS)}
    )
    con.register("events", table)
    units = [_alternation(words)] if alternation else [_contains(w) for w in words]
    joined = f"lower(concat_ws(chr(10), {', '.join(DUCKDB.ident(c) for c in COLUMNS)}))"
    words_found = keywords(con, units)
    for unit in units:
        oracle = {
            rid
            for rid, hit in con.sql(
                f"SELECT __rid, {unit.replace(LOWER_TEXT, joined)} FROM events"
            ).fetchall()
            if hit
        }
        served = words_found is not None and unit in words_found.units
        # A keyword spanning the separator, or beyond ASCII, goes the old way.
        assert served == (literals(unit) is not None)
        if not served:
            assert any("\n" in w or not w.isascii() for w in words)
            continue
        assert words_found is not None
        found = candidates(con, _Slices(), Variant("every", ()), words_found, len(rows))  # type: ignore[arg-type]
        assert found is not None
        assert oracle <= set(found.rids.tolist())  # a superset
        exact = per_value(con, [unit], found)[unit]
        assert set(found.rids[exact].tolist()) == oracle


def test_a_match_across_two_values_is_not_a_value_holding_it() -> None:
    words = textsearch.Keywords(
        units=("u",), per_value=frozenset({"u"}), caseless=(b"kiwi",), exact=()
    )
    matcher = textsearch.Matcher(words)
    array = pa.array(["xxki", "wiyy", None, "KiWi", "", "k", "iwi", "ki\u212awi"])
    assert matcher.values(array, 100).tolist() == [3]
    assert matcher.values(array.slice(1), 100).tolist() == [2]  # an offset array


def test_literals_the_search_cannot_place_go_the_old_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # A NUL ends Hyperscan's literal early (its match would be placed before its value
    # and dropped); a literal past Hyperscan's length limit failed the whole slice.
    assert literals(_contains("mimi\0katz")) is None
    con = duckdb.connect()
    con.register("events", pa.table({"__rid": pa.array([0], pa.int64()), "A": ["x"]}))
    monkeypatch.setattr(_Store, "field_columns", lambda self: ["A"])
    long = "k" * 100_000
    words = keywords(con, [_contains(long)])
    assert words is not None and words.caseless == (long.encode(),)
    assert candidates(con, _Slices(), Variant("every", ()), words, 1) is None  # type: ignore[arg-type]


def test_past_its_share_of_rows_the_search_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect()
    con.register(
        "events",
        pa.table({"__rid": pa.array(range(100), pa.int64()), "A": ["kiwi"] * 100}),
    )
    monkeypatch.setattr(_Store, "field_columns", lambda self: ["A"])
    words = keywords(con, [_contains("kiwi")])
    assert words is not None
    monkeypatch.setattr(textsearch, "SLACK", 10)
    assert candidates(con, _Slices(), Variant("every", ()), words, 100) is None  # type: ignore[arg-type]
    monkeypatch.setattr(textsearch, "SLACK", 1000)
    found = candidates(con, _Slices(), Variant("every", ()), words, 100)  # type: ignore[arg-type]
    assert found is not None and len(found.rids) == 100


def _events() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"Channel": "System", "EventID": 7045, "ServiceName": "MİMİKATZ"},
        {"Channel": "System", "EventID": 7045, "ServiceName": "Mimi\u212aatz"},
        {"Channel": "Security", "EventID": 4688, "NewProcessName": "KERBEROS::golden"},
        {"Channel": "Security", "EventID": 4688, "SubjectUserName": "mimi", "TargetX": "katz"},
        {"Channel": "Application", "EventID": 1, "Data": "ſekurlsa::logonpasswords"},
        {"Channel": "Application", "EventID": 1, "Data": "SEKURLSA::LOGONPASSWORDS"},
    ]
    rows += [{"Channel": "System", "EventID": 1, "Data": f"quiet {i}"} for i in range(40)]
    return rows


RULES = (
    ["mimikatz"],
    ["kerberos::golden", "sekurlsa::logonpasswords"],
    ["mimi*katz"],  # LIKE: tested on the rows' joined text
    ["mimi\nkatz"],  # the separator: the old way
    ["mimikatz", "golden", *(f"absent{n}" for n in range(8))],  # an alternation
)


def _matches(engine: DuckDBEngine, rules: list[CompiledRule], by_field: bool) -> set[Any]:
    engine.options = dataclasses.replace(engine.options, by_field=by_field)
    return evaluated_pairs(engine, rules)


@pytest.mark.parametrize("parts", [False, True], ids=["table", "parts"])
@pytest.mark.parametrize("searcher", ["hyperscan", "none"])
def test_keyword_rules_match_as_their_own_sql_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parts: bool, searcher: str
) -> None:
    # Without Hyperscan (it could not be imported) the keyword tests go the old way.
    rules = keyword_rules(*RULES)
    searched: list[int] = []
    real = textsearch.candidates

    def spy(*args: Any, **kw: Any) -> Any:
        found = real(*args, **kw)
        searched.append(-1 if found is None else len(found.rids))
        return found

    engine = DuckDBEngine(options=EngineOptions(parts=parts))
    try:
        load_events(engine, _events(), tmp_path)
        assert bool(engine.store.parts) == parts
        oracle = _matches(engine, rules, by_field=False)
        monkeypatch.setattr(evaluate_module, "MIN_EVENTS", 0)
        monkeypatch.setattr("lotlhunt.engines.duckdb.encode.candidates", spy)
        if searcher == "none":
            monkeypatch.setattr(textsearch, "hyperscan", None)
        by_field = _matches(engine, rules, by_field=True)
    finally:
        engine.close()
    assert by_field == oracle
    assert {rid for r, rid in oracle if r == 0} == {0, 1}  # U+0130 and the Kelvin sign
    assert {rid for r, rid in oracle if r == 3} == {3}
    if searcher == "none":
        assert not searched
    else:
        assert searched and all(n >= 0 for n in searched)
        assert np.sum(searched) <= 6  # the rows holding a keyword, not the quiet ones


def test_values_shorter_than_every_keyword_are_not_searched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A value as long as the shortest keyword holds it (the Kelvin sign is one character
    # of three bytes); a shorter one cannot and is left in DuckDB.
    con = duckdb.connect()
    column = ["kiwi", "\u212aiwi", "kiw", "se:", "x se::", None, "SE::"]
    con.register(
        "events",
        pa.table({"__rid": pa.array(range(len(column)), pa.int64()), "A": column}),
    )
    monkeypatch.setattr(_Store, "field_columns", lambda self: ["A"])
    units = [_contains("kiwi"), _contains("se::")]
    words = keywords(con, units)
    assert words is not None and words.shortest == 4
    given: list[int] = []
    real = textsearch._Collector.add

    def add(self: Any, rids: pa.Array, values: pa.Array) -> None:
        given.extend(rids.to_pylist())
        real(self, rids, values)

    monkeypatch.setattr(textsearch._Collector, "add", add)
    found = candidates(con, _Slices(), Variant("every", ()), words, len(column))  # type: ignore[arg-type]
    assert found is not None
    assert sorted(given) == [0, 1, 4, 6]
    truth = per_value(con, units, found)
    rows = set(found.rids[truth[units[0]] | truth[units[1]]].tolist())
    assert rows == {0, 1, 4, 6}


def test_columns_whose_values_are_all_shorter_than_every_keyword_are_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stored table (not a view): DuckDB's statistics give each column's longest value.
    con = duckdb.connect()
    arrow = pa.table(
        {
            "__rid": pa.array(range(4), pa.int64()),
            "A": ["kiwi", None, "x", "KIWI pie"],
            "b": ["ki", "wi", None, "k"],
            "C c": pa.array([None] * 4, pa.string()),
        }
    )
    con.register("staged", arrow)
    con.execute("CREATE TABLE events AS SELECT * FROM staged")
    con.unregister("staged")
    assert textsearch.short_columns(con, 4) == {"b", "C c"}
    assert textsearch.short_columns(con, 2) == {"C c"}
    read: list[str] = []
    real = con.sql

    class _Con:
        def sql(self, query: str) -> Any:
            read.append(query)
            return real(query)

        def __getattr__(self, name: str) -> Any:
            return getattr(con, name)

    units = [_contains("kiwi")]
    words = keywords(con, units)
    assert words is not None
    found = candidates(_Con(), _Slices(), Variant("every", ()), words, 4)  # type: ignore[arg-type]
    assert found is not None and found.rids.tolist() == [0, 3]
    searched = [q for q in read if "strlen" in q]
    assert len(searched) == 1 and '"A"' in searched[0]
    # Without statistics (a view), every column is read, with the same rows found.
    assert textsearch.short_columns(duckdb.connect(), 4) == frozenset()
