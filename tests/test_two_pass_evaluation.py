"""A slice scanned in two passes: the prefilter's fields, then what the kept rules read.

The first scan of a slice reads only the fields holding the rules' required literals;
the prefilter keeps the rules that can match, and the second scan reads their other
fields and row units (keywords, tests of several fields). Its rows are matched to the
first's by row id, whatever order either scan returns them in. Each test compares with
the oracle, every rule's own SQL (``EngineOptions(by_field=False)``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from lotlhunt.engines.duckdb import evaluate as evaluate_module
from lotlhunt.engines.duckdb.encode import EncodedSlice, by_row_id, joined
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.engines.duckdb.units import FieldCodes, UnitTruth
from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import load_events
from match_pairs import evaluated_pairs as _matches
from rule_docs import process_creation_rules as _rules

SYSMON = "Microsoft-Windows-Sysmon/Operational"

Scan = tuple[dict[str, str], list[str], EncodedSlice | None]


def _events() -> list[dict[str, Any]]:
    base = {"Channel": SYSMON, "EventID": 1}
    out = []
    for i in range(200):
        out.append(
            {
                **base,
                "Image": ("C:\\Windows\\System32\\cmd.exe", "C:\\x\\svchost.exe")[i % 2],
                "CommandLine": f"cmd /c whoami /{i % 7}",
                "ParentImage": ("C:\\Windows\\explorer.exe", "C:\\x\\cmd.exe")[i % 3 == 0],
                "User": ("bob", "SYSTEM", None)[i % 3],
            }
        )
    out.append({**base, "Image": "C:\\x\\wmic.exe", "CommandLine": "wmic shadowcopy delete"})
    out.append({**base, "Image": "C:\\x\\cmd.exe", "CommandLine": "c:\\x\\cmd.exe /c ver"})
    return out


def _scans(monkeypatch: pytest.MonkeyPatch, shuffle: int | None = None) -> list[Scan]:
    """Record each scan of a slice: the fields and row units it read, what it gave.
    With ``shuffle`` (a seed), each scan's rows come back in a random order, as a scan
    without ``preserve_insertion_order`` may return them."""
    seen: list[Scan] = []
    original = evaluate_module.encode_slice
    random = np.random.default_rng(shuffle)

    def spy(
        con: Any, slices: Any, variant: Any, spellings: Any, units: Any, *rest: Any, **kw: Any
    ) -> Any:
        out = original(con, slices, variant, spellings, units, *rest, **kw)
        if out is not None and shuffle is not None:
            out = _permuted(out, random.permutation(len(out.rids)))
        seen.append((dict(spellings), list(units), out))
        return out

    monkeypatch.setattr(evaluate_module, "encode_slice", spy)
    return seen


def _permuted(encoded: EncodedSlice, order: np.ndarray) -> EncodedSlice:
    out = EncodedSlice(encoded.rids[order], failed=dict(encoded.failed))
    out.fields = {f: FieldCodes(c.values, c.codes[order]) for f, c in encoded.fields.items()}
    out.rows = {u: UnitTruth(t.true[order], t.null[order]) for u, t in encoded.rows.items()}
    return out


def _both(
    tmp_path: Path, rules: list[CompiledRule], monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[set[tuple[int, int]], set[tuple[int, int]], list[Scan]]:
    """Matches per field, the oracle's, and the per-field path's scans."""
    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        oracle = _matches(engine, [dataclasses.replace(r, condition=None) for r in rules])
        scans = _scans(monkeypatch, **kw)
        by_field = _matches(engine, rules)
    finally:
        engine.close()
    return by_field, oracle, scans


def test_no_second_scan_when_the_prefilter_keeps_no_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _rules(
        {"s": {"CommandLine|contains": "mimikatz"}, "condition": "s"},
        {"s": {"Image|endswith": "\\ntdsutil.exe"}, "k": ["secretsdump"], "condition": "s and k"},
        {
            "s": {"CommandLine|contains": "vssadmin"},
            "p": {"ParentImage|endswith": "\\explorer.exe"},
            "condition": "s and not p",
        },
    )
    by_field, oracle, scans = _both(tmp_path, rules, monkeypatch)
    assert by_field == oracle == set()
    # One scan, of the literal fields only: no keyword text, no ParentImage.
    [(fields, units, encoded)] = scans
    assert sorted(fields) == ["commandline", "image"] and not units
    assert encoded is not None and len(encoded.rids) == 202


def test_the_second_scan_reads_only_what_the_kept_rules_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _rules(
        # Kept: its literal occurs; ParentImage comes in the second scan, its keyword in
        # a third, on the rows where its literal occurs only.
        {
            "s": {"CommandLine|contains": "shadowcopy"},
            "k": ["wmic"],
            "p": {"ParentImage|endswith": "\\explorer.exe"},
            "condition": "s and (k or not p)",
        },
        # Kept: a test of two fields (a row unit) needed only in the third scan.
        {
            "s": {"Image|endswith": "cmd.exe"},
            "r": {"CommandLine|fieldref|contains": "Image"},
            "condition": "s and r",
        },
        # Skipped: its literal occurs nowhere; its keyword and User are never read.
        {"s": {"CommandLine|contains": "mimikatz"}, "k": ["psexec"], "u": {"User": "x"},
         "condition": "s and (k or u)"},
    )  # fmt: skip
    by_field, oracle, scans = _both(tmp_path, rules, monkeypatch)
    assert by_field == oracle
    assert {rule for rule, _ in by_field} == {0, 1}
    (first, none, one), (second, no_units, two), (no_fields, units, three) = scans
    assert sorted(first) == ["commandline", "image"] and not none
    assert sorted(second) == ["parentimage"] and not no_units
    assert not no_fields and len(units) == 2  # keyword, fieldref
    assert not any("psexec" in u for u in units)
    assert one is not None and two is not None and list(one.rids) == list(two.rids)
    assert three is not None and set(three.rids) <= set(one.rids)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rows_returned_in_any_order_are_matched_by_row_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rules = _rules(
        {
            "s": {"CommandLine|contains": "whoami /3"},
            "p": {"ParentImage|endswith": "\\cmd.exe"},
            "condition": "s and p",
        },
        {"s": {"CommandLine|contains": "whoami"}, "k": ["SYSTEM"], "condition": "s and k"},
        {
            "s": {"Image|endswith": "cmd.exe"},
            "r": {"CommandLine|fieldref|contains": "Image"},
            "condition": "s and r",
        },
        {"s": {"CommandLine|contains": "whoami"}, "u": {"User": None}, "condition": "s and u"},
    )
    by_field, oracle, scans = _both(tmp_path, rules, monkeypatch, shuffle=seed)
    assert by_field == oracle
    assert {rule for rule, _ in by_field} == {0, 1, 2, 3}
    # The literal fields, the others, the row units: each shuffled.
    assert len(scans) == 3 and all(e is not None for _f, _u, e in scans)


def _slice(rids: list[int], codes: list[int], truth: list[bool]) -> EncodedSlice:
    out = EncodedSlice(np.array(rids, np.int64))
    out.fields["f"] = FieldCodes(pa.array(["a", "b", None]), np.array(codes, np.int64))
    out.rows["r"] = UnitTruth(np.array(truth), np.zeros(len(truth), bool))
    return out


def test_a_scan_is_put_in_row_id_order_with_its_codes_and_row_units() -> None:
    ordered = by_row_id(_slice([7, 3, 5], [0, 1, 2], [True, False, False]))
    assert list(ordered.rids) == [3, 5, 7]
    assert list(ordered.fields["f"].codes) == [1, 2, 0]
    assert list(ordered.rows["r"].true) == [False, False, True]
    already = _slice([1, 2], [0, 1], [True, False])
    assert by_row_id(already) is already


def test_two_scans_of_different_rows_are_never_joined() -> None:
    one = _slice([1, 2, 3], [0, 1, 0], [True, False, True])
    two = EncodedSlice(np.array([1, 2, 4], np.int64))
    with pytest.raises(RuntimeError, match="disagree"):
        joined(one, two)
    same = EncodedSlice(np.array([1, 2, 3], np.int64))
    same.fields["g"] = FieldCodes(pa.array(["x"]), np.zeros(3, np.int64))
    both = joined(one, same)
    assert sorted(both.fields) == ["f", "g"] and list(both.rows) == ["r"]


def test_row_units_are_made_on_the_rows_their_rules_field_tests_allow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _rules(
        # Bounded: its keyword is needed only where CommandLine holds "/3".
        {"s": {"CommandLine|contains": "whoami /3"}, "k": ["SYSTEM"], "condition": "s and k"},
        # Bounded too: a test of two fields, only where the command line says shadowcopy.
        {
            "s": {"CommandLine|contains": "shadowcopy"},
            "r": {"CommandLine|fieldref|contains": "Image"},
            "condition": "s and not r",
        },
    )
    by_field, oracle, scans = _both(tmp_path, rules, monkeypatch)
    assert by_field == oracle and {r for r, _ in by_field} == {0, 1}
    (first, _, one), (no_fields, units, rows) = scans
    assert sorted(first) == ["commandline"] and not no_fields and len(units) == 2
    assert one is not None and rows is not None
    # "whoami /3": 29 of the 202 rows; shadowcopy: one.
    assert len(rows.rids) == 30 and set(rows.rids) <= set(one.rids)


def test_a_keyword_beside_a_field_test_in_an_or_is_made_on_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing bounds "k or s": the keyword is made in the scan of the fields, on all rows.
    rules = _rules(
        {"s": {"CommandLine|contains": "shadowcopy"}, "k": ["SYSTEM"], "condition": "s or k"}
    )
    by_field, oracle, scans = _both(tmp_path, rules, monkeypatch)
    assert by_field == oracle and len(by_field) > 1
    assert all(len(e.rids) == 202 for _, _, e in scans if e is not None)
    assert sum(len(units) for _, units, _ in scans) == 1


def test_no_row_is_scanned_for_row_units_no_rule_can_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _rules(
        {
            "s": {"CommandLine|contains": "whoami"},
            "n": {"Image|endswith": "\\nowhere.exe"},
            "k": ["SYSTEM"],
            "condition": "s and n and k",
        }
    )
    by_field, oracle, scans = _both(tmp_path, rules, monkeypatch)
    assert by_field == oracle == set()
    assert all(not units for _, units, _ in scans)
