"""Compile parsed Sigma rules into :class:`CompiledRule` objects: one rule, one collection.

A rule is compiled to SQL only after everything that decides whether it can run at all
(its errors, its logsource, the filters that apply to it, the placeholder values it needs)
was checked, so each rule that does not compile is listed with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputIssue
from ..events.schema import bad_field_name
from .compat import COMPAT_KEY
from .compile.dialect import ALL_TEXT_FIELD, Dialect
from .logsources import SYSTEM_RENAMES, Resolution, Variant, resolve
from .model import CompiledRule, RuleSet
from .placeholders import Placeholders, load_placeholders, placeholder_pipeline, rule_placeholders
from .tuning import (
    LoadedFilter,
    RuleRef,
)

if TYPE_CHECKING:
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    from .compile.backend import SqlBackend

#: How pySigma renames the detections a Sigma filter adds to a rule.
FILTER_PREFIX = "_filt_"


def _label(rule: SigmaRule | SigmaCorrelationRule, path: Path) -> str:
    return f"{rule.title or '?'} ({rule.id or 'no id'})"


def _ref(rule: SigmaRule) -> RuleRef:
    ls = rule.logsource
    return RuleRef(
        id=str(rule.id) if rule.id else None,
        name=getattr(rule, "name", None),
        logsource=(ls.product, ls.category, ls.service),
    )


@dataclass
class CompileContext:
    """What compiling needs, built once per load: backends (a pipeline is not free to
    initialise), the placeholder values, and the Sigma filters to apply."""

    backend: SqlBackend
    placeholders: Placeholders = field(default_factory=load_placeholders)
    filters: Sequence[LoadedFilter] = ()
    _placeholder_backend: SqlBackend | None = None

    def backend_for(self, placeholders_used: bool) -> SqlBackend:
        """Rules without placeholders skip the pipeline entirely."""
        if not placeholders_used:
            return self.backend
        if self._placeholder_backend is None:
            backend = _new_backend(self.backend.dialect)
            backend.processing_pipeline = placeholder_pipeline(self.placeholders)
            self._placeholder_backend = backend
        return self._placeholder_backend


def _new_backend(dialect: Dialect) -> SqlBackend:
    """A compiler for ``dialect``. pySigma is imported here, when a rule must be compiled:
    a hunt whose rules all come from the cache never needs it."""
    from .compile.backend import SqlBackend

    return SqlBackend(dialect)


#: The slice of a rule that selects its events by its own ``Channel`` condition: every
#: event, ``Channel`` and ``EventID`` read as the event's System values (as Hayabusa reads
#: them), never as a data item of that name some other event carries.
BY_CHANNEL = Variant(name="by-channel", channels=(), renames=SYSTEM_RENAMES)


def _compat(rule: SigmaRule | SigmaCorrelationRule) -> dict[str, Any]:
    """What :mod:`.compat` tolerated in ``rule`` (empty for a strict Sigma rule)."""
    record = getattr(rule, "custom_attributes", {}).get(COMPAT_KEY)
    return record if isinstance(record, dict) else {}


def rule_resolution(rule: SigmaRule) -> tuple[Resolution, bool]:
    """The slices ``rule`` runs on, and whether its own ``Channel`` condition chose them.

    A detection that names ``Channel`` selects its events itself when the rule comes
    from Hayabusa's repository (whose converted rules keep a Sysmon category for a
    Security event, and name vendor channels as products) or when its Windows logsource
    has no mapping here.
    """
    resolution = resolve(rule.logsource)
    compat = _compat(rule)
    if compat.get("names_channel") and (compat.get("hayabusa") or resolution.unsupported):
        return Resolution(variants=(BY_CHANNEL,)), True
    return resolution, False


def compile_rule(
    rule: SigmaRule, path: Path, backend: SqlBackend, resolution: Resolution | None = None
) -> CompiledRule | str:
    """Compile one parsed rule; a string result is the reason it cannot run."""
    from sigma.exceptions import SigmaError

    by_channel = False
    if resolution is None:
        resolution, by_channel = rule_resolution(rule)
    else:
        by_channel = resolution.variants == (BY_CHANNEL,)
    if resolution.unsupported:
        return resolution.unsupported
    try:
        compiled = backend.compile_rule(rule)
        selections = backend.compile_selections(rule)
    except (SigmaError, NotImplementedError) as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - pySigma's own bugs on odd rules: one rule fails
        return f"cannot compile: {type(exc).__name__}: {exc}"
    for name in sorted(compiled.fields):
        why = None if name == ALL_TEXT_FIELD else bad_field_name(name)
        if why:
            return why
    ls = rule.logsource
    compat = _compat(rule)
    warnings = list(compat.get("warnings", ()))
    if by_channel and not compat.get("hayabusa"):
        warnings.append(
            f"logsource {'/'.join(p for p in (ls.product, ls.category, ls.service) if p)!r} "
            "has no mapping: the rule's own Channel condition selects its events"
        )
    text_id = compat.get("text_id")
    return CompiledRule(
        id=str(rule.id) if rule.id else (str(text_id) if text_id else f"{path}:{rule.title}"),
        title=rule.title or path.stem,
        level=(rule.level.name.lower() if rule.level else "informational"),
        status=(rule.status.name.lower() if rule.status else ""),
        tags=tuple(f"{t.namespace}.{t.name}" for t in rule.tags)
        + tuple(str(t) for t in compat.get("bare_tags", ())),
        warnings=tuple(warnings),
        tolerated=tuple(compat.get("fixed", ())),
        by_channel=by_channel,
        path=str(path),
        logsource=(ls.product, ls.category, ls.service),
        variants=resolution.variants,
        sql=compiled.sql,
        fields=frozenset(compiled.fields),
        keywords=compiled.keywords,
        cidr=compiled.cidr,
        lower_fields=frozenset(compiled.facts.lower_fields),
        plain_fields=frozenset(compiled.facts.plain_fields),
        ip_fields=frozenset(compiled.facts.ip_fields),
        description=rule.description or "",
        references=tuple(rule.references or ()),
        falsepositives=tuple(rule.falsepositives or ()),
        author=rule.author or "",
        name=getattr(rule, "name", None),
        needs=compiled.needs,
        event_ids=compiled.event_ids,
        selections=tuple((name, sql) for name, sql, _ in selections),
        implied=compiled.implied([(sql, facts) for _, sql, facts in selections]),
        condition=compiled.tree or None,
    )


def load_collection(
    collection: SigmaCollection,
    path: Path,
    backend: SqlBackend,
    context: CompileContext | None = None,
) -> RuleSet:
    """Compile the rules of one parsed collection (one file), accounting for each.

    Without a ``context`` the default placeholder values apply and no filters do.
    """
    from sigma.correlations import SigmaCorrelationRule

    ctx = context or CompileContext(backend)
    out = RuleSet()
    rule_errors = {id(e) for rule in collection.rules for e in rule.errors}
    for err in collection.errors:
        if id(err) not in rule_errors:  # a rule's own errors are reported with the rule
            out.failed.append(InputIssue(str(path), None, f"invalid rule: {err}", "rule"))
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            out.correlations.append((rule, str(path)))
            continue
        label = _label(rule, path)
        ref = _ref(rule)
        out.known.append(ref)
        unsupported = _compat(rule).get("unsupported")
        if rule.errors or unsupported:
            # A feature only another tool has explains the failure better than the error
            # pySigma raises on it.
            reason = unsupported or "; ".join(str(e) for e in rule.errors)
            out.failed.append(InputIssue(str(path), None, f"{label}: {reason}", "rule"))
            continue
        resolution, _ = rule_resolution(rule)
        if resolution.not_applicable:
            out.not_applicable.append((label, resolution.not_applicable))
            continue
        applied = [f for f in ctx.filters if f.applies_to(ref)]
        for f in applied:
            f.filter.apply_on_rule(rule)
        names = rule_placeholders(rule)
        missing = [n for n in names if ctx.placeholders.resolved(n) is None]
        if missing:
            reason = "; ".join(ctx.placeholders.unresolved_reason(n) for n in missing)
            out.failed.append(InputIssue(str(path), None, f"{label}: {reason}", "rule"))
            for n in missing:
                out.unresolved_placeholders.setdefault(n, []).append(label)
            continue
        result = compile_rule(rule, path, ctx.backend_for(bool(names)), resolution)
        if isinstance(result, str):
            out.failed.append(InputIssue(str(path), None, f"{label}: {result}", "rule"))
            continue
        if applied or names:
            result = dataclasses.replace(
                result,
                filters=tuple(f.label for f in applied),
                placeholders=tuple(names),
                # A filter's detections (renamed by pySigma with a random prefix) are
                # negated: they never explain a match.
                **_without_filter_selections(result),
            )
        out.rules.append(result)
    return out


def _without_filter_selections(rule: CompiledRule) -> dict[str, Any]:
    """The rule's selections and what its condition implies of them, without those a
    Sigma filter added."""
    kept = [
        (sel, implied)
        for sel, implied in zip(rule.selections, rule.implied, strict=True)
        if not sel[0].startswith(FILTER_PREFIX)
    ]
    return {"selections": tuple(s for s, _ in kept), "implied": tuple(i for _, i in kept)}
