"""A large slice evaluated in spans of row ids: the same matches, never more held at once.

A scan of a slice that encodes more than the evaluator's ``span_bytes`` stops, and the
slice is evaluated span by span (``engines/duckdb/spans.py``). Each test compares with
the oracle (every rule's own SQL) and counts what each scan that finished held.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lotlhunt.engines.duckdb import evaluate as evaluate_module
from lotlhunt.engines.duckdb.encode import EncodedSlice
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.engines.duckdb.memory import _malloc_trim, release_freed
from lotlhunt.engines.duckdb.spans import SliceTooLarge, spans
from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import load_events
from rule_docs import process_creation_rules as _rules

SYSMON = "Microsoft-Windows-Sysmon/Operational"
#: Characters of each event's command line: the bytes a scan holds per row.
TEXT = 400


def _events(n: int = 300) -> list[dict[str, Any]]:
    """Process creations, each command line distinct and ``TEXT`` long; a few words
    scattered so that rules match in some spans and not others."""
    out = []
    for i in range(n):
        word = "mimikatz" if i % 97 == 5 else "vssadmin" if i in (3, 250) else "ver"
        line = f"cmd /c {word} {i:05d} ".ljust(TEXT, "x")
        out.append(
            {
                "Channel": SYSMON,
                "EventID": 1,
                "Image": ("C:\\Windows\\System32\\cmd.exe", "C:\\x\\svchost.exe")[i % 2],
                "CommandLine": line,
                "ParentImage": ("C:\\Windows\\explorer.exe", "C:\\x\\cmd.exe")[i % 3 == 0],
            }
        )
    return out


RULES = (
    {"s": {"CommandLine|contains": "mimikatz"}, "condition": "s"},
    {
        "s": {"CommandLine|contains": "vssadmin"},
        "p": {"ParentImage|endswith": "\\explorer.exe"},
        "condition": "s and not p",
    },
    {"s": {"Image|endswith": "\\svchost.exe"}, "k": ["00043"], "condition": "s and k"},
    {"s": {"CommandLine|contains": "secretsdump"}, "condition": "s"},
)


def _matches(engine: DuckDBEngine, rules: list[CompiledRule]) -> tuple[set[tuple[int, int]], int]:
    found = engine.evaluate(rules)
    assert not found.failed
    table = found.matches
    pairs = zip(table.column("rule").to_pylist(), table.column("rid").to_pylist(), strict=True)
    return set(pairs), found.skipped


def _held(encoded: EncodedSlice) -> int:
    """Bytes of a scan's encoded fields: each field's distinct values."""
    return sum(codes.values.nbytes for codes in encoded.fields.values())


def test_spans_cover_the_rows_in_fewer_rows_than_the_stopped_scan() -> None:
    rids = np.array([2, 3, 5, 8, 13, 21, 34, 55, 89, 144], np.int64)
    parts = spans(rids, SliceTooLarge(rows=6, nbytes=600), budget=500)
    assert parts == [(2, 3), (5, 8), (13, 21), (34, 55), (89, 144)]
    # Past the budget from the first row on: one row per span, never the rows read.
    assert spans(rids[:3], SliceTooLarge(rows=2, nbytes=10_000), budget=1) == [
        (2, 2),
        (3, 3),
        (5, 5),
    ]
    assert spans(rids[:4], SliceTooLarge(rows=4, nbytes=5), budget=200) == [(2, 5), (8, 8)]


def test_a_slice_past_the_budget_is_evaluated_in_spans_with_the_same_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _rules(*RULES)
    scans: list[tuple[dict[str, Any], EncodedSlice | None]] = []
    original = evaluate_module.encode_slice

    def spy(*args: Any, **kw: Any) -> Any:
        out = original(*args, **kw)
        scans.append((kw, out))
        return out

    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        oracle, _ = _matches(engine, [dataclasses.replace(r, condition=None) for r in rules])
        whole, whole_skipped = _matches(engine, rules)
        monkeypatch.setattr(evaluate_module, "encode_slice", spy)
        budget = 40 * TEXT  # about 40 of the 300 rows
        engine.evaluator.span_bytes = budget
        split, split_skipped = _matches(engine, rules)
    finally:
        engine.close()
    assert split == whole == oracle
    assert {r for r, _ in oracle} == {0, 1, 2}
    assert len({rid for r, rid in oracle if r == 1}) == 1  # 250: its parent is explorer
    # "secretsdump" occurs in no span: skipped everywhere, as in the whole slice.
    assert split_skipped == whole_skipped == 1
    # Every bounded scan that finished held at most the budget; together they read
    # every row of the slice once, in several spans.
    bounded = [out for kw, out in scans if kw.get("max_bytes") is not None and out is not None]
    assert len(bounded) >= 300 * TEXT // budget
    assert all(_held(out) <= budget for out in bounded)
    read = np.concatenate([out.rids for out in bounded])
    assert len(read) == len(np.unique(read)) == 300
    assert all(kw.get("span") is not None for kw, _ in scans)


def test_a_slice_under_the_budget_is_scanned_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _rules(*RULES)
    scans: list[dict[str, Any]] = []
    original = evaluate_module.encode_slice

    def spy(*args: Any, **kw: Any) -> Any:
        scans.append(kw)
        return original(*args, **kw)

    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        monkeypatch.setattr(evaluate_module, "encode_slice", spy)
        _matches(engine, rules)
    finally:
        engine.close()
    assert scans and all(kw.get("span") is None for kw in scans)


def test_one_row_past_the_budget_is_a_span_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A budget no row fits in: each row its own span, and the evaluation ends.
    rules = _rules(*RULES)
    engine = DuckDBEngine()
    try:
        load_events(engine, _events(12), tmp_path)
        whole, _ = _matches(engine, rules)
        engine.evaluator.span_bytes = 1
        split, _ = _matches(engine, rules)
    finally:
        engine.close()
    assert split == whole and {r for r, _ in whole} == {0, 1}


def test_what_the_slices_freed_is_given_back_after_the_spans_and_the_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _rules(*RULES)
    calls: list[int] = []
    monkeypatch.setattr(evaluate_module, "release_freed", lambda: calls.append(1))
    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        _matches(engine, rules)
        assert len(calls) == 1  # once, at the end of the evaluation
        calls.clear()
        engine.evaluator.span_bytes = 100 * TEXT
        _matches(engine, rules)
    finally:
        engine.close()
    assert len(calls) == 2  # after the slice's spans, and at the end


def test_release_freed_gives_back_the_c_heap_where_glibc_has_it() -> None:
    release_freed()  # never raises, whatever the platform
    if sys.platform.startswith("linux") and "glibc" in platform.libc_ver()[0]:
        assert _malloc_trim() is not None
