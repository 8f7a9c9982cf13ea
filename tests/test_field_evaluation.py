"""Per-field evaluation against its oracle: each rule's own SQL, run row by row.

The DuckDB engine evaluates a rule's tests of one field once over the field's distinct
values (string kernels, or SQL) and the rule as three-valued boolean algebra on the
rows; a rule without a condition tree runs as its own SQL. The same rules with their
trees removed are the oracle: on generated events of every shape (missing fields,
NULLs, case, non-ASCII text, addresses, numbers spelled oddly, keywords) both must fire
on exactly the same events.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotlhunt.engines.base import EngineOptions
from lotlhunt.engines.duckdb import kernels
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.engines.duckdb.kernels import search_literals, substring_hits
from lotlhunt.rules.compile.dialect import re2_escape
from lotlhunt.rules.compile.tree import Kind, Node, Op, kernel_test
from lotlhunt.testing import load_events
from match_pairs import evaluated_pairs as _matches
from rule_docs import process_creation_rules

SYSMON = "Microsoft-Windows-Sysmon/Operational"

#: Detections exercising every shape of test the compiler writes.
DETECTIONS: list[dict[str, Any]] = [
    {"s": {"Image|endswith": "\\cmd.exe"}, "condition": "s"},
    {"s": {"CommandLine|contains": "whoami"}, "condition": "s"},
    {"s": {"CommandLine|startswith": "NET "}, "condition": "s"},
    {"s": {"CommandLine": "net user"}, "condition": "s"},
    {"s": {"Image": ["a.exe", "B.EXE", "c:\\x\\cmd.exe"]}, "condition": "s"},
    {
        "s": {"CommandLine|contains": ["a", "b|c", "x.y", "(z)", "\\", "Ä", "'q'", "*e"]},
        "condition": "s",
    },
    {"s": {"CommandLine|contains|all": ["net", "user"]}, "condition": "s"},
    {"s": {"CommandLine|contains|windash": "-enc"}, "condition": "s"},
    {"s": {"CommandLine|re": "(?i)NET\\s+US"}, "condition": "s"},
    {"s": {"CommandLine|re": "^n.t$"}, "condition": "s"},
    {"s": {"Image|contains": "?md*"}, "condition": "s"},
    {"s": {"CommandLine": "*n*t u*"}, "condition": "s"},
    {"s": {"CommandLine|cased": "NET user"}, "condition": "s"},
    {"s": {"IpAddress|cidr": ["10.0.0.0/8", "fe80::/10"]}, "condition": "s"},
    {"s": {"Count|gt": 5}, "condition": "s"},
    {"s": {"Count|lte": 2.5}, "condition": "s"},
    {"s": {"Count": 7}, "condition": "s"},
    {"s": {"Count": None}, "condition": "s"},
    {"s": {"User|exists": True}, "condition": "s"},
    {"s": {"User|exists": False}, "condition": "s"},
    {"s": {"Image|endswith": "cmd.exe"}, "f": {"User": "SYSTEM"}, "condition": "s and not f"},
    {"s": {"Image|endswith": "cmd.exe"}, "f": {"Count|gt": 3}, "condition": "s and not f"},
    {"f": {"CommandLine|contains": "net"}, "condition": "not f"},
    {"f": {"User": None}, "condition": "not f"},
    {
        "s1": {"Image|endswith": "cmd.exe"},
        "s2": {"CommandLine|contains": "user"},
        "s3": {"User|startswith": "adm"},
        "condition": "1 of s* and not s3",
    },
    {
        "s1": {"Image|endswith": "cmd.exe"},
        "s2": {"CommandLine|contains": "user"},
        "condition": "all of them",
    },
    {"k": ["whoami", "SYSTEM"], "condition": "k"},
    {"k": ["whoami"], "s": {"Image|endswith": "cmd.exe"}, "condition": "k or s"},
    {"k": ["net*user"], "condition": "k"},
    {"s": {"CommandLine|fieldref": "Image"}, "condition": "s"},
    {"s": {"User|fieldref|contains": "Image"}, "condition": "s"},
    {
        "s": {"Image|endswith": ["a", "b", "c"], "CommandLine|contains": "x"},
        "f": {"User": ["x", "y"], "Count": 1},
        "condition": "s or not f",
    },
    {"s": {"CommandLine|contains": "İ"}, "condition": "s"},
    {"s": {"CommandLine|endswith": "\\"}, "condition": "s"},
]

VALUES = {
    "Image": ["C:\\Windows\\cmd.exe", "c:\\x\\CMD.EXE", "a.exe", "B.exe", "", "cmd.exe", "İmage"],
    "CommandLine": [
        "net user",
        "NET USER /add",
        "whoami /all",
        "ps -enc AA",
        "ps /enc AA",
        "b|c x.y",
        "'q' (z) \\",
        "Äpfel",
        "n\nt",
        "net",
        "*e",
        "c:\\x\\cmd.exe",
        "kİ",
        "",
    ],
    "User": ["SYSTEM", "system", "admin", "Administrator", "c:\\x\\cmd.exe", "x"],
    "IpAddress": ["10.1.2.3", "192.168.0.1", "fe80::1%eth0", "::ffff:10.0.0.1", "nope", ""],
    "Count": ["7", "07", "7.0", "1", "2.5", "12", "nan", "NaN", " 9", "-3", "0x10", "inf", "x"],
}
FIELDS = sorted(VALUES)


RULES = process_creation_rules(*DETECTIONS)


def _agree(
    events: list[dict[str, Any]], folder: Path, options: EngineOptions | None = None
) -> set[tuple[int, int]]:
    """The matches by field, asserted equal to the oracle's."""
    engine = DuckDBEngine(options=options)
    try:
        load_events(engine, events, folder)
        by_field = _matches(engine, RULES)
        oracle = _matches(engine, [dataclasses.replace(r, condition=None) for r in RULES])
    finally:
        engine.close()
    assert by_field == oracle
    return by_field


