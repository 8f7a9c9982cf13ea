"""Load Sigma rules from files and folders, compile each one, account for every rule.

Every rule file either yields compiled rules or is listed with the reason it could not
(YAML error, invalid Sigma, unsupported feature, unmapped logsource). Rules for other
platforms are listed as not applicable rather than failed. Nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from .errors import InputIssue
from .logsources import Variant, resolve
from .sigma_sql import DUCKDB, Dialect, SqlBackend

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class CompiledRule:
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
    fields: frozenset[str]
    keywords: bool = False
    cidr: bool = False
    description: str = ""
    references: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    author: str = ""
    #: The rule's ``name`` (Sigma 2), by which correlation rules may refer to it.
    name: str | None = None
    #: Literals the rule cannot match without (see ``sigma_sql.required_literals``).
    needs: tuple[frozenset[tuple[str, str]], ...] | None = None


@dataclass
class RuleSet:
    """The outcome of loading: rules that run, and every rule that does not, with why."""

    rules: list[CompiledRule] = field(default_factory=list)
    failed: list[InputIssue] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)  # (rule, reason)
    #: Correlation rules with the file they came from; evaluated over detections.
    correlations: list[tuple[SigmaCorrelationRule, str]] = field(default_factory=list)
    files: int = 0

    def extend(self, other: RuleSet) -> None:
        self.rules.extend(other.rules)
        self.failed.extend(other.failed)
        self.not_applicable.extend(other.not_applicable)
        self.correlations.extend(other.correlations)
        self.files += other.files


def bundled_rules_dir() -> Path:
    """Folder of the rule pack that ships with lotlhunt."""
    return Path(str(resources.files("lotlhunt").joinpath("data/rules")))


def iter_rule_files(paths: Iterable[str | Path]) -> Iterable[Path]:
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(
                f for f in path.rglob("*") if f.suffix.lower() in RULE_SUFFIXES and f.is_file()
            )
        else:
            yield path


def _label(rule: SigmaRule | SigmaCorrelationRule, path: Path) -> str:
    return f"{rule.title or '?'} ({rule.id or 'no id'})"


def compile_rule(rule: SigmaRule, path: Path, backend: SqlBackend) -> CompiledRule | str:
    """Compile one parsed rule; a string result is the reason it cannot run."""
    resolution = resolve(rule.logsource)
    if resolution.unsupported:
        return resolution.unsupported
    try:
        compiled = backend.compile_rule(rule)
    except (SigmaError, NotImplementedError) as exc:
        return f"{type(exc).__name__}: {exc}"
    ls = rule.logsource
    return CompiledRule(
        id=str(rule.id) if rule.id else f"{path}:{rule.title}",
        title=rule.title or path.stem,
        level=(rule.level.name.lower() if rule.level else "informational"),
        status=(rule.status.name.lower() if rule.status else ""),
        tags=tuple(f"{t.namespace}.{t.name}" for t in rule.tags),
        path=str(path),
        logsource=(ls.product, ls.category, ls.service),
        variants=resolution.variants,
        sql=compiled.sql,
        fields=frozenset(compiled.fields),
        keywords=compiled.keywords,
        cidr=compiled.cidr,
        description=rule.description or "",
        references=tuple(rule.references or ()),
        falsepositives=tuple(rule.falsepositives or ()),
        author=rule.author or "",
        name=getattr(rule, "name", None),
        needs=compiled.needs,
    )


def load_collection(collection: SigmaCollection, path: Path, backend: SqlBackend) -> RuleSet:
    out = RuleSet()
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            out.correlations.append((rule, str(path)))
            continue
        if rule.errors:
            reason = "; ".join(str(e) for e in rule.errors)
            out.failed.append(
                InputIssue(str(path), None, f"{_label(rule, path)}: {reason}", "rule")
            )
            continue
        resolution = resolve(rule.logsource)
        if resolution.not_applicable:
            out.not_applicable.append((_label(rule, path), resolution.not_applicable))
            continue
        result = compile_rule(rule, path, backend)
        if isinstance(result, str):
            out.failed.append(
                InputIssue(str(path), None, f"{_label(rule, path)}: {result}", "rule")
            )
        else:
            out.rules.append(result)
    return out


def load_rules(
    paths: Sequence[str | Path],
    dialect: Dialect = DUCKDB,
    extra_dicts: Sequence[dict[str, Any]] = (),
) -> RuleSet:
    """Load and compile every rule under ``paths`` (files or folders, recursively)."""
    backend = SqlBackend(dialect)
    out = RuleSet()
    for path in iter_rule_files(paths):
        out.files += 1
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out.failed.append(InputIssue(str(path), None, f"cannot read rule file: {exc}", "rule"))
            continue
        try:
            collection = SigmaCollection.from_yaml(text, collect_errors=True)
        except (SigmaError, ValueError, TypeError, AttributeError) as exc:
            out.failed.append(InputIssue(str(path), None, f"invalid rule file: {exc}", "rule"))
            continue
        if collection.errors and not collection.rules:
            reason = "; ".join(str(e) for e in collection.errors)
            out.failed.append(InputIssue(str(path), None, f"invalid rule file: {reason}", "rule"))
            continue
        for err in collection.errors:
            out.failed.append(InputIssue(str(path), None, f"invalid rule: {err}", "rule"))
        out.extend(load_collection(collection, path, backend))
        out.files -= 0
    if extra_dicts:
        collection = SigmaCollection.from_dicts(list(extra_dicts), collect_errors=True)
        out.extend(load_collection(collection, Path("<generated>"), backend))
    return out
