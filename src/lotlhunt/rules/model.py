"""What loading rules gives: compiled rules and the account of every rule file.

A :class:`CompiledRule` is everything a hunt needs of a Sigma rule, without pySigma: its
SQL condition, the slices it runs on, its metadata, and the facts the compiler recorded
while it wrote the SQL (fields read and how, keywords, what a match implies of each
selection), so nothing downstream re-parses the SQL.
Compiled rules are cached per file (:mod:`.cache`), serialised by their annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InputIssue
from .compile.literals import Needs
from .compile.tree import Tree
from .deferred import Deferred, without_class_defaults
from .logsources import Variant
from .placeholders import Placeholders
from .tuning import RuleRef

if TYPE_CHECKING:
    from sigma.correlations import SigmaCorrelationRule

__all__ = ["DEFERRED_FIELDS", "CompiledRule", "RuleRef", "RuleSet"]

#: The bulk of a rule, read only for the rules a hunt's logs have slices for (the SQL,
#: its tree and literals) or that fired (the selections): a rule from the cache decodes
#: them on first use (:mod:`.deferred`).
DEFERRED_FIELDS = ("sql", "needs", "selections", "condition")


@dataclass(frozen=True)
class CompiledRule(Deferred):
    """A Sigma rule ready to run: its SQL condition, the slices it runs on, its metadata."""

    id: str
    title: str
    level: str
    status: str
    tags: tuple[str, ...]
    path: str
    logsource: tuple[str | None, str | None, str | None]  # product, category, service
    variants: tuple[Variant, ...]
    sql: str
    #: Every field the SQL reads (the facts below, united).
    fields: frozenset[str]
    #: Whether it searches the text of the whole event (keywords).
    keywords: bool = False
    #: Whether it compares addresses (CIDR).
    cidr: bool = False
    #: Fields read through their lower-cased twin (case-insensitive comparisons).
    lower_fields: frozenset[str] = frozenset()
    #: Fields read as they are (cased comparisons, regular expressions, NULL tests...).
    plain_fields: frozenset[str] = frozenset()
    #: Fields compared as addresses, through their address twin.
    ip_fields: frozenset[str] = frozenset()
    description: str = ""
    references: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    author: str = ""
    #: The rule's ``name`` (Sigma 2), by which correlation rules may refer to it.
    name: str | None = None
    #: Literals the rule cannot match without (see ``literals.required_literals``).
    needs: Needs = None
    #: Event ids it cannot match without (see ``literals.required_event_ids``): its
    #: slices hold only those events (:func:`~lotlhunt.logsources.narrowed`).
    event_ids: frozenset[int] | None = None
    #: (selection name, SQL) of each named detection, to explain which ones matched.
    selections: tuple[tuple[str, str], ...] = ()
    #: For each selection, what a match implies of it, as the compiler saw the
    #: condition's structure: True when all its conjuncts are conjuncts of the
    #: condition (it holds on every match), False when all its disjuncts are negated
    #: conjuncts of the condition (it holds on none), None when it must be evaluated.
    implied: tuple[bool | None, ...] = ()
    #: Analyst exclusions compiled into ``sql`` ("label: reason"), so a report can say
    #: the rule was tuned and why.
    exclusions: tuple[str, ...] = ()
    #: Sigma filter documents compiled into ``sql`` ("title (id)").
    filters: tuple[str, ...] = ()
    #: Placeholders whose values were substituted (see ``RuleSet.placeholders``).
    placeholders: tuple[str, ...] = ()
    #: What makes the rule suspect, though it loaded (see :mod:`lotlhunt.rules.compat`).
    warnings: tuple[str, ...] = ()
    #: Cosmetic repairs made so that it loads (a string where a list belongs...).
    tolerated: tuple[str, ...] = ()
    #: Its events are chosen by its own ``Channel``/``EventID`` conditions, not by its
    #: logsource (Hayabusa's rules; logsources with no mapping here).
    by_channel: bool = False
    #: Set when a level override file re-graded it ("file: high -> low").
    level_override: str = ""
    #: ``sql`` as a tree over single-field units (:mod:`.compile.tree`), by which an
    #: engine evaluates many rules' tests of one field together; None: run ``sql``.
    condition: Tree | None = None


without_class_defaults(CompiledRule, DEFERRED_FIELDS)


@dataclass
class RuleSet:
    """The outcome of loading: rules that run, and every rule that does not, with why."""

    rules: list[CompiledRule] = field(default_factory=list)
    failed: list[InputIssue] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)  # (rule, reason)
    #: Correlation rules with the file they came from; evaluated over detections.
    correlations: list[tuple[SigmaCorrelationRule, str]] = field(default_factory=list)
    files: int = 0
    #: Rule files whose outcome came from the compile cache / was compiled in this load.
    cache_hits: int = 0
    compiled: int = 0
    #: Placeholder name -> rules that did not compile for lack of its values (each of
    #: those rules is also in ``failed`` with the reason and how to provide them).
    unresolved_placeholders: dict[str, list[str]] = field(default_factory=dict)
    #: Problems with tuning, not with rules: a Sigma filter or an exclusion naming a rule
    #: that is not loaded, an exclusion entry that is invalid (and so not applied).
    tuning_issues: list[InputIssue] = field(default_factory=list)
    #: The placeholder values in effect (defaults overlaid by the user's file).
    placeholders: Placeholders | None = None
    #: Sigma filter documents loaded from the rule paths.
    filters: int = 0
    #: Identity of every rule seen (compiled or not): what references are checked on.
    known: list[RuleRef] = field(default_factory=list)
    #: Rules loaded but not run, by why (a profile, the noisy list): how many.
    left_out: dict[str, int] = field(default_factory=dict)

    def extend(self, other: RuleSet) -> None:
        self.rules.extend(other.rules)
        self.failed.extend(other.failed)
        self.not_applicable.extend(other.not_applicable)
        self.correlations.extend(other.correlations)
        self.files += other.files
        self.cache_hits += other.cache_hits
        self.compiled += other.compiled
        for name, labels in other.unresolved_placeholders.items():
            self.unresolved_placeholders.setdefault(name, []).extend(labels)
        self.tuning_issues.extend(other.tuning_issues)
        self.filters += other.filters
        self.known.extend(other.known)