event = st.fixed_dictionaries(
    {},
    optional={
        f: st.one_of(
            st.none(), st.sampled_from(VALUES[f]), st.sampled_from(VALUES[f]).map(str.upper)
        )
        for f in FIELDS
    },
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(event, min_size=1, max_size=40))
def test_per_field_evaluation_agrees_with_each_rules_sql(
    tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]
) -> None:
    rows = [{"Channel": SYSMON, "EventID": 1, **e} for e in events]
    _agree(rows, tmp_path_factory.mktemp("events"))


@pytest.mark.parametrize(
    "search_bytes",
    [EngineOptions().search_bytes, 0],
    ids=["values-scanned-in-python", "values-searched-by-the-engine"],
)
def test_every_value_of_every_field_agrees(tmp_path: Path, search_bytes: int) -> None:
    """Each value alone and beside every other field's values: every rule fires somewhere.
    Fields past ``search_bytes`` (all of them at 0, as Mordor's script blocks are) find
    their words by the engine's search, then a kernel call for each word found."""
    rows: list[dict[str, Any]] = []
    for f in FIELDS:
        for v in VALUES[f]:
            rows.append({"Channel": SYSMON, "EventID": 1, f: v})
            rows.append(
                {"Channel": SYSMON, "EventID": 1, **{g: VALUES[g][0] for g in FIELDS}, f: v}
            )
    rows.append({"Channel": SYSMON, "EventID": 1})
    found = _agree(rows, tmp_path, EngineOptions(search_bytes=search_bytes))
    assert len({rule for rule, _ in found}) >= len(RULES) - 2


def test_kernel_tests_read_back_the_compiled_sql() -> None:
    """Only SQL in exactly the compiler's shapes is given to a kernel."""
    assert kernel_test("contains(\"a__lc\", 'x''y')") == (Op.CONTAINS, "a__lc", ("x'y",))
    assert kernel_test("\"I\" IN ('a', 'b''c')") == (Op.IN, "I", ("a", "b'c"))
    assert kernel_test('("E__lc" = \'7\' OR try_cast("E__lc" AS DOUBLE) = 7.0)') == (
        Op.NUMBER,
        "E__lc",
        ("=", "7.0", "7"),
    )
    assert kernel_test("regexp_matches(\"c\", '(?s)a.b')") == (Op.REGEX, "c", ("(?s)a.b",))
    assert kernel_test("\"c\" LIKE '%a\\%\\_%' ESCAPE '\\'") == (
        Op.LIKE,
        "c",
        ("(?s)\\A.*a%_.*\\z",),
    )
    for sql in (
        "contains(\"a__lc\", 'x') OR contains(\"a__lc\", 'y')",
        '("E__lc" = \'7\' OR try_cast("F__lc" AS DOUBLE) = 7.0)',
        "\"c__lc\" LIKE 'a_b' ESCAPE '\\'",
        "\"I__lc\" = lower('ÄB')",
    ):
        assert kernel_test(sql) == (None, "", ())


def test_alternations_of_literals_read_back_exactly() -> None:
    words = ["a|b", "c\\d", "x.y", "p\\", "q", "\\\\|", "(?s)z", "[x]{2}^$+*?"]
    pattern = "(?s)" + "|".join(sorted({re2_escape(w) for w in words}))
    assert sorted(search_literals(Node(Kind.FIELD, op=Op.SEARCH, values=(pattern,))) or []) == (
        sorted(words)
    )
    hits = substring_hits(pa.array(["xa|by", None, "q", "c\\d q"]), words)
    assert {w: list(v) for w, v in hits.items()} == {"a|b": [0], "q": [2, 3], "c\\d": [3]}


_TEXT = st.text(alphabet=st.sampled_from(["a", "b", "\x00", "é", "𝔘", " "]), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), _TEXT), max_size=8),
    words=st.lists(_TEXT.filter(bool), min_size=1, max_size=4, unique=True),
)
def test_substring_hits_are_the_values_holding_each_word(
    values: list[str | None], words: list[str]
) -> None:
    # Values and words may hold NUL characters, or astral ones.
    expected: dict[str, list[int]] = {}
    for k, value in enumerate(values):
        for w in words:
            if value and w in value:
                expected.setdefault(w, []).append(k)
    saved = kernels.DIRECT_RATIO
    try:
        for ratio in (saved, -1):  # searched directly where it can be; by an automaton
            kernels.DIRECT_RATIO = ratio
            found = substring_hits(pa.array(values, pa.string()), words)
            assert {w: list(v) for w, v in found.items()} == expected
    finally:
        kernels.DIRECT_RATIO = saved
