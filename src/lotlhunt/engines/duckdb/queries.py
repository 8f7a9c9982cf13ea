"""SQL for the questions hunters ask of the events table besides rules.

Searches (keywords, field values, regular expressions), the analyst's own SELECT over a
view of the events, counts for metrics and the logon events of a logon summary. The
engine resolves field names (:meth:`DuckDBEngine.field_expression`) and runs the queries;
what is built here is plain text from values already quoted, so nothing a user types or
a log holds becomes SQL syntax.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from ...errors import UsageError
from ...events import schema
from ...rules.compile.dialect import DUCKDB
from ...scope import EventScope
from ..base import ANY_FIELD, SearchTerms


def scope_condition(scope: EventScope) -> str | None:
    """SQL keeping the rows in ``scope`` (the same test as ``EventScope.mask``)."""
    conds = []
    if scope.since:
        conds.append(f"{schema.TIMESTAMP} >= {_time(scope)[0]}")
    if scope.until:
        conds.append(f"{schema.TIMESTAMP} < {_time(scope)[1]}")
    pattern = scope.host_regex()
    if pattern is not None:
        conds.append(f"regexp_matches({schema.HOST}, {DUCKDB.literal(pattern)})")
    if scope.event_ids:
        conds.append(f"{schema.EVENT_ID} IN ({', '.join(map(str, sorted(scope.event_ids)))})")
    if not conds:
        return None
    return "coalesce(" + " AND ".join(conds) + ", false)"


def _time(scope: EventScope) -> tuple[str, str]:
    def lit(value: object) -> str:
        return "NULL" if value is None else f"TIMESTAMPTZ {DUCKDB.literal(str(value))}"

    since = scope.since.isoformat() if scope.since else None
    until = scope.until.isoformat() if scope.until else None
    return lit(since), lit(until)


def search_condition(terms: SearchTerms, expression: Callable[[str], str], all_text: str) -> str:
    """SQL for ``terms``; ``expression`` gives a field's SQL (NULL when absent),
    ``all_text`` the SQL of the event's whole text."""
    conds: list[str] = []
    if terms.keywords:
        lowered = f"lower({all_text})"
        tests = [f"contains({lowered}, {DUCKDB.literal(k.lower())})" for k in terms.keywords]
        conds.append("(" + (" AND " if terms.all_keywords else " OR ").join(tests) + ")")
    by_field: dict[str, list[str]] = {}
    for name, value in terms.fields:
        expr = f"lower(CAST({expression(name)} AS VARCHAR))"
        by_field.setdefault("f:" + name.lower(), []).append(
            f"{expr} = {DUCKDB.literal(value.lower())}"
        )
    for name, pattern in terms.regexes:
        expr = all_text if name == ANY_FIELD else f"CAST({expression(name)} AS VARCHAR)"
        by_field.setdefault("r:" + name.lower(), []).append(
            f"regexp_matches({expr}, {DUCKDB.literal(pattern)})"
        )
    conds.extend("(" + " OR ".join(tests) + ")" for tests in by_field.values())
    if not conds:
        return "true"
    return "coalesce(" + " AND ".join(conds) + ", false)"


def all_text(field_columns: Sequence[str]) -> str:
    """SQL of an event's whole text: its identity and every field, one per line."""
    cols = [schema.HOST, schema.CHANNEL, schema.PROVIDER, f"CAST({schema.EVENT_ID} AS VARCHAR)"]
    cols += [DUCKDB.ident(c) for c in field_columns]
    return f"concat_ws(chr(10), {', '.join(cols)})"


def check_regexes(patterns: Sequence[str], con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Raise a usage error naming the first pattern RE2 does not accept (before any log
    is read, when called without the engine's connection)."""
    if not patterns:
        return
    if con is None:
        with duckdb.connect() as own:
            check_regexes(patterns, own)
        return
    for pattern in patterns:
        try:
            con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error as exc:
            raise UsageError(f"not an RE2 regular expression: {pattern!r}: {exc}") from None


def check_select(sql: str) -> str:
    """``sql`` if it is one SELECT statement; a usage error otherwise.

    The statement is classified by DuckDB's own parser, so no trick of quoting or
    comments passes another statement for a SELECT.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"--sql does not parse: {exc}") from None
    if len(statements) != 1:
        raise UsageError(f"--sql takes one SELECT statement, not {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = str(statements[0].type).rsplit(".", 1)[-1]
        raise UsageError(f"--sql takes a SELECT statement only (this is {kind})")
    return sql


#: Columns of :func:`event_counts_query`'s result.
COUNT_COLUMNS = (
    schema.SOURCE,
    schema.HOST,
    schema.CHANNEL,
    schema.PROVIDER,
    schema.EVENT_ID,
    "events",
    "first",
    "last",
)


def event_counts_query(table: str, where: str | None) -> str:
    """Events per (source, host, channel, provider, event id) with their time span: the
    one grouped scan every metric is rolled up from."""
    keys = ", ".join(COUNT_COLUMNS[:5])
    return (
        f"SELECT {keys}, count(*) AS events, min({schema.TIMESTAMP}) AS first, "
        f"max({schema.TIMESTAMP}) AS last FROM {table}"
        + (f" WHERE {where}" if where else "")
        + f" GROUP BY {keys}"
    )
