"""Tuning without editing rules: Sigma filters and analyst exclusions.

Two ways to silence known-benign activity, both exact (compiled into the rule's SQL, no
filtering of results in Python) and both recorded on the rule they change:

- **Sigma filters** (Sigma 2 meta-filter documents, ``filter:`` with ``rules:`` and
  ``logsource:``) found among the rule files. pySigma applies them: the filter's
  detections are added to the rule and its condition AND-ed to the rule's, for every rule
  the filter names (by id or name, or ``any``) whose logsource the filter's covers.
- **Analyst exclusions**: a YAML file (see ``docs/tuning.md``) listing, per rule id or
  name (or ``*``), a Sigma detection that must *not* match. It is compiled with the same
  backend and combined as ``(rule) AND NOT coalesce((exclusion), false)``, so an event
  lacking the exclusion's fields is never excluded by accident.

A filter or exclusion that names a rule which is not loaded is reported: a typo in an id
would otherwise leave a noisy rule untuned without anyone noticing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._support.yaml_files import read_yaml_file
from ..errors import InputIssue, UsageError
from .compile.tree import Tree, and_not

if TYPE_CHECKING:
    from sigma.filters import SigmaFilter

    from .compile.backend import SqlBackend
    from .model import CompiledRule

#: Cheap test whether a rule file may hold a filter document (a top-level ``filter:``).
FILTER_DOC = re.compile(rb"^filter\s*:", re.MULTILINE)

ALL_RULES = "*"
EXCLUSION_KEYS = frozenset({"rule", "rules", "reason", "match", "logsource", "id"})


def _norm_id(value: str) -> str:
    """Rule ids compare as UUIDs (case and braces do not matter), anything else as text."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


@dataclass(frozen=True)
class RuleRef:
    """What identifies a rule to filters and exclusions; kept in the compile cache."""

    id: str | None
    name: str | None
    #: (product, category, service) as the rule states them.
    logsource: tuple[str | None, str | None, str | None]

    def refers(self, reference: str) -> bool:
        """Whether ``reference`` names this rule the way pySigma resolves references:
        a UUID matches the id only, anything else the name."""
        try:
            wanted = uuid.UUID(reference)
        except ValueError:
            return self.name is not None and self.name == reference
        return self.id is not None and _norm_id(self.id) == str(wanted)


def _logsource_covers(
    outer: tuple[str | None, ...], inner: tuple[str | None, ...], exact: bool = False
) -> bool:
    """Sigma's logsource containment: every attribute ``outer`` sets, ``inner`` has.

    ``exact`` compares as pySigma does for filters (case-sensitive), so our decision on
    cached metadata is the one pySigma takes when it applies the filter.
    """
    if exact:
        return all(o is None or o == i for o, i in zip(outer, inner, strict=True))
    return all(
        o is None or (i is not None and o.lower() == i.lower())
        for o, i in zip(outer, inner, strict=True)
    )


# -- Sigma filters ----------------------------------------------------------------------


@dataclass
class LoadedFilter:
    """A Sigma filter document from a rule file, and how many rules it changed."""

    filter: SigmaFilter
    path: str
    #: Identity of the document's content (cache key of the rules it applies to).
    digest: str
    applied: int = 0

    @property
    def label(self) -> str:
        f = self.filter
        return f"{f.title or '?'} ({f.id or f.name or 'no id'})"

    @property
    def references(self) -> list[str] | None:
        """The rule ids/names the filter names; None for ``rules: any``."""
        rules = self.filter.filter.rules
        if isinstance(rules, str):
            return None
        return [r.reference for r in rules]

    def applies_to(self, ref: RuleRef) -> bool:
        """Same decision as ``SigmaFilter._should_apply_on_rule``, on cached metadata."""
        ls = self.filter.logsource
        if not _logsource_covers((ls.product, ls.category, ls.service), ref.logsource, exact=True):
            return False
        refs = self.references
        return refs is None or any(ref.refers(r) for r in refs)


def filter_digest(filters: Iterable[LoadedFilter]) -> str:
    """Identity of a set of filters (order-free), to key cached rules on what changed them."""
    digests = sorted(f.digest for f in filters)
    if not digests:
        return ""
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:32]


