"""Load Sigma rules from files and folders, compile each one, account for every rule.

Every rule file either yields compiled rules or is listed with the reason it could not
(YAML error, invalid Sigma, unsupported feature, unmapped logsource, placeholder without
a value). Rules for other platforms are listed as not applicable rather than failed.
Nothing is dropped silently.

On the way in, rules are tuned without being edited: placeholders get their values
(:mod:`lotlhunt.placeholders`), Sigma filter documents found among the rule files and an
analyst's exclusions file are compiled into the rules they name (:mod:`lotlhunt.filters`).
Compiled rules are cached per file (:mod:`lotlhunt.rule_cache`), so a hunt whose rules
did not change starts without parsing a single rule.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from .._support.gc_pause import gc_paused
from .._support.progress import Progress
from .._support.yaml_files import YAML_LOADER
from ..errors import InputIssue
from ..events.schema import bad_field_name
from ..settings import Settings
from . import cache as rule_cache
from .compat import COMPAT_KEY, tolerate_documents
from .compile.dialect import ALL_TEXT_FIELD, DUCKDB, Dialect
from .logsources import Resolution, Variant, resolve, resolve_names
from .model import CompiledRule, RuleSet
from .parallel import DEFAULT_OPTIONS as DEFAULT_COMPILE_OPTIONS
from .parallel import CompileOptions, compile_in_workers, worker_count
from .placeholders import Placeholders, load_placeholders, placeholder_pipeline, rule_placeholders
from .tuning import (
    FILTER_DOC,
    Exclusions,
    LoadedFilter,
    RuleRef,
    apply_exclusions,
    compile_exclusions,
    filter_digest,
    load_exclusions,
    unknown_exclusion_references,
    unknown_filter_references,
)

if TYPE_CHECKING:
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    from .compile.backend import SqlBackend

RULE_SUFFIXES = (".yml", ".yaml")
#: The path given to rules passed as documents (``extra_dicts``).
GENERATED = "<generated>"
#: A top-level ``correlation:`` key: such files are parsed on every load (not cached),
#: because correlation rules are kept as pySigma objects for their evaluation.
CORRELATION_DOC = re.compile(rb"^correlation\s*:", re.MULTILINE)
#: A Sigma 1 aggregation (``| count()``): parsed into a correlation rule, so not cached.
AGGREGATION_DOC = re.compile(rb"\|\s*count\s*\(")
#: How pySigma renames the detections a Sigma filter adds to a rule.
FILTER_PREFIX = "_filt_"


def bundled_rules_dir() -> Path:
    """Folder of the rule pack that ships with lotlhunt."""
    return Path(str(resources.files("lotlhunt").joinpath("data/rules")))


def iter_rule_files(paths: Iterable[str | Path]) -> Iterable[Path]:
    """Rule files under ``paths``: ``.yml``/``.yaml`` files in folders (recursively,
    sorted, hidden folders such as ``.github`` skipped), and every file named directly."""
    return map(Path, _rule_file_names(paths))


def _rule_file_names(paths: Iterable[str | Path]) -> Iterable[str]:
    """:func:`iter_rule_files` as strings: thousands of Path objects cost a warm load."""
    for p in paths:
        name = os.fspath(p)
        if not os.path.isdir(name):
            yield name
            continue
        found: list[str] = []
        for root, dirs, names in os.walk(name):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(os.path.join(root, n) for n in names if n.lower().endswith(RULE_SUFFIXES))
        # Sorted by path components, as sorting Path objects would (but cheaper).
        found.sort(key=lambda s: s.split(os.sep))
        yield from found


def _top_level(content: bytes, key: bytes, pattern: re.Pattern[bytes]) -> bool:
    """Whether a document of the file has top-level ``key:`` (substring test first: the
    regular expression alone costs more than reading the file)."""
    return (content.startswith(key) or b"\n" + key in content) and bool(pattern.search(content))


def _label(rule: SigmaRule | SigmaCorrelationRule, path: Path) -> str:
    return f"{rule.title or '?'} ({rule.id or 'no id'})"


def _ref(rule: SigmaRule) -> RuleRef:
    ls = rule.logsource
    return RuleRef(
        id=str(rule.id) if rule.id else None,
        name=getattr(rule, "name", None),
        logsource=(ls.product, ls.category, ls.service),
    )


# -- compiling --------------------------------------------------------------------------


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


#: The slice of a rule that selects its events by its own ``Channel`` condition.
BY_CHANNEL = Variant(name="by-channel", channels=())


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


def parse_rule_text(text: bytes | str, collect_filters: bool = True) -> SigmaCollection:
    """Parse a rule file the way ``SigmaCollection.from_yaml`` does, faster.

    libyaml (``CSafeLoader``) parses YAML several times faster than PyYAML's Python
    loader, which is most of pySigma's parse time; a file holding one plain rule (nearly
    all of them) skips the collection machinery. Filters are collected, not applied:
    the loader applies every filter of the load to every rule of every file.
    """
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaCollectionError
    from sigma.rule import SigmaRule
    from sigma.rule.base import check_alias_expansion

    docs = [d for d in yaml.load_all(text, Loader=YAML_LOADER) if d is not None]
    anchors = b"&" in text if isinstance(text, bytes) else "&" in text
    if anchors:  # no anchor, no alias: the expansion guard has nothing to find
        for doc in docs:
            check_alias_expansion(doc, SigmaCollectionError, None)
    docs = tolerate_documents(docs)
    if (
        len(docs) == 1
        and isinstance(docs[0], dict)
        and not {"action", "correlation", "filter"} & docs[0].keys()
    ):
        rule = SigmaRule.from_dict(docs[0], collect_errors=True)
        return SigmaCollection([rule], errors=list(rule.errors), resolve_references=False)
    # References are not resolved: resolving makes pySigma disable the output of rules
    # a ``generate: false`` correlation names (they would then not compile), and fails on
    # a correlation naming a rule of another file. Correlations are evaluated over the
    # detections of the rules they name, matched by id or name (lotlhunt.correlations).
    return SigmaCollection.from_dicts(
        docs, collect_errors=True, collect_filters=collect_filters, resolve_references=False
    )


_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    yaml.YAMLError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    RecursionError,
)


def _compile_file(path: Path, content: bytes, ctx: CompileContext) -> RuleSet:
    """Parse and compile one rule file; every outcome is in the returned set."""
    from sigma.exceptions import SigmaError

    out = RuleSet(files=1, compiled=1)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.failed.append(InputIssue(str(path), None, f"cannot read rule file: {exc}", "rule"))
        return out
    try:
        collection = parse_rule_text(text)
    except _PARSE_ERRORS + (SigmaError,) as exc:
        out.failed.append(InputIssue(str(path), None, f"invalid rule file: {exc}", "rule"))
        return out
    if collection.errors and not collection.rules and not collection.filters:
        reason = "; ".join(str(e) for e in collection.errors)
        out.failed.append(InputIssue(str(path), None, f"invalid rule file: {reason}", "rule"))
        return out
    try:
        result = load_collection(collection, path, ctx.backend, ctx)
    except _PARSE_ERRORS + (SigmaError,) as exc:
        out.failed.append(InputIssue(str(path), None, f"invalid rule file: {exc}", "rule"))
        return out
    result.files = 1
    result.compiled = 1
    return result


def _load_filters(
    files: Sequence[tuple[str, bytes | None]], placeholders: Placeholders
) -> tuple[list[LoadedFilter], list[InputIssue]]:
    """Sigma filter documents from the rule files that may hold some."""
    from sigma.exceptions import SigmaError
    from sigma.filters import SigmaFilter

    filters: list[LoadedFilter] = []
    issues: list[InputIssue] = []
    for path, content in files:
        if content is None:
            continue
        try:
            docs = [d for d in yaml.load_all(content, Loader=YAML_LOADER) if d is not None]
        except yaml.YAMLError:
            continue  # reported when the file is loaded as rules
        for doc in docs:
            if (
                not isinstance(doc, dict)
                or "filter" not in doc
                or {"action", "correlation"} & doc.keys()
            ):
                continue
            raw = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)
            if b"expand" in raw:  # its values may come from placeholders
                raw += placeholders.digest().encode()
            try:
                parsed = SigmaFilter.from_dict(doc, collect_errors=True)
            except _PARSE_ERRORS + (SigmaError,) as exc:
                issues.append(InputIssue(str(path), None, f"invalid Sigma filter: {exc}", "filter"))
                continue
            if parsed.errors:
                reason = "; ".join(str(e) for e in parsed.errors)
                title = doc.get("title", "?")
                issues.append(
                    InputIssue(
                        str(path), None, f"Sigma filter {title!r} ignored: {reason}", "filter"
                    )
                )
                continue
            filters.append(LoadedFilter(parsed, str(path), hashlib.sha256(raw).hexdigest()[:32]))
    return filters, issues


# -- the cache ---------------------------------------------------------------------------

#: How a cache entry's parts are rebuilt.
_ENTRY_SCHEMA: dict[str, Any] = {
    "rules": list[CompiledRule],
    "failed": list[InputIssue],
    "not_applicable": list[tuple[str, str]],
    "unresolved": dict[str, list[str]],
    "known": list[RuleRef],
    "filters_key": str,
}


@functools.cache
def _variants(
    logsource: tuple[str | None, str | None, str | None], by_channel: bool = False
) -> tuple[Variant, ...]:
    """A compiled rule's slices: a function of its logsource (and logsources.yaml, part of
    the cache key), so the cache derives them instead of storing them."""
    if by_channel:
        return (BY_CHANNEL,)
    product, category, service = logsource
    return resolve_names(product, category, service).variants


rule_cache.DERIVED[CompiledRule] = {
    "variants": lambda v: _variants(tuple(v["logsource"]), bool(v["by_channel"]))
}


def _entry(result: RuleSet, filters_key: str) -> dict[str, Any]:
    return {
        "rules": [rule_cache.as_stored(r) for r in result.rules],
        "failed": result.failed,
        "not_applicable": result.not_applicable,
        "unresolved": result.unresolved_placeholders,
        "known": result.known,
        "filters_key": filters_key,
    }


def _from_entry(entry: dict[str, Any]) -> RuleSet:
    return RuleSet(
        rules=list(entry["rules"]),
        failed=list(entry["failed"]),
        not_applicable=list(entry["not_applicable"]),
        unresolved_placeholders=dict(entry["unresolved"]),
        known=list(entry["known"]),
        files=1,
        cache_hits=1,
    )


def _applicable_key(known: Sequence[RuleRef], filters: Sequence[LoadedFilter]) -> str:
    return filter_digest({f.digest: f for f in filters for r in known if f.applies_to(r)}.values())


# -- loading -------------------------------------------------------------------------------


def load_rules(
    paths: Sequence[str | Path],
    dialect: Dialect = DUCKDB,
    extra_dicts: Sequence[dict[str, Any]] = (),
    placeholders: str | Path | None = None,
    exclusions: str | Path | None = None,
    *,
    cache: bool | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    compile_options: CompileOptions = DEFAULT_COMPILE_OPTIONS,
    settings: Settings | None = None,
) -> RuleSet:
    """Load and compile every rule under ``paths`` (files or folders, recursively).

    ``placeholders``: a YAML file ``name: [values]`` overlaying the shipped defaults
    (``docs/placeholders.md``). ``exclusions``: an analyst exclusions file
    (``docs/tuning.md``). Sigma filter documents among the rule files apply to the rules
    they name. ``extra_dicts`` are rules given as parsed documents (indicator rules).

    Compiled rules come from the per-file cache when nothing that shapes them changed;
    ``cache`` and ``cache_dir`` default to ``settings`` (when not given: the environment's,
    ``LOTLHUNT_NO_CACHE``, ``LOTLHUNT_CACHE_DIR``). Many files to compile are shared among
    ``workers`` processes (default: ``LOTLHUNT_RULE_WORKERS``, else one per idle CPU; 1
    compiles in this process), as ``compile_options`` say. ``progress`` hears of
    compiling only (a warm load is silent). Bad placeholder or exclusions files raise
    :class:`UsageError`.
    """
    settings = settings if settings is not None else Settings.from_environ()
    cache = settings.rule_cache if cache is None else cache
    cache_dir = cache_dir or settings.cache_dir
    workers = settings.rule_workers if workers is None else workers
    ph = load_placeholders(placeholders)
    excl: Exclusions | None = load_exclusions(exclusions) if exclusions is not None else None
    store = rule_cache.RuleCache(Path(cache_dir)) if cache else None
    env = rule_cache.environment_digest(dialect)
    ph_digest = ph.digest()

    out = RuleSet(placeholders=ph)
    files: list[tuple[str, bytes | None]] = []
    seen: set[str] = set()
    for name in _rule_file_names(paths):
        key = os.path.abspath(name)
        if key in seen:  # named twice (a folder and a file in it): load once
            continue
        seen.add(key)
        try:
            with open(name, "rb") as fh:
                files.append((name, fh.read()))
        except OSError as exc:
            out.files += 1
            out.failed.append(InputIssue(name, None, f"cannot read rule file: {exc}", "rule"))
    if extra_dicts:
        generated = orjson.dumps(list(extra_dicts), option=orjson.OPT_SORT_KEYS, default=str)
        files.append((GENERATED, generated))

    # Filters first: they change the rules of every file.
    filter_files = [
        (p, c) for p, c in files if c is not None and _top_level(c, b"filter", FILTER_DOC)
    ]
    filters: list[LoadedFilter] = []
    if filter_files:
        filters, issues = _load_filters(filter_files, ph)
        out.tuning_issues.extend(issues)
        out.filters = len(filters)

    # Look every cacheable file up at once.
    keys: dict[int, str] = {}
    for i, (path, content) in enumerate(files):
        if content is None or _top_level(content, b"correlation", CORRELATION_DOC):
            continue
        if b"count" in content and AGGREGATION_DOC.search(content):
            continue
        extra = ph_digest if b"expand" in content else ""
        keys[i] = rule_cache.entry_key(env, path, content, extra)
    stored = store.get_many(keys.values()) if store is not None and keys else {}

    results: list[RuleSet | None] = [None] * len(files)
    with gc_paused():
        for i, key in keys.items():
            data = stored.get(key)
            entry = rule_cache.loads(data, _ENTRY_SCHEMA) if data is not None else None
            if entry is None:
                continue
            try:
                cached = _from_entry(entry)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if entry.get("filters_key") != _applicable_key(cached.known, filters):
                continue
            if files[i][0] == GENERATED:
                cached.files = 0
            results[i] = cached

    todo = [i for i, r in enumerate(results) if r is None]
    ctx: CompileContext | None = None
    writes: list[tuple[str, str, bytes]] = []
    if todo:
        if progress is not None:
            progress.start("compiling rules", len(todo))
        # Plain rule files may go to worker processes; correlation files (kept as pySigma
        # objects) and generated rules are compiled here.
        remote = [i for i in todo if i in keys and files[i][0] != GENERATED]
        n = worker_count(workers, len(remote), compile_options)
        if n > 1:
            jobs = [(i, files[i][0], files[i][1]) for i in remote]
            config = (dialect, ph, filter_files)
            for i, data in compile_in_workers(jobs, config, n, compile_options):
                entry = rule_cache.loads(data, _ENTRY_SCHEMA)
                if entry is None:
                    continue  # compiled here below, which reports what went wrong
                result = _from_entry(entry)
                result.cache_hits, result.compiled = 0, 1
                results[i] = result
                writes.append((keys[i], files[i][0], data))
                if progress is not None:
                    progress.advance(1)
        for i in todo:
            if results[i] is not None:
                continue
            if ctx is None:
                ctx = CompileContext(_new_backend(dialect), ph, filters)
            name, content = files[i]
            assert content is not None
            if name == GENERATED:
                result = _compile_generated(content, ctx)
            else:
                result = _compile_file(Path(name), content, ctx)
            results[i] = result
            if i in keys and not result.correlations:
                try:
                    data = rule_cache.dumps(_entry(result, _applicable_key(result.known, filters)))
                except TypeError:
                    continue
                writes.append((keys[i], name, data))
            if progress is not None:
                progress.advance(1)
    if store is not None:
        store.put_many(env, writes)
        store.close()

    for done in results:
        if done is not None:
            out.extend(done)

    # Checks that need every rule: references of filters and exclusions.
    for f in filters:
        f.applied = sum(1 for r in out.known if f.applies_to(r))
    out.tuning_issues.extend(unknown_filter_references(filters, out.known))
    if excl is not None:
        if excl.entries:
            backend = (ctx or CompileContext(_new_backend(dialect), ph)).backend_for(True)
            compile_exclusions(excl, backend)
        out.tuning_issues.extend(excl.issues)
        out.tuning_issues.extend(unknown_exclusion_references(excl, out.known, out.rules))
        if excl.entries:
            out.rules = [apply_exclusions(r, excl.entries) for r in out.rules]
    return out


def _compile_generated(content: bytes, ctx: CompileContext) -> RuleSet:
    """Rules given as documents (``extra_dicts``), compiled like a file of them."""
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    out = RuleSet(files=0, compiled=1)
    path = Path(GENERATED)
    try:
        collection = SigmaCollection.from_dicts(
            orjson.loads(content), collect_errors=True, collect_filters=True
        )
        result = load_collection(collection, path, ctx.backend, ctx)
    except _PARSE_ERRORS + (SigmaError,) as exc:
        out.failed.append(InputIssue(str(path), None, f"invalid generated rules: {exc}", "rule"))
        return out
    result.files = 0
    result.compiled = 1
    return result
