"""Which literals occur in a slice: the engine's searched rounds find exactly what a pass
over every value finds, overlapping literals included."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.engines.prefilter import alternation, present_by_search, present_literals
from lotlhunt.testing import load_events

_TEXT = st.text(alphabet="ab.|*(\\", max_size=12)


def _python_search(values: list[str]):  # type: ignore[no-untyped-def]
    """Non-overlapping leftmost-first matches, as RE2 reports them."""

    def search(_name: str, literals: list[str]) -> set[str]:
        pattern = re.compile("|".join(re.escape(lit) for lit in literals))
        return {m.group() for v in values for m in pattern.finditer(v)}

    return search


@given(st.lists(_TEXT, max_size=6), st.sets(_TEXT.filter(bool), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_searched_rounds_find_every_literal_that_occurs(
    values: list[str], literals: set[str]
) -> None:
    expected = {("f", lit) for lit in literals if any(lit in v for v in values)}
    assert present_by_search({"f": literals}, _python_search(values)) == expected


def test_a_literal_hidden_inside_another_match_is_found_in_a_later_round() -> None:
    # "abc" matches first and hides "bcd" and "b" at the same place: a single search
    # would report "abc" alone.
    calls: list[list[str]] = []
    search = _python_search(["xabcdx"])

    def counting(name: str, literals: list[str]) -> set[str]:
        calls.append(literals)
        return search(name, literals)

    found = present_by_search({"f": {"abc", "bcd", "b", "zz"}}, counting)
    assert found == {("f", "abc"), ("f", "bcd"), ("f", "b")}
    assert len(calls) >= 3 and calls[-1] == ["zz"]


def test_duckdb_search_agrees_with_the_python_pass(tmp_path: Path) -> None:
    values = ["powershell -nop -w 1 -enc aa", "Get-Item (x).name", "a|b*c", None, "ÄÖ über"]
    literals = {"-nop", "-w 1", " -w ", "(x).name", "|b*", "über", "absent", "powershell -n"}
    engine = DuckDBEngine()
    try:
        load_events(
            engine,
            [{"Channel": "c", "EventID": 1, "Field": v} for v in values],
            tmp_path,
        )
        column = engine.con.sql(
            "SELECT DISTINCT lower(Field) AS Field__lc FROM events"
        ).to_arrow_table()
        values = {"field": column}
        small = engine.evaluator._present({"field": literals}, values)  # scanned in Python
        engine.options = dataclasses.replace(engine.options, search_bytes=0)
        searched = engine.evaluator._present({"field": literals}, values)  # by DuckDB
    finally:
        engine.close()
    scanned = present_literals({"field": literals}, lambda _name: [column.column(0)])
    assert searched == scanned == small
    assert ("field", "absent") not in searched and ("field", "über") in searched


def test_alternation_keeps_metacharacters_literal() -> None:
    pattern = alternation(["a.b", "(x)|y*", "c\\d"])
    con = duckdb.connect()
    hits = con.execute(
        "SELECT regexp_extract_all(?, ?)", ["a.b axb (x)|y* c\\d cd", pattern]
    ).fetchone()
    assert hits is not None and hits[0] == ["a.b", "(x)|y*", "c\\d"]