def unknown_filter_references(
    filters: Sequence[LoadedFilter], known: Sequence[RuleRef]
) -> list[InputIssue]:
    """Filters naming rules that are not loaded, or that never applied to the rule named."""
    issues: list[InputIssue] = []
    for f in filters:
        refs = f.references
        if refs is None:
            if f.applied == 0:
                issues.append(
                    InputIssue(
                        f.path,
                        None,
                        f"filter {f.label}: applies to any rule of its logsource, "
                        "but no loaded rule has that logsource",
                        "filter",
                    )
                )
            continue
        for r in refs:
            named = [k for k in known if k.refers(r)]
            if not named:
                issues.append(
                    InputIssue(
                        f.path, None, f"filter {f.label}: refers to unknown rule {r!r}", "filter"
                    )
                )
            elif not any(f.applies_to(k) for k in named):
                issues.append(
                    InputIssue(
                        f.path,
                        None,
                        f"filter {f.label}: rule {r!r} is loaded but its logsource is not "
                        "covered by the filter's, so the filter does not apply to it",
                        "filter",
                    )
                )
    return issues


# -- analyst exclusions -----------------------------------------------------------------


@dataclass(frozen=True)
class Exclusion:
    """One entry of an exclusions file: events a rule must not fire on, and why."""

    label: str
    rules: tuple[str, ...]  # rule ids or names, or ("*",)
    reason: str
    match: Any  # a Sigma detection: mapping (AND of fields) or list of them (OR)
    path: str
    index: int
    logsource: tuple[str | None, str | None, str | None] | None = None
    #: Filled in by :func:`compile_exclusions`.
    sql: str = ""
    fields: frozenset[str] = frozenset()
    keywords: bool = False
    cidr: bool = False
    lower_fields: frozenset[str] = frozenset()
    plain_fields: frozenset[str] = frozenset()
    ip_fields: frozenset[str] = frozenset()
    condition: Tree = ()

    @property
    def description(self) -> str:
        """What a rule records about this exclusion."""
        return f"{self.label}: {self.reason}"

    def applies_to(self, rule: CompiledRule) -> bool:
        if self.logsource is not None and not _logsource_covers(self.logsource, rule.logsource):
            return False
        if ALL_RULES in self.rules:
            return True
        rid = _norm_id(rule.id)
        return any(
            _norm_id(r) == rid or (rule.name is not None and r == rule.name) for r in self.rules
        )


@dataclass
class Exclusions:
    """A parsed exclusions file: valid entries, and entries refused with why."""

    entries: list[Exclusion] = field(default_factory=list)
    issues: list[InputIssue] = field(default_factory=list)
    digest: str = ""


def _entry(raw: Any, path: Path, index: int) -> Exclusion | str:
    if not isinstance(raw, dict):
        return "an exclusion is a mapping with rule, reason and match"
    unknown = set(raw) - EXCLUSION_KEYS
    if unknown:
        return f"unknown keys {sorted(unknown)} (allowed: {sorted(EXCLUSION_KEYS)})"
    rules_raw = raw.get("rule", raw.get("rules"))
    if "rule" in raw and "rules" in raw:
        return "give either rule or rules, not both"
    rules = rules_raw if isinstance(rules_raw, list) else [rules_raw]
    if not rules or not all(isinstance(r, str) and r for r in rules):
        return "rule must be a rule id, a rule name, '*' or a list of them"
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return "reason is required: say why these events are benign"
    match = raw.get("match")
    if not isinstance(match, dict | list) or not match:
        return "match must be a Sigma detection (field|modifier: value, ...)"
    logsource = raw.get("logsource")
    ls: tuple[str | None, str | None, str | None] | None = None
    if logsource is not None:
        if not isinstance(logsource, dict) or set(logsource) - {"product", "category", "service"}:
            return "logsource must be a mapping of product, category and service"
        ls = (logsource.get("product"), logsource.get("category"), logsource.get("service"))
    label = raw.get("id")
    if label is not None and not isinstance(label, str | int):
        return "id must be a string"
    return Exclusion(
        label=str(label) if label is not None else f"{path.name}#{index}",
        rules=tuple(str(r) for r in rules),
        reason=reason.strip(),
        match=match,
        path=str(path),
        index=index,
        logsource=ls,
    )


