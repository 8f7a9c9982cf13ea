"""Keywords on the whole event's text of a slice of every event, lower-cased only where
a case-insensitive search of the text as it is finds them (engines/duckdb/keywords.py).

Each test compares with the oracle, every rule's own SQL (``by_field=False``), which
lower-cases the text of every event.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lotlhunt.engines.duckdb import evaluate as evaluate_module
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.engines.duckdb.keywords import cheaper, prefilter, unfolded
from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import load_events
from match_pairs import evaluated_pairs
from rule_docs import keyword_rules


def _events() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"Channel": "System", "EventID": 7045, "ServiceName": "MİMİKATZ"},  # lower: mimikatz
        {"Channel": "System", "EventID": 7045, "ServiceName": "MimiKatz x"},
        {"Channel": "Security", "EventID": 4688, "NewProcessName": "KERBEROS::golden"},
        # Split across two fields: the joined text holds "mimi\nkatz", never "mimikatz".
        {"Channel": "Security", "EventID": 4688, "SubjectUserName": "mimi", "TargetX": "katz"},
        {"Channel": "Application", "EventID": 1, "Data": "ſekurlsa::logonpasswords"},
        {"Channel": "Application", "EventID": 1, "Data": "SEKURLSA::LOGONPASSWORDS"},
        {"Channel": "Application", "EventID": 1, "Data": "nothing here"},
    ]
    rows += [{"Channel": "System", "EventID": 1, "Data": f"quiet {i}"} for i in range(50)]
    return rows


def _matches(engine: DuckDBEngine, rules: list[CompiledRule], by_field: bool) -> set[Any]:
    engine.options = dataclasses.replace(engine.options, by_field=by_field)
    return evaluated_pairs(engine, rules)


def test_keywords_on_every_event_match_as_the_lowered_text_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = keyword_rules(
        ["mimikatz"],  # one keyword: contains
        ["kerberos::golden", "sekurlsa::logonpasswords", "x" * 3],  # three contains
        ["mimi*katz"],  # a LIKE of literals and %
        ["mimi\nkatz"],  # spans the separator: matches the split event, as the SQL does
        # One alternation of literals (eight or more keywords), "mimikatz" among them.
        ["mimikatz", "golden", *(f"absent{n}" for n in range(8))],
    )
    written: list[str] = []
    real = evaluate_module.encode_slice

    def spy(
        con: Any, slices: Any, variant: Any, spellings: Any, units: Any, *rest: Any, **kw: Any
    ) -> Any:
        if not variant.channels and rest[-1]:  # every event, searched first: rewritten
            written.extend(cheaper(u, con) for u in units)
        return real(con, slices, variant, spellings, units, *rest, **kw)

    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        oracle = _matches(engine, rules, by_field=False)
        monkeypatch.setattr(evaluate_module, "encode_slice", spy)
        monkeypatch.setattr(evaluate_module, "MIN_EVENTS", 0)  # 57 events: search first
        by_field = _matches(engine, rules, by_field=True)
    finally:
        engine.close()
    assert by_field == oracle
    # The dotted capital I lower-cases to "i", which RE2's (?i) does not fold: found.
    assert {rid for r, rid in oracle if r == 0} == {0, 1}
    assert {rid for r, rid in oracle if r == 1} == {2, 5}  # not the long s
    assert {rid for r, rid in oracle if r == 3} == {3}
    assert {rid for r, rid in oracle if r == 4} == {0, 1, 2}
    assert len(written) == 7 and any("|" in w for w in written)
    assert all(w.startswith("CASE WHEN") for w in written)


def test_a_small_table_lowers_the_text_of_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under MIN_EVENTS events, asking DuckDB which characters it lower-cases costs more
    # than the search saves: the keyword test runs as written.
    flags: list[bool] = []
    real = evaluate_module.encode_slice

    def spy(*args: Any, **kw: Any) -> Any:
        flags.append(args[-1])
        return real(*args, **kw)

    rules = keyword_rules(["mimikatz"])
    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        oracle = _matches(engine, rules, by_field=False)
        monkeypatch.setattr(evaluate_module, "encode_slice", spy)
        assert _matches(engine, rules, by_field=True) == oracle
    finally:
        engine.close()
    assert flags and not any(flags)


def test_only_literal_tests_of_the_lowered_text_are_rewritten() -> None:
    con = duckdb.connect()
    assert prefilter("contains(\"__text__lc\", 'a.b')") == "(?si)a\\.b"
    assert prefilter("regexp_matches(\"__text__lc\", '(?s)a|b')") == "(?si)a|b"
    for sql in (
        "regexp_matches(\"__text__lc\", '[^a]x')",  # (?i) could match less
        "contains(\"__text\", 'Cased')",  # the text as it is: nothing to lower-case
        "contains(\"CommandLine__lc\", 'a')",
    ):
        assert prefilter(sql) is None and cheaper(sql, con) == sql


def test_characters_lowered_to_one_re2_does_not_fold_with_are_asked_of_duckdb() -> None:
    con = duckdb.connect()
    assert "\\x{130}" in unfolded(con, "mimikatz")  # İ lower-cases to i
    assert unfolded(con, "xyz") == ""
