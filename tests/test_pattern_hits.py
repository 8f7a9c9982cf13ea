"""Many regular expressions of one field in one pass (``kernels.pattern_hits``).

RE2's prefilter runs only the patterns whose literals a value holds; what it finds must
be exactly what pyarrow's ``match_substring_regex`` (the kernel it replaces) finds, per
pattern, NULLs and all.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from lotlhunt.engines.duckdb.kernels import MIN_PATTERNS, FieldUnits, pattern_hits
from lotlhunt.engines.duckdb.units import FieldCodes
from lotlhunt.rules.compile.tree import Kind, Node, Op

PATTERNS = [
    r"\\[a-z]+\.exe\s+-enc",
    r"(?i)powershell.*-e(nc)?\s",
    r"cmd\.exe /c (whoami|net user)",
    r".*",  # no literal: run on every value
    r"^[0-9]+$",
    r"\d{3}-\d{2}",
    r"[[:alpha:]]+foo",  # a POSIX class, not the literal "]"
    r"x\Qa.b\E",
    r"(?s)a.b",
    r"^$",
    r"ß|ǅ",
]

VALUES = st.lists(
    st.one_of(
        st.none(),
        st.text(alphabet="abcxAB.-\\ \n019ßǅ/cmdexwhoaminetuserPOWERSHELL", max_size=30),
        st.sampled_from(
            [
                "C:\\x\\powershell.exe -enc AAA",
                "cmd.exe /c whoami",
                "123",
                "",
                "xa.b",
                "xaxb",
                "alphafoo",
                "a\nb",
                "PowerShell -E ",
            ]
        ),
    ),
    max_size=40,
)


def _expected(column: pa.Array, pattern: str) -> np.ndarray:
    found = pc.match_substring_regex(column, pattern).fill_null(False)
    return np.flatnonzero(found.to_numpy(zero_copy_only=False))


@settings(max_examples=60, deadline=None)
@given(VALUES)
def test_pattern_hits_are_the_kernels_matches(values: list[str | None]) -> None:
    column = pa.array(values, pa.string())
    found = pattern_hits(column, PATTERNS)
    assert set(found) == set(PATTERNS)
    for pattern in PATTERNS:
        assert found[pattern].tolist() == _expected(column, pattern).tolist(), pattern


def test_a_pattern_re2_refuses_is_left_out() -> None:
    column = pa.array(["aa", None, "ab"])
    found = pattern_hits(column, [r"(a)\1", "a+b", r"(?=a)"])
    assert found == {"a+b": found["a+b"]} and found["a+b"].tolist() == [2]
    assert pattern_hits(column, [r"(a)\1"]) == {}


def test_field_units_use_the_pass_for_many_patterns_with_nulls_where_sql_has() -> None:
    values = pa.array(["cmd.exe /c whoami", "notepad", None, "powershell -enc x"])
    table = pa.table({"__i": pa.array(np.arange(4)), "CommandLine": values})
    codes = FieldCodes(values=values, codes=np.arange(4, dtype=np.int64))
    patterns = ["whoami", "^note", "enc x$", "power.*enc", "zzz"]
    assert len(patterns) >= MIN_PATTERNS
    nodes = {
        f"p{k}": Node(
            kind=Kind.FIELD,
            sql=f"regexp_matches(CommandLine, '{p}')",
            field="commandline",
            op=Op.REGEX,
            column="CommandLine",
            values=(p,),
        )
        for k, p in enumerate(patterns)
    }
    units = FieldUnits(None, table, codes, 64, 1 << 20)  # type: ignore[arg-type]
    units._patterns(list(nodes.values()))
    for node in nodes.values():
        got = units.tests[node.sql]
        assert got.to_pylist() == pc.match_substring_regex(values, node.values[0]).to_pylist()
    assert units.tests[nodes["p0"].sql].to_pylist() == [True, False, None, False]
