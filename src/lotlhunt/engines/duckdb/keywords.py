"""Keyword tests on the event's whole text, lower-cased only where they may match.

A keyword rule tests ``lower(text)``, the event's whole text (every field it fills,
joined) lower-cased, for literals. Lower-casing copies the text of every row of the
slice, and on a slice of every event (Mordor: 680 k events, 543 columns) that copy and
the search cost as much as all other slices together. Searching the text as it is,
case-insensitively (RE2's ``(?i)``), finds every row the lower-cased search can match,
at a fraction of the cost; the test as written then runs on those rows only.

"Every row" holds where each character's lower case is one RE2 folds it with. DuckDB's
``lower`` and RE2's folding disagree for a few characters (U+0130, the capital I with a
dot, lower-cases to ``i`` and RE2 does not fold it): they are asked of the engine itself,
once, and a text holding any of them is tested as written whatever the first search
said. Only literal tests are rewritten (a substring, an alternation of literals, a
``LIKE`` of literals and ``%``): a case-insensitive pattern with a negated class could
match less than the lower-cased one.
"""

from __future__ import annotations

import threading

import duckdb
import numpy as np
import pyarrow as pa

from ...rules.compile.dialect import ALL_TEXT_FIELD, DUCKDB, LOWER_SUFFIX, re2_escape
from ...rules.compile.tree import Op, kernel_test
from .arrow_view import arrow_view

#: Events in the table from which a slice of every event searches its keywords on the
#: text as it is first: the search pays on Mordor's 680 k events; below, the characters
#: DuckDB lower-cases (asked once per process, 0.1-0.4 s) would cost more than it saves.
MIN_EVENTS = 100_000

#: The event's text as the slice projects it, as it is and lower-cased.
TEXT = DUCKDB.ident(ALL_TEXT_FIELD)
LOWER_TEXT = DUCKDB.ident(ALL_TEXT_FIELD + LOWER_SUFFIX)

_lock = threading.Lock()
#: DuckDB version -> lower-case character -> the other characters DuckDB lower-cases to it.
_sources: dict[str, dict[str, list[str]]] = {}
#: (DuckDB version, character) -> whether RE2's ``(?i)`` matches it against its lower case.
_folds: dict[tuple[str, str], bool] = {}


def unfolded(con: duckdb.DuckDBPyConnection, pattern: str) -> str:
    """An RE2 class of the characters DuckDB lower-cases to a character of ``pattern``
    that RE2's ``(?i)`` does not match against it ('' if none). Asked of this DuckDB:
    every character lower-cased at once (one value), once per process; then the few
    lower-cased to ``pattern``'s characters tested, each once."""
    version = duckdb.__version__
    with _lock:
        sources = _sources.get(version)
        if sources is None:
            sources = _sources[version] = _lower_sources(con)
        odd = []
        for c in sorted({c for ch in set(pattern) for c in sources.get(ch, ())}):
            folds = _folds.get((version, c))
            if folds is None:
                row = con.execute(
                    "SELECT regexp_matches(?, '(?i)\\Q' || lower(?) || '\\E')", [c, c]
                ).fetchone()
                folds = _folds[(version, c)] = bool(row and row[0])
            if not folds:
                odd.append(c)
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in odd) + "]" if odd else ""


def lower_sources(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Lower-case character -> the other characters this DuckDB's ``lower`` gives it for
    (asked once per process; :mod:`.textsearch` reads it too)."""
    version = duckdb.__version__
    with _lock:
        sources = _sources.get(version)
        if sources is None:
            sources = _sources[version] = _lower_sources(con)
    return sources


def _lower_sources(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Lower-case character -> the other characters DuckDB's ``lower`` gives it for."""
    codes = np.concatenate([np.arange(1, 0xD800), np.arange(0xE000, 0x110000)])
    text = codes.astype("<u4").tobytes().decode("utf-32-le")
    # In values of 16 k characters: DuckDB lower-cases one value of them all in seconds.
    chunks = pa.table({"c": [text[i : i + 16384] for i in range(0, len(text), 16384)]})
    chunks = chunks.append_column("i", pa.array(np.arange(chunks.num_rows)))
    with arrow_view(con, "__characters", chunks):
        lowered_chunks = con.sql("SELECT lower(c) FROM __characters ORDER BY i").fetchall()
    lowered_text = "".join(str(r[0]) for r in lowered_chunks)
    lowered = np.frombuffer(lowered_text.encode("utf-32-le"), "<u4")
    if len(lowered) == len(codes):
        at = np.flatnonzero(lowered != codes)
        pairs = [(chr(codes[i]), chr(lowered[i])) for i in at]
    else:  # a character lower-cased into several: one by one
        rows = con.execute(
            "SELECT c, lower(c) FROM (SELECT unnest(?) AS c) WHERE lower(c) <> c",
            [[chr(c) for c in codes]],
        ).fetchall()
        pairs = [(str(c), str(lo)) for c, lo in rows]
    out: dict[str, list[str]] = {}
    for c, lo in pairs:
        for ch in lo:
            out.setdefault(ch, []).append(c)
    return out


def prefilter(sql: str) -> str | None:
    """A case-insensitive RE2 pattern on the text as it is, true wherever the keyword test
    ``sql`` (on the lower-cased text) can be, if ``sql`` is a literal test of it."""
    op, column, values = kernel_test(sql)
    if column != ALL_TEXT_FIELD + LOWER_SUFFIX:
        return None
    if op is Op.CONTAINS:
        return "(?si)" + re2_escape(values[0])
    if op in (Op.SEARCH, Op.LIKE) and values[0].startswith("(?s)"):
        return "(?si)" + values[0][len("(?s)") :]
    return None


def cheaper(sql: str, con: duckdb.DuckDBPyConnection) -> str:
    """``sql``, a row unit, written to lower-case the event's text only on the rows a
    case-insensitive search of it finds (or that hold a character :func:`unfolded`);
    ``sql`` itself when it is not a literal test of the lower-cased text. The same
    outcome on every row, NULL included (a NULL text goes to the test as written)."""
    pattern = prefilter(sql)
    if pattern is None or not sql.count(LOWER_TEXT) == 1:
        return sql
    maybe = f"regexp_matches({TEXT}, {DUCKDB.literal(pattern)})"
    unfolded_class = unfolded(con, pattern)
    if unfolded_class:
        maybe = f"({maybe} OR regexp_matches({TEXT}, {DUCKDB.literal(unfolded_class)}))"
    exact = sql.replace(LOWER_TEXT, f"lower({TEXT})")
    return f"CASE WHEN ({maybe}) IS NOT FALSE THEN {exact} ELSE false END"