def load_exclusions(path: str | Path) -> Exclusions:
    """Read an exclusions file. A file that is not one is a usage error; a bad entry is
    reported and skipped, so the rule it meant to tune keeps firing (never the reverse)."""
    path = Path(path)
    data, data_bytes = read_yaml_file(path, "exclusions file")
    if isinstance(data, dict) and set(data) == {"exclusions"}:
        data = data["exclusions"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise UsageError(f"{path}: an exclusions file is a list of exclusions (see docs/tuning.md)")
    out = Exclusions(digest=hashlib.sha256(data_bytes).hexdigest())
    for index, raw in enumerate(data, start=1):
        entry = _entry(raw, path, index)
        if isinstance(entry, str):
            out.issues.append(
                InputIssue(str(path), index, f"exclusion ignored: {entry}", "exclusion")
            )
        else:
            out.entries.append(entry)
    return out


def compile_exclusions(exclusions: Exclusions, backend: SqlBackend) -> None:
    """Compile each entry's ``match`` as a Sigma detection; refuse the ones that fail."""
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

    compiled: list[Exclusion] = []
    for ex in exclusions.entries:
        doc = {
            "title": f"exclusion {ex.label}",
            "logsource": {"product": "windows"},
            "detection": {"exclusion": ex.match, "condition": "exclusion"},
        }
        try:
            rule = SigmaRule.from_dict(doc, collect_errors=True)
            if rule.errors:
                raise rule.errors[0]
            result = backend.compile_rule(rule)
        except (SigmaError, NotImplementedError, ValueError, TypeError) as exc:
            exclusions.issues.append(
                InputIssue(ex.path, ex.index, f"exclusion {ex.label} ignored: {exc}", "exclusion")
            )
            continue
        compiled.append(
            dataclasses.replace(
                ex,
                sql=result.sql,
                fields=frozenset(result.fields),
                keywords=result.keywords,
                cidr=result.cidr,
                lower_fields=frozenset(result.facts.lower_fields),
                plain_fields=frozenset(result.facts.plain_fields),
                ip_fields=frozenset(result.facts.ip_fields),
                condition=result.tree,
            )
        )
    exclusions.entries = compiled


def apply_exclusions(rule: CompiledRule, exclusions: Sequence[Exclusion]) -> CompiledRule:
    """The rule AND NOT each exclusion that applies to it (exact: all in SQL)."""
    applicable = [e for e in exclusions if e.sql and e.applies_to(rule)]
    if not applicable:
        return rule
    sql = "(" + f"({rule.sql})"
    sql += "".join(f" AND NOT coalesce(({e.sql}), false)" for e in applicable) + ")"
    return dataclasses.replace(
        rule,
        sql=sql,
        fields=rule.fields.union(*(e.fields for e in applicable)),
        keywords=rule.keywords or any(e.keywords for e in applicable),
        cidr=rule.cidr or any(e.cidr for e in applicable),
        lower_fields=rule.lower_fields.union(*(e.lower_fields for e in applicable)),
        plain_fields=rule.plain_fields.union(*(e.plain_fields for e in applicable)),
        ip_fields=rule.ip_fields.union(*(e.ip_fields for e in applicable)),
        exclusions=rule.exclusions + tuple(e.description for e in applicable),
        condition=(
            and_not(rule.condition, [e.condition for e in applicable])
            if rule.condition and all(e.condition for e in applicable)
            else None
        ),
    )


def unknown_exclusion_references(
    exclusions: Exclusions, known: Sequence[RuleRef], compiled: Sequence[CompiledRule]
) -> list[InputIssue]:
    """Exclusions naming rules that are not loaded (compiled, failed or not applicable)."""
    ids = {_norm_id(k.id) for k in known if k.id} | {_norm_id(r.id) for r in compiled}
    names = {k.name for k in known if k.name} | {r.name for r in compiled if r.name}
    issues: list[InputIssue] = []
    for ex in exclusions.entries:
        for r in ex.rules:
            if r == ALL_RULES or _norm_id(r) in ids or r in names:
                continue
            issues.append(
                InputIssue(
                    ex.path,
                    ex.index,
                    f"exclusion {ex.label} refers to unknown rule {r!r}",
                    "exclusion",
                )
            )
    return issues
