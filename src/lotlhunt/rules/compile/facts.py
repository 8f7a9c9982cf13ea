"""What compiling a condition learns besides its SQL: fields read, keyword use, structure.

The facts decide which columns an engine prepares for a rule (plain, lower-cased and
address twins) and, from the boolean structure, which selections a match implies, so
``--explain`` can say what matched without evaluating every selection again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .literals import (
    EventIds,
    Needs,
)
from .tree import Tree

#: How a boolean node of compiled SQL combines its operands.
AND, OR, NOT = "and", "or", "not"


@dataclass
class ConversionFacts:
    """What the compiler learns about a condition while it writes its SQL: the state
    pySigma's ``ConversionState`` is meant to carry to later phases, typed.

    Kept beside pySigma's state (:meth:`SqlBackend.facts`), not in its
    ``processing_state`` mapping, which is pySigma's and read-only to backends.
    """

    #: Fields read as they are (case-sensitive comparisons, regular expressions, NULL
    #: and existence tests, numeric comparisons).
    plain_fields: set[str] = field(default_factory=set)
    #: Fields read through their lower-cased twin (case-insensitive comparisons).
    lower_fields: set[str] = field(default_factory=set)
    #: Fields compared as addresses (CIDR), through their address twin.
    ip_fields: set[str] = field(default_factory=set)
    #: Whether the condition searches the text of the whole event.
    keywords: bool = False
    #: The operands of every boolean node written, by the node's SQL: (AND/OR/NOT, parts).
    operands: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def fields(self) -> set[str]:
        return self.plain_fields | self.lower_fields | self.ip_fields

    def merge(self, other: ConversionFacts) -> None:
        self.plain_fields |= other.plain_fields
        self.lower_fields |= other.lower_fields
        self.ip_fields |= other.ip_fields
        self.keywords = self.keywords or other.keywords
        self.operands.update(other.operands)

    def flat(self, sql: str, kind: str) -> set[str]:
        """The operands of ``sql`` under nested nodes of ``kind`` at its top
        (``(a AND b) AND c`` gives a, b and c for AND); ``{sql}`` for anything else."""
        node = self.operands.get(sql)
        if node is None or node[0] != kind:
            return {sql}
        out: set[str] = set()
        for part in node[1]:
            out |= self.flat(part, kind)
        return out


@dataclass
class CompiledCondition:
    """What converting one condition produced: SQL text plus the facts behind it."""

    sql: str
    facts: ConversionFacts = field(default_factory=ConversionFacts)
    #: Required literals (see :func:`required_literals`); None when none are known.
    needs: Needs = None
    #: Event ids it cannot match without (see :func:`required_event_ids`).
    event_ids: EventIds = None
    #: The condition as a tree over single-field units (:mod:`.tree`).
    tree: Tree = ()

    @property
    def fields(self) -> set[str]:
        return self.facts.fields

    @property
    def keywords(self) -> bool:
        return self.facts.keywords

    @property
    def cidr(self) -> bool:
        return bool(self.facts.ip_fields)

    def implied(self, selections: Sequence[tuple[str, ConversionFacts]]) -> tuple[bool | None, ...]:
        """For each selection (its SQL and facts, compiled alone), whether it holds on
        every event this condition matches (True), on none (False), or either (None).

        The condition is read as a conjunction of terms. On a match every term is true:
        a selection all of whose own conjuncts are among them holds; a term that is a
        negation means no disjunct of its operand is true, so a selection all of whose
        own disjuncts are among those does not hold. Anything else (a selection under an
        ``or``, one the condition does not use) is left to evaluation.
        """
        holding: set[str] = set()
        failing: set[str] = set()
        for term in self.facts.flat(self.sql, AND):
            node = self.facts.operands.get(term)
            if node is not None and node[0] == NOT:
                failing |= self.facts.flat(node[1][0], OR)
            else:
                holding.add(term)
        out: list[bool | None] = []
        for sql, facts in selections:
            if facts.flat(sql, AND) <= holding:
                out.append(True)
            elif facts.flat(sql, OR) <= failing:
                out.append(False)
            else:
                out.append(None)
        return tuple(out)
