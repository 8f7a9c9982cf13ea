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

import re
from collections.abc import Sequence
from functools import lru_cache

import ahocorasick
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2

from ...rules.compile.literals import MAX_LITERAL
from ...rules.compile.tree import Kind, Node, Op, Tree
from .arrow_view import arrow_view
from .encode import number_column
from .memory import out_of_memory
from .units import FieldCodes, UnitKey, UnitTruth
from .wordsearch import WordSearch, search_words

_NULL_BOOL = pa.scalar(None, pa.bool_())
#: Regular expressions of one column from which they are evaluated in one pass
#: (:func:`pattern_hits`) rather than a kernel call each.
MIN_PATTERNS = 4


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
    if op in (Op.SEARCH, Op.REGEX, Op.LIKE):
        return pc.match_substring_regex(column, values[0])
    if op is Op.BETWEEN:
        return pc.and_kleene(pc.greater_equal(column, values[0]), pc.less_equal(column, values[1]))
    raise ValueError(f"no kernel for {op}")


#: How DuckDB compares NaN with a number: NaN is larger than every other value.
_NAN_IS = {"=": False, "<>": True, "<": False, "<=": False, ">": True, ">=": True}
_COMPARE = {
    "=": pc.equal,
    "<>": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


def number_kernel(node: Node, text: pa.Array, number: pa.Array) -> pa.Array:
    """An :attr:`Op.NUMBER` test from the column (``text``) and the engine's
    ``try_cast`` of it to DOUBLE (``number``), with DuckDB's ordering of NaN."""
    op, literal = node.values[0], float(node.values[1])
    compared = _COMPARE[op](number, literal)
    nan = pc.is_nan(number).fill_null(False)
    out = pc.if_else(nan, pa.scalar(_NAN_IS[op]), compared)
    if op == "=" and len(node.values) > 2:
        out = pc.or_kleene(pc.equal(text, node.values[2]), out)
    return out


class FieldUnits:
    """Evaluates the units of one field over its values table ``values``."""

    def __init__(
        self,
        cursor: duckdb.DuckDBPyConnection,
        values: pa.Table,
        codes: FieldCodes,
        per_query: int,
        pass_bytes: int,
        hits: dict[str, dict[str, np.ndarray]] | None = None,
        searched: dict[str, WordSearch] | None = None,
    ) -> None:
        self.cursor = cursor
        self.values = values
        self.codes = codes
        self.per_query = per_query
        self.pass_bytes = pass_bytes
        #: Positions holding each word, by lower-cased column, where already searched.
        self.hits = hits or {}
        #: Searches of large columns (:mod:`.wordsearch`), by lower-cased column, where made.
        self.searched = searched or {}
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
        self._substrings(list(tests.values()))
        self._patterns(list(tests.values()))
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

    def _substrings(self, nodes: list[Node]) -> None:
        """Evaluate the ``contains`` tests and searches of alternations of literals, one
        Aho-Corasick pass per column over the distinct values for all their literals (a
        substring kernel call per literal scans every value once per literal), or the
        pass already made (``hits``). A column past ``pass_bytes`` is searched by DuckDB
        instead (:mod:`.wordsearch`; or the search already made, ``searched``): Python's
        pass runs at tens of MB/s."""
        by_column: dict[int, dict[str, list[Node]]] = {}
        for node in nodes:
            if node.op not in (Op.CONTAINS, Op.SEARCH) or node.sql in self.tests:
                continue
            k = self.columns.get(node.column.lower())
            if k is None:
                continue
            literals = node_words(node)
            if literals is None:
                continue
            for w in literals:
                by_column.setdefault(k, {}).setdefault(w, []).append(node)
        for k, words in by_column.items():
            column = self.values.column(k).combine_chunks()
            name = self.values.column_names[k].lower()
            hits = self.hits.get(name)
            if hits is None:
                if column.nbytes > self.pass_bytes:
                    search = self.searched.get(name)
                    if search is None or not search.covers(words):
                        search = search_words(self.cursor, column, words)
                    hits = search.hits(words)
                else:
                    hits = substring_hits(column, list(words))
            invalid = ~pc.is_valid(column).to_numpy(zero_copy_only=False)
            positions: dict[str, list[np.ndarray]] = {}
            for word, readers in words.items():
                found = hits.get(word)
                for node in readers:
                    held = positions.setdefault(node.sql, [])
                    if found is not None:
                        held.append(found)
            for sql, parts in positions.items():
                mask = np.zeros(len(column), bool)
                if parts:
                    mask[np.concatenate(parts)] = True
                self.tests[sql] = pa.array(mask, mask=invalid)

    def _patterns(self, nodes: list[Node]) -> None:
        """Evaluate the regular expressions (``LIKE``, searches and patterns as RE2
        patterns, :func:`kernel`) of each column that has at least
        :data:`MIN_PATTERNS` of them in one pass over its distinct values
        (:func:`pattern_hits`). A pattern the pass cannot take is left to its kernel."""
        by_column: dict[int, dict[str, Node]] = {}
        for node in nodes:
            if node.op not in (Op.SEARCH, Op.REGEX, Op.LIKE) or node.sql in self.tests:
                continue
            k = self.columns.get(node.column.lower())
            if k is not None:
                by_column.setdefault(k, {})[node.sql] = node
        for k, held in by_column.items():
            if len(held) < MIN_PATTERNS:
                continue
            column = self.values.column(k).combine_chunks()
            patterns = {sql: node.values[0] for sql, node in held.items()}
            found = pattern_hits(column, list(dict.fromkeys(patterns.values())))
            invalid = ~pc.is_valid(column).to_numpy(zero_copy_only=False)
            for sql, pattern in patterns.items():
                rows = found.get(pattern)
                if rows is None:
                    continue
                mask = np.zeros(len(column), bool)
                mask[rows] = True
                self.tests[sql] = pa.array(mask, mask=invalid)

    def _kernel(self, node: Node) -> bool:
        """Compute ``node`` by a kernel if it has one; whether it had."""
        if node.op is None or node.column.lower() not in self.columns:
            return False
        if node.sql in self.tests:
            return True
        column = self.values.column(self.columns[node.column.lower()]).combine_chunks()
        if node.op is Op.NUMBER:
            cast = self.columns.get(number_column(node.column).lower())
            if cast is None:
                return False
            number = self.values.column(cast).combine_chunks()
            self.tests[node.sql] = number_kernel(node, column, number)
        else:
            try:
                self.tests[node.sql] = kernel(node, column)
            except pa.ArrowException:
                return False  # a pattern RE2 refuses here: the engine says what it does
        return True

    def _sql(self, sqls: list[str]) -> None:
        """Evaluate tests as SQL, ``per_query`` per query; one by one where one fails."""
        if not sqls:
            return
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


_NONE = np.empty(0, np.int64)
_UNESCAPE = re.compile(r"\\(.)", re.S)
_ITEM = re.compile(r"(?:\\.|[^\\|])+", re.S)


@lru_cache(maxsize=4096)
def _search_literals(pattern: str) -> tuple[str, ...]:
    return tuple(_UNESCAPE.sub(r"\1", item) for item in _ITEM.findall(pattern[4:]))


def node_words(node: Node) -> list[str] | None:
    """The literals an Aho-Corasick pass looks for to evaluate ``node`` (a ``contains``
    or a search), or None when it cannot (an empty or too long literal)."""
    if node.op is Op.CONTAINS:
        words: list[str] | None = [node.values[0]]
    elif node.op is Op.SEARCH:
        words = search_literals(node)
    else:
        return None
    if words is None or any(not w or len(w) > MAX_LITERAL for w in words):
        return None
    return words


def search_literals(node: Node) -> list[str] | None:
    """The literals of an :attr:`Op.SEARCH` pattern (``(?s)`` then escaped literals
    joined by ``|``: :func:`~lotlhunt.rules.compile.dialect.re2_escape`)."""
    pattern = node.values[0]
    if not pattern.startswith("(?s)"):
        return None
    return list(_search_literals(pattern))


#: Characters of the values searched directly, per character of the words, past which
#: :func:`substring_hits` builds an automaton: building costs 0.1-0.5 us per character
#: of the words (one trie node each where they share no prefix), a direct search about
#: a nanosecond per character of the values, per word.
DIRECT_RATIO = 100


def substring_hits(column: pa.Array, words: list[str]) -> dict[str, np.ndarray]:
    """For each word, the positions of the values of ``column`` holding it.

    One Aho-Corasick pass over the values, unless building the automaton would cost
    more than looking for each word in them directly (:data:`DIRECT_RATIO`): the 5,289
    hashes of a slice's rules on its 6 values took 171 ms to build an automaton for, a
    direct search 2-3 ms. A direct search looks for each word in the values joined,
    then in each value where it is there."""
    values = column.to_pylist()
    chars = sum(len(v) for v in values if v)
    if chars * len(words) <= DIRECT_RATIO * sum(len(w) for w in words):
        held = [(k, v) for k, v in enumerate(values) if v]
        text = "\x00".join(v for _, v in held)
        direct: dict[str, np.ndarray] = {}
        for w in words:
            if w and w in text:  # in the joined text: in one value, or across two
                rows = [k for k, v in held if w in v]
                if rows:
                    direct[w] = np.array(rows, np.int64)
        return direct
    automaton = ahocorasick.Automaton()
    for w in words:
        automaton.add_word(w, w)
    automaton.make_automaton()
    # Values are visited in order, so a word's positions come sorted, a repeat within a
    # value last: it is skipped here rather than sorted away after (``np.unique`` per
    # word took as long as the pass over the 10,935 words of the simulated 1 M case's
    # command lines).
    found: dict[str, list[int]] = {}
    for k, value in enumerate(values):
        if value:
            for _end, word in automaton.iter(value):
                got = found.get(word)
                if got is None:
                    found[word] = [k]
                elif got[-1] != k:
                    got.append(k)
    return {w: np.array(p, np.int64) for w, p in found.items()}


def pattern_hits(column: pa.Array, patterns: list[str]) -> dict[str, np.ndarray]:
    """For each of ``patterns`` (RE2) RE2 accepts, the positions of the values of
    ``column`` it matches somewhere in (pyarrow's ``match_substring_regex``, which is
    RE2's unanchored search too).

    One pass for all of them, by RE2's own prefilter (``FilteredRE2``): the literals
    each pattern needs (its *atoms*, as RE2 parses it) are found in a value at once,
    and only the patterns whose atoms are there are run on it; a pattern with none is
    run on every value. A kernel call per pattern scanned every value once per pattern:
    the 172 patterns of ``CommandLine`` over the 78,517 distinct command lines of the
    1 M-event simulated case cost 5.9 s of kernels that way, the most of any field."""
    found: dict[str, list[int]] = {}
    selector = re2.Filter()
    options = re2.Options()
    options.log_errors = False  # a pattern past RE2's memory is its business, not the terminal's
    added: list[str] = []
    for pattern in patterns:
        try:
            selector.Add(pattern, options)
        except re2.error:
            continue  # RE2 refuses it here: its kernel says what the engine does
        added.append(pattern)
    if not added:
        return {}
    selector.Compile()
    for k, value in enumerate(column.to_pylist()):
        if value is not None:
            for at in selector.Match(value) or ():
                found.setdefault(added[at], []).append(k)
    return {p: np.array(found.get(p, ()), np.int64) for p in added}


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
