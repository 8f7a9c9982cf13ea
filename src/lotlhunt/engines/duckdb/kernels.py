"""A field's units evaluated over its distinct values: string kernels, else SQL.

Every test of a field in the rules that survive the prefilter is evaluated once over the
field's distinct values (a table with its twins: :func:`.encode.values_table`). Tests
the compiler writes in a shape a vectorised string kernel computes exactly as SQL does
(:func:`lotlhunt.rules.compile.tree.kernel_test`: equality, ``contains``, prefix,
suffix, ``IN``, NULL tests, an alternation of literals) run as pyarrow kernels, with no
query to plan: DuckDB plans each expression of a query at about half a millisecond,
which over thousands of tests cost more than evaluating them. The others (regular
expressions, ``LIKE``, numbers, addresses) run as SQL, many per query, as boolean
columns. AND, OR and the ``coalesce`` wrappers then combine the results with Kleene's
logic, which is SQL's.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...rules.compile.tree import Kind, Node, Op, Tree
from .arrow_view import arrow_view
from .memory import out_of_memory
from .units import FieldCodes, UnitKey, UnitTruth

_NULL_BOOL = pa.scalar(None, pa.bool_())


def kernel(node: Node, column: pa.Array) -> pa.Array:
    """The outcome of a kernel test (``node.op``) on ``column``, NULL where SQL's is."""
    op, values = node.op, node.values
    if op is Op.EQUALS:
        return pc.equal(column, values[0])
    if op is Op.CONTAINS:
        return pc.match_substring(column, values[0])
    if op is Op.STARTS:
        return pc.starts_with(column, values[0])
    if op is Op.ENDS:
        return pc.ends_with(column, values[0])
    if op is Op.IN:
        found = pc.is_in(column, value_set=pa.array(values, column.type))
        return pc.if_else(pc.is_valid(column), found, _NULL_BOOL)
    if op is Op.IS_NULL:
        return pc.is_null(column)
    if op is Op.NOT_NULL:
        return pc.is_valid(column)
    if op is Op.SEARCH:
        return pc.match_substring_regex(column, values[0])
    raise ValueError(f"no kernel for {op}")


class FieldUnits:
    """Evaluates the units of one field over its values table ``values``."""

    def __init__(
        self, cursor: duckdb.DuckDBPyConnection, values: pa.Table, codes: FieldCodes, per_query: int
    ) -> None:
        self.cursor = cursor
        self.values = values
        self.codes = codes
        self.per_query = per_query
        self.columns = {name.lower(): k for k, name in enumerate(values.column_names)}
        self.tests: dict[str, pa.Array] = {}
        self.errors: dict[str, str] = {}

    def evaluate(
        self, units: Sequence[tuple[UnitKey, Tree, int]]
    ) -> tuple[dict[UnitKey, UnitTruth], dict[UnitKey, str]]:
        """Outcomes of ``units`` (key, tree, index of the unit's node), and the units
        that failed, with why."""
        tests: dict[str, Node] = {}
        for _key, tree, i in units:
            _tests(tree, i, tests)
        self._sql([sql for sql, node in tests.items() if not self._kernel(node)])
        out: dict[UnitKey, UnitTruth] = {}
        failed: dict[UnitKey, str] = {}
        for key, tree, i in units:
            if key in out or key in failed:
                continue
            bad = _first_error(tree, i, self.errors)
            if bad is not None:
                failed[key] = bad
                continue
            result = self._combine(tree, i)
            true = result.fill_null(False).to_numpy(zero_copy_only=False)
            null = result.is_null().to_numpy(zero_copy_only=False)
            out[key] = UnitTruth(
                true=np.flatnonzero(true), null=np.flatnonzero(null), codes=self.codes
            )
        return out, failed

    def _kernel(self, node: Node) -> bool:
        """Compute ``node`` by a kernel if it has one; whether it had."""
        if node.op is None or node.column.lower() not in self.columns:
            return False
        if node.sql not in self.tests:
            column = self.values.column(self.columns[node.column.lower()]).combine_chunks()
            self.tests[node.sql] = kernel(node, column)
        return True

    def _sql(self, sqls: list[str]) -> None:
        """Evaluate tests as SQL, ``per_query`` per query; one by one where one fails."""
        view = f"__values_{id(self)}"
        with arrow_view(self.cursor, view, self.values):
            for k in range(0, len(sqls), max(self.per_query, 1)):
                self._query(view, sqls[k : k + self.per_query])

    def _query(self, view: str, sqls: list[str]) -> None:
        cols = ", ".join(f"({sql}) AS __t{k}" for k, sql in enumerate(sqls))
        try:
            table = self.cursor.sql(f"SELECT {cols} FROM {view}").to_arrow_table()
        except duckdb.Error as exc:
            if out_of_memory(exc):
                raise
            if len(sqls) == 1:
                self.errors[sqls[0]] = f"query failed: {exc}"
                return
            for sql in sqls:
                self._query(view, [sql])
            return
        for k, sql in enumerate(sqls):
            self.tests[sql] = table.column(k).combine_chunks()

    def _combine(self, tree: Tree, i: int) -> pa.Array:
        node = tree[i]
        if node.kind is Kind.FIELD:
            return self.tests[node.sql]
        parts = [self._combine(tree, a) for a in node.args]
        if node.kind is Kind.NOT:
            return pc.invert(parts[0].fill_null(False))
        if node.kind is Kind.TRUE:
            return parts[0].fill_null(False)
        join = pc.and_kleene if node.kind is Kind.AND else pc.or_kleene
        out = parts[0]
        for p in parts[1:]:
            out = join(out, p)
        return out


def _tests(tree: Tree, i: int, out: dict[str, Node]) -> None:
    node = tree[i]
    if node.kind is Kind.FIELD:
        out.setdefault(node.sql, node)
    for a in node.args:
        _tests(tree, a, out)


def _first_error(tree: Tree, i: int, errors: dict[str, str]) -> str | None:
    node = tree[i]
    if node.kind is Kind.FIELD:
        return errors.get(node.sql)
    for a in node.args:
        found = _first_error(tree, a, errors)
        if found is not None:
            return found
    return None
