"""A compiled condition as a boolean tree over units that each read one field.

The SQL of a rule is one expression; evaluating it rule by rule costs a query per rule.
The tree lets an engine share the work between rules instead: every maximal part of a
condition that reads a single field (``Image`` through any of its twins: as it is,
lower-cased, as an address) is a *field unit*, which the engine evaluates once over the
distinct values of that field for all rules of a slice; what reads several fields or the
whole event's text is a *row unit*, evaluated on the rows. Above the units, AND, OR and
the two ways the compiler wraps a condition in ``coalesce`` are combined as bitmaps.

Each unit keeps its SQL exactly as the rule's SQL holds it, so evaluating a unit over a
field's values gives what the rule's SQL gives on every row holding those values: the
tree changes where SQL runs, never what it says.

The tree is a tuple of :class:`Node` in post-order (children before parents, the root
last), children referred to by index: flat, so the rule cache stores it as plain JSON.
No pySigma here: a hunt whose rules come from the cache reads trees without it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .dialect import ALL_TEXT_FIELD, IP_SUFFIX, LOWER_SUFFIX, re2_escape


class Kind(StrEnum):
    """What a node of a condition tree is."""

    #: An atomic test of one field (any of its twins): evaluated over its distinct values.
    FIELD = "field"
    #: An atomic test reading several fields or the whole event's text: on the rows.
    ROW = "row"
    AND = "and"
    OR = "or"
    #: ``NOT coalesce(x, false)``: true wherever ``x`` is not true (a missing field
    #: makes a negated selection true, see :data:`~.dialect.NEGATION`).
    NOT = "not"
    #: ``coalesce(x, false)``: true where ``x`` is, false elsewhere.
    TRUE = "true"


class Op(StrEnum):
    """What a field test does, when it is one a vectorised string kernel does exactly
    as the SQL does (the engine then needs no query for it)."""

    EQUALS = "eq"
    CONTAINS = "contains"
    STARTS = "starts"
    ENDS = "ends"
    IN = "in"
    IS_NULL = "null"
    NOT_NULL = "notnull"
    #: ``regexp_matches`` of an alternation of escaped literals (a long OR of contains).
    SEARCH = "search"
    #: ``BETWEEN`` two literals (an address twin in a network's range).
    BETWEEN = "between"
    #: ``try_cast(column AS DOUBLE)`` compared with a number (``values``: operator,
    #: number), or, for ``=``, also the column equal to the number's text (``values``:
    #: "=", number, text): the engine computes the cast, a kernel compares.
    NUMBER = "number"
    #: ``regexp_matches`` of any pattern (RE2 in the engine and in the kernel alike;
    #: a pattern the kernel refuses is left to the engine).
    REGEX = "regex"
    #: ``LIKE`` with ``%`` wildcards and escaped literals only (``values``: an RE2
    #: pattern matching exactly what the ``LIKE`` does).
    LIKE = "like"


@dataclass(frozen=True)
class Node:
    """One node of a condition tree: a test (its SQL; for a field test, the field's
    lower-cased name, and what it does where a kernel can do it: ``op`` on ``column``
    with ``values``) or a boolean operator over earlier nodes (``args``)."""

    kind: Kind
    sql: str = ""
    field: str = ""
    args: tuple[int, ...] = ()
    op: Op | None = None
    column: str = ""
    values: tuple[str, ...] = ()


#: A condition tree: nodes in post-order, the root last.
Tree = tuple[Node, ...]
#: How the compiler records boolean nodes: SQL of the node -> (and/or/not, operand SQL).
Operands = Mapping[str, tuple[str, tuple[str, ...]]]


#: A quoted identifier or a string literal (either quote doubled inside).
_QUOTED = re.compile(r"\"((?:[^\"]|\"\")*)\"|'(?:[^']|'')*'")


def identifiers(sql: str) -> list[str]:
    """The quoted identifiers of ``sql`` (column names), string literals skipped.

    Compiled SQL quotes every column (``"Image__lc"``) and writes every value as a
    single-quoted literal whose quotes are doubled, so this reads the columns exactly.
    """
    return [m.group(1).replace('""', '"') for m in _QUOTED.finditer(sql) if m.group(1) is not None]


def column_field(column: str) -> str:
    """The lower-cased field a slice column holds (a twin's suffix removed). Field names
    never contain the engine's ``__`` (:func:`~lotlhunt.events.schema.bad_field_name`)."""
    for suffix in (LOWER_SUFFIX, IP_SUFFIX):
        if column.endswith(suffix) and column != suffix:
            return column[: -len(suffix)].lower()
    return column.lower()


def fields_of(sql: str) -> set[str]:
    """The lower-cased fields ``sql`` reads."""
    return {column_field(c) for c in identifiers(sql)}


_BOOLEAN = {"and": Kind.AND, "or": Kind.OR, "not": Kind.NOT}


class _Builder:
    """Appends nodes in post-order, one node per distinct (kind, SQL, operands)."""

    def __init__(self, operands: Operands) -> None:
        self.operands = operands
        self.nodes: list[Node] = []
        self.index: dict[Node, int] = {}

    def add(self, node: Node) -> int:
        found = self.index.get(node)
        if found is None:
            found = self.index[node] = len(self.nodes)
            self.nodes.append(node)
        return found

    def build(self, sql: str) -> int:
        found = self.operands.get(sql)
        if found is not None and found[0] in _BOOLEAN:
            kind, parts = found
            args = tuple(self.build(p) for p in parts)
            return self.add(Node(_BOOLEAN[kind], args=args))
        fields = fields_of(sql)
        if len(fields) == 1 and ALL_TEXT_FIELD not in fields:
            op, column, values = kernel_test(sql)
            return self.add(
                Node(
                    Kind.FIELD,
                    sql=sql,
                    field=next(iter(fields)),
                    op=op,
                    column=column,
                    values=values,
                )
            )
        return self.add(Node(Kind.ROW, sql=sql))


_IDENT = r'"((?:[^"]|"")*)"'
_LIT = r"'((?:[^']|'')*)'"
_LIT_ANY = r"'(?:[^']|'')*'"
_CALLS = {"contains": Op.CONTAINS, "starts_with": Op.STARTS, "ends_with": Op.ENDS}
_CALL = re.compile(r"(contains|starts_with|ends_with)\(" + _IDENT + ", " + _LIT + r"\)")
_EQUALS = re.compile(_IDENT + " = " + _LIT)
_IN = re.compile(_IDENT + r" IN \((" + _LIT_ANY + "(?:, " + _LIT_ANY + r")*)\)")
_IN_ITEM = re.compile(_LIT)
_NULL = re.compile(_IDENT + " IS (NOT )?NULL")
_REGEX = re.compile(r"regexp_matches\(" + _IDENT + ", " + _LIT + r"\)")
_LIKE = re.compile(_IDENT + " LIKE " + _LIT + r" ESCAPE '\\'")
#: A ``LIKE`` pattern of escaped literals and ``%`` (``_`` unescaped is not read).
_LIKE_PART = re.compile(r"\\[\\%_]|%|[^\\%_]")
_BETWEEN = re.compile(r"\(" + _IDENT + " BETWEEN " + _LIT + " AND " + _LIT + r"\)")
_FLOAT = r"(-?(?:\d+\.\d+(?:e[+-]\d+)?|\d+e[+-]\d+|inf))"
_CAST = r"try_cast\(" + _IDENT + r" AS DOUBLE\)"
_COMPARE = re.compile(_CAST + r" (<|<=|>|>=|<>) " + _FLOAT)
_NUMBER_EQ = re.compile(r"\(" + _IDENT + " = " + _LIT + " OR " + _CAST + " = " + _FLOAT + r"\)")
#: One alternative of an alternation of escaped literals (:func:`~.dialect.re2_escape`).
_ESCAPED = r"(?:[^'\\.+*?()|\[\]{}^$]|''|\\[\\.+*?()|\[\]{}^$])+"
_SEARCH = re.compile(
    r"regexp_matches\(" + _IDENT + r", '\(\?s\)(" + _ESCAPED + r"(?:\|" + _ESCAPED + r")*)'\)"
)


def _text(literal: str) -> str:
    return literal.replace("''", "'")


def kernel_test(sql: str) -> tuple[Op | None, str, tuple[str, ...]]:
    """What ``sql`` does if it is one of the tests the compiler writes that a string
    kernel does exactly (its whole text matched, so nothing else is in it): the
    operation, its column and its literal values; else (None, "", ())."""
    m = _CALL.fullmatch(sql)
    if m:
        return _CALLS[m.group(1)], _text(m.group(2)).replace('""', '"'), (_text(m.group(3)),)
    m = _EQUALS.fullmatch(sql)
    if m:
        return Op.EQUALS, m.group(1).replace('""', '"'), (_text(m.group(2)),)
    m = _IN.fullmatch(sql)
    if m:
        items = tuple(_text(x.group(1)) for x in _IN_ITEM.finditer(m.group(2)))
        return Op.IN, m.group(1).replace('""', '"'), items
    m = _NULL.fullmatch(sql)
    if m:
        return (Op.NOT_NULL if m.group(2) else Op.IS_NULL), m.group(1).replace('""', '"'), ()
    m = _BETWEEN.fullmatch(sql)
    if m:
        return Op.BETWEEN, m.group(1).replace('""', '"'), (_text(m.group(2)), _text(m.group(3)))
    m = _COMPARE.fullmatch(sql)
    if m:
        return Op.NUMBER, m.group(1).replace('""', '"'), (m.group(2), m.group(3))
    m = _NUMBER_EQ.fullmatch(sql)
    if m and m.group(1) == m.group(3):
        column = m.group(1).replace('""', '"')
        return Op.NUMBER, column, ("=", m.group(4), _text(m.group(2)))
    m = _SEARCH.fullmatch(sql)
    if m:
        return Op.SEARCH, m.group(1).replace('""', '"'), ("(?s)" + _text(m.group(2)),)
    m = _REGEX.fullmatch(sql)
    if m:
        return Op.REGEX, m.group(1).replace('""', '"'), (_text(m.group(2)),)
    m = _LIKE.fullmatch(sql)
    if m:
        pattern = like_regex(_text(m.group(2)))
        if pattern is not None:
            return Op.LIKE, m.group(1).replace('""', '"'), (pattern,)
    return None, "", ()


def like_regex(like: str) -> str | None:
    """An RE2 pattern matching what ``LIKE like ESCAPE '\\'`` does, for patterns of
    literals and ``%`` only (None for anything else: ``_``, a dangling escape)."""
    parts = _LIKE_PART.findall(like)
    if "".join(parts) != like:
        return None
    out = ["(?s)\\A"]
    for part in parts:
        if part == "%":
            out.append(".*")
        elif part.startswith("\\"):
            out.append(re2_escape(part[1]))
        else:
            out.append(re2_escape(part))
    return "".join(out) + "\\z"


def condition_tree(sql: str, operands: Operands) -> Tree:
    """The tree of a condition compiled to ``sql``, from the boolean nodes the compiler
    recorded while writing it (``operands``)."""
    builder = _Builder(operands)
    builder.build(sql)
    return tuple(builder.nodes)


def any_of_true(trees: Sequence[Tree]) -> Tree:
    """``coalesce(t1, false) OR coalesce(t2, false) ...``: a rule of several conditions."""
    return combine(Kind.OR, [(Kind.TRUE, t) for t in trees])


def and_not(tree: Tree, excluded: Sequence[Tree]) -> Tree:
    """``tree AND NOT coalesce(e1, false) AND ...``: a rule with exclusions applied."""
    return combine(Kind.AND, [(None, tree), *((Kind.NOT, e) for e in excluded)])


def combine(kind: Kind, parts: Sequence[tuple[Kind | None, Tree]]) -> Tree:
    """A node of ``kind`` over trees, each optionally wrapped in a one-operand node."""
    builder = _Builder({})
    roots: list[int] = []
    for wrap, tree in parts:
        remap: list[int] = []
        for node in tree:
            args = tuple(remap[a] for a in node.args)
            remap.append(builder.add(dataclasses.replace(node, args=args)))
        root = remap[-1]
        roots.append(builder.add(Node(wrap, args=(root,))) if wrap is not None else root)
    builder.add(Node(kind, args=tuple(roots)))
    return tuple(builder.nodes)
