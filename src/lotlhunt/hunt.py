"""Orchestration of a hunt: read logs into the engine, load rules, evaluate, collect.

No printing here: progress goes through a :class:`Progress` the caller passes (the CLI
passes a rich progress bar, notebooks pass nothing) and the result is a
:class:`~lotlhunt.model.HuntResult` that reports format.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from ._support.gc_pause import gc_paused
from ._support.progress import Progress
from ._support.progress import Silent as _Silent
from .analytics.correlations import CorrelationHit, evaluate_correlations
from .analytics.explain import Details, Explanation, event_details, explain_matches
from .analytics.run import Analysis, analyse
from .engines import DEFAULT_ENGINE, create_engine, usable_engine
from .engines.base import (
    RID,
    RULE,
    Engine,
    EngineOptions,
    EventSink,
    InputCounts,
    ReadsFiles,
    Searchable,
)
from .errors import CaseError, InputIssue, NoEventsError, UsageError
from .events import schema
from .model import (
    CorrelationDetection,
    Detection,
    EventRef,
    HuntResult,
    HuntStats,
    SuppressedRule,
)
from .rules.loader import bundled_rules_dir, load_rules
from .rules.model import CompiledRule, RuleSet
from .rules.parallel import DEFAULT_OPTIONS as DEFAULT_COMPILE_OPTIONS
from .rules.parallel import CompileOptions
from .scope import EventScope, RuleScope, scoped_rules
from .settings import Settings
from .sources.options import DEFAULT_OPTIONS as DEFAULT_READER_OPTIONS
from .sources.options import ReaderOptions

#: The identity of an event in a correlation detection, in :class:`EventRef` order.
_EVENT_REF = (
    schema.TIMESTAMP,
    schema.HOST,
    schema.CHANNEL,
    schema.EVENT_ID,
    schema.RECORD_ID,
    schema.SOURCE,
    schema.POSITION,
)


@dataclass
class HuntConfig:
    """What to hunt and with which rules; the CLI and the Python API both build one."""

    paths: Sequence[str | Path] = ()
    rules: Sequence[str | Path] = ()
    default_rules: bool = True
    case: str | Path | None = None
    workers: int | None = None
    extra_rule_dicts: list[dict[str, object]] = field(default_factory=list)
    #: Placeholder values for ``|expand`` rules (docs/placeholders.md).
    placeholders: str | Path | None = None
    #: Analyst exclusions (docs/tuning.md).
    exclusions: str | Path | None = None
    #: Events to hunt in (time, hosts, event ids); rows outside it are never stored.
    scope: EventScope = field(default_factory=EventScope)
    #: Rules to run and report (minimum level, tags).
    rule_scope: RuleScope = field(default_factory=RuleScope)
    #: The ``LOTLHUNT_*`` environment, read when the config is made.
    settings: Settings = field(default_factory=Settings.from_environ)
    #: How logs are read (batch sizes, limits, when worker processes pay off).
    reader_options: ReaderOptions = DEFAULT_READER_OPTIONS
    #: When rule files are compiled in worker processes.
    compile_options: CompileOptions = DEFAULT_COMPILE_OPTIONS
    #: The registered engine to hunt with (:data:`lotlhunt.engines.ENGINES`).
    engine: str = DEFAULT_ENGINE
    #: Its tuning; the environment (``LOTLHUNT_MEMORY_LIMIT``) is read here, once.
    engine_options: EngineOptions = field(default_factory=EngineOptions.from_env)
    #: STIX 2.1 bundles and MISP event files whose indicators become rules.
    indicators: Sequence[str | Path] = ()
    #: Run only the rules of this profile (see :mod:`lotlhunt.rules.profiles`); None: all.
    profile: str | None = None
    #: A YAML file mapping rule ids or title globs to levels (rules/levels.py).
    level_overrides: str | Path | None = None
    #: Leave out the shipped noisy rules and set aside the detections of rules with more
    #: than ``noisy_threshold`` of them (see :mod:`lotlhunt.analytics.noise`).
    exclude_noisy: bool = False
    noisy_threshold: int | None = None


class SearchEngine(Engine, Searchable, Protocol):
    """An engine that hunts and answers searches (the embedded one)."""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def ingest(
    engine: EventSink,
    paths: Sequence[str | Path],
    workers: int,
    progress: Progress,
    stats: HuntStats,
    issues: list[InputIssue],
    skipped: list[tuple[str, str]],
    scope: EventScope | None = None,
    fields: Sequence[str] | None = None,
    options: ReaderOptions = DEFAULT_READER_OPTIONS,
) -> None:
    """Read every input into the engine, counting every record and every failure.

    With a ``scope``, each batch loses its rows outside it before the engine sees them:
    they are counted (``records_out_of_scope``) but never stored or scanned. With
    ``fields``, only those event fields (any case) are stored beside the core columns:
    a question that reads a few fields need not pay for storing hundreds.
    """
    wanted = None if fields is None else {f.lower().replace(" ", "") for f in fields}
    from .sources import UnitReport, discover, read_all

    found = discover(paths)
    case_labels = getattr(engine, "case_labels", None)  # engines that keep cases
    if case_labels is not None:
        refuse_duplicates(case_labels(), [unit.label for unit in found.units])
    skipped.extend(found.skipped)
    issues.extend(found.issues)
    stats.files_skipped += len(found.skipped)
    stats.files_failed += sum(1 for i in found.issues if i.kind == "file")
    progress.start("reading", len(found.units))
    reports: list[UnitReport] = []
    items: Iterable[pa.RecordBatch | UnitReport]
    whole = (scope is None or not scope.active) and fields is None
    if whole and isinstance(engine, ReadsFiles) and engine.reads_files:
        # The engine reads the files where its data lives (Spark: on the executors);
        # a scope or a field list is applied here, so such reads stay local.
        items = engine.read_units(found.units)
    else:
        items = read_all(found.units, workers, options)
    for item in items:
        if isinstance(item, pa.RecordBatch):
            kept = scope.apply(item) if scope is not None and scope.active else item
            stats.records_out_of_scope += item.num_rows - kept.num_rows
            if wanted is not None:
                kept = _projected(kept, wanted)
            engine.ingest(kept)
            progress.advance(0, records=item.num_rows)
        else:
            reports.append(item)
            stats.files += 1
            stats.records += item.records
            stats.records_failed += item.records_failed
            issues.extend(item.issues)
            if any(i.kind == "file" for i in item.issues):
                stats.files_failed += 1
            progress.advance(1)
    engine.flush()
    engine.record_inputs(
        [
            InputCounts(
                label=r.unit.label,
                records=r.records,
                records_failed=r.records_failed,
                issues=tuple(str(i) for i in r.issues),
            )
            for r in reports
        ]
    )


def _projected(batch: pa.RecordBatch, wanted: set[str]) -> pa.RecordBatch:
    """``batch`` with its core columns and the fields named in ``wanted`` (lower-cased,
    without spaces) only."""
    names = [
        n
        for n in batch.schema.names
        if n in schema.CORE_COLUMNS or n.lower().replace(" ", "") in wanted
    ]
    return batch if len(names) == batch.num_columns else batch.select(names)


def read_into(
    engine: Engine,
    paths: Sequence[str | Path],
    workers: int = 1,
    scope: EventScope | None = None,
    options: ReaderOptions = DEFAULT_READER_OPTIONS,
) -> HuntStats:
    """Read inputs into ``engine`` without a progress display; return what was read."""
    stats = HuntStats()
    ingest(engine, paths, workers, _Silent(), stats, [], [], scope, options=options)
    return stats


def require_events(
    stats: HuntStats,
    skipped: Sequence[tuple[str, str]] = (),
    issues: Sequence[InputIssue] = (),
    case: str | Path | None = None,
) -> None:
    """Raise :class:`NoEventsError` when the inputs held no event, saying what was found
    instead (files skipped as not logs, files that could not be read)."""
    if stats.records:
        return
    if case is not None and not stats.files:
        raise NoEventsError(f"the case {case} holds no events")
    found = [f"{stats.files} log files read"]
    if stats.records_failed:
        found.append(f"{stats.records_failed:,} records that could not be read")
    if skipped:
        shown = ", ".join(f"{label} ({why})" for label, why in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        found.append(f"{len(skipped)} files skipped as not logs: {shown}{more}")
    failed = [i for i in issues if i.kind == "file"]
    if failed:
        found.append(f"{len(failed)} files that could not be opened: {failed[0]}")
    raise NoEventsError("no events in the inputs: " + "; ".join(found))


def open_events(
    paths: Sequence[str | Path],
    case: str | Path | None,
    scope: EventScope,
    workers: int | None = None,
    progress: Progress | None = None,
    fields: Sequence[str] | None = None,
) -> tuple[SearchEngine, HuntStats, list[InputIssue], list[tuple[str, str]]]:
    """An engine holding the events to look at: ``paths`` read (rows outside ``scope``
    dropped while reading), into the ``case`` file when given; or, without paths, the
    case as it is, restricted to ``scope``. Raises :class:`NoEventsError` when there are
    none. With ``fields``, logs read keep only those event fields (see :func:`ingest`).
    The caller closes the engine.

    Searches, metrics and logon summaries are the embedded engine's questions: they
    run where a case can be opened in one process."""
    if not paths and case is None:
        raise UsageError("give log paths to read, or --case with a case file")
    for p in paths:
        if not Path(p).exists():
            raise UsageError(f"input path does not exist: {p}")
    if not paths and case is not None and not Path(case).exists():
        raise UsageError(f"case file does not exist: {case}")
    stats = HuntStats()
    issues: list[InputIssue] = []
    skipped: list[tuple[str, str]] = []
    made = create_engine("duckdb", case)
    assert isinstance(made, Searchable)
    engine: SearchEngine = made
    try:
        if paths:
            ingest(
                engine,
                paths,
                workers or default_workers(),
                progress or _Silent(),
                stats,
                issues,
                skipped,
                scope,
                fields,
            )
            require_events(stats, skipped, issues)
        else:
            _case_inputs(engine, stats)
            if not engine.count_events():
                raise NoEventsError(f"the case {case} holds no events")
        if case is not None:
            engine.restrict(scope)
    except BaseException:
        engine.close()
        raise
    return engine, stats, issues, skipped


def _case_inputs(engine: Engine, stats: HuntStats) -> None:
    """What the case was read from, as it recorded it (nothing for a case without it),
    checked against the events it holds."""
    totals = engine.case_totals()
    if totals is None:
        return
    held = engine.count()
    if held > totals.records:
        # Events no recorded input accounts for (fewer is fine: a scoped hunt stores the
        # events in its scope only). Hunting them would report detections over inputs it
        # cannot account for.
        raise CaseError(
            f"the case is damaged or incomplete (a hunt into it was stopped?): it holds"
            f" {held:,} events, its record of inputs accounts for {totals.records:,}"
        )
    stats.files = totals.files
    stats.records = totals.records
    stats.records_failed = totals.records_failed


def refuse_duplicates(held: set[str], labels: Sequence[str]) -> None:
    """Hunting inputs into a case that already holds them (``held``: their labels) would
    count their events twice: refused (re-hunt the case without paths, or use a new
    case)."""
    again = [label for label in labels if label in held]
    if again:
        more = f" and {len(again) - 3} more" if len(again) > 3 else ""
        raise UsageError(
            f"the case already holds {', '.join(again[:3])}{more}; re-hunt it"
            " without paths, or give a new case file"
        )


def load_hunt_rules(config: HuntConfig, progress: Progress | None = None) -> RuleSet:
    paths: list[str | Path] = list(config.rules)
    extra = list(config.extra_rule_dicts)
    if config.default_rules:
        paths.insert(0, bundled_rules_dir())
        from .rules.update import installed_rules

        installed = installed_rules()
        if installed is not None:  # fetched by ``lotlhunt rules update``
            paths.insert(1, installed)
        try:
            from .rules.indicators import indicator_rules
        except ImportError:  # pragma: no cover - indicators ship with the package
            pass
        else:
            extra.extend(indicator_rules())
    for p in paths:
        if not Path(p).exists():
            raise UsageError(f"rule path does not exist: {p}")
    intel_issues: list[InputIssue] = []
    if config.indicators:
        from .rules.intel import load_feeds

        intel_rules, intel_issues = load_feeds(config.indicators)
        extra.extend(intel_rules)
    ruleset = load_rules(
        paths,
        dialect=usable_engine(config.engine).dialect,
        extra_dicts=extra,
        placeholders=config.placeholders,
        exclusions=config.exclusions,
        progress=progress,
        settings=config.settings,
        compile_options=config.compile_options,
    )
    # Indicators that could not become rules are counted with the rules that failed.
    ruleset.failed.extend(intel_issues)
    choose_rules(ruleset, config)
    return ruleset


def choose_rules(ruleset: RuleSet, config: HuntConfig) -> None:
    """Re-grade, then leave out what the hunter asked to (counted in ``left_out``):
    overrides come first, so a re-graded rule moves in or out of the profile."""
    if config.level_overrides is not None:
        from .rules.levels import apply_overrides

        ruleset.tuning_issues.extend(apply_overrides(ruleset, config.level_overrides))
    if config.exclude_noisy:
        from .analytics.noise import drop_listed

        if dropped := drop_listed(ruleset):
            ruleset.left_out["on the noisy rule list"] = dropped
    if config.profile is not None:
        from .rules.profiles import Profile, apply_profile

        try:
            profile = Profile(config.profile)
        except ValueError:
            names = ", ".join(p.value for p in Profile)
            raise UsageError(f"unknown profile {config.profile!r} (one of {names})") from None
        if left := apply_profile(ruleset, profile):
            ruleset.left_out[f"outside profile {profile.value}"] = left


def collect_detections(
    engine: Engine, rules: Sequence[CompiledRule], matches: pa.Table
) -> list[Detection]:
    """Join matches back to their events: identity, time, and the fields each rule read
    with the selections that held (:mod:`.analytics.explain`)."""
    if matches.num_rows == 0:
        return []
    table = engine.matched_events(matches)
    with gc_paused():
        explained = explain_matches(engine, rules, matches)
        details = event_details(engine, table)
        return _detections(rules, table, explained, details)


def _detections(
    rules: Sequence[CompiledRule],
    table: pa.Table,
    explained: dict[tuple[int, int], Explanation],
    details: Details,
) -> list[Detection]:
    """Detections from the matched events' identities, explanations and key fields."""
    column = {name: table.column(name).to_pylist() for name in (RULE, RID)}
    times = schema.utc_datetimes(table.column(schema.TIMESTAMP))
    identity = [
        table.column(name).to_pylist()
        for name in (
            schema.HOST,
            schema.CHANNEL,
            schema.EVENT_ID,
            schema.RECORD_ID,
            schema.SOURCE,
            schema.POSITION,
            schema.PROVIDER,
        )
    ]
    nothing: Explanation = ({}, ())
    no_details: dict[str, str | None] = {}
    out: list[Detection] = []
    append = out.append
    # One pass over the columns: 175 k detections are built in Python.
    for idx, rid, timestamp, host, channel, event_id, record_id, source, position, provider in zip(
        column[RULE], column[RID], times, *identity, strict=True
    ):
        rule = rules[idx]
        fields, held = explained.get((idx, rid), nothing)
        append(
            Detection(
                rule_id=rule.id,
                rule_title=rule.title,
                level=rule.level,
                tags=rule.tags,
                timestamp=timestamp,
                host=host,
                channel=channel,
                event_id=event_id,
                record_id=record_id,
                source=source,
                position=position,
                fields=fields,
                matched=held,
                details=details.get(rid, no_details),
                provider=provider,
                row=rid,
            )
        )
    return out


def correlation_detection(engine: Engine, hit: CorrelationHit) -> CorrelationDetection:
    """A correlation hit with the identity of every event that made it up."""
    table = engine.event_rows(hit.rids, _EVENT_REF)
    columns = [schema.utc_datetimes(table.column(schema.TIMESTAMP))]
    columns += [table.column(c).to_pylist() for c in _EVENT_REF[1:]]
    events = tuple(EventRef(*row) for row in zip(*columns, strict=True))
    hosts = sorted({e.host for e in events if e.host})
    return CorrelationDetection(
        rule_id=hit.rule_id,
        rule_title=hit.title,
        level=hit.level,
        tags=hit.tags,
        kind=hit.kind,
        group=dict(hit.group),
        first=hit.first,
        last=hit.last,
        value=hit.value,
        host=hosts[0] if len(hosts) == 1 else None,
        events=events,
    )


def run_hunt(config: HuntConfig, progress: Progress | None = None) -> HuntResult:
    """Read, hunt, collect. The same result the CLI prints, for notebooks and scripts."""
    progress = progress or _Silent()
    started = time.perf_counter()
    if not config.paths and config.case is None:
        raise UsageError("give log paths to read, or --case with a case file to re-hunt")
    for p in config.paths:
        if not Path(p).exists():
            raise UsageError(f"input path does not exist: {p}")
    stats = HuntStats()
    input_issues: list[InputIssue] = []
    skipped: list[tuple[str, str]] = []
    progress.note("loading rules")
    mark = time.perf_counter()
    ruleset, quiet = scoped_rules(load_hunt_rules(config, progress), config.rule_scope)
    stats.phases["rules"] = time.perf_counter() - mark
    mark = time.perf_counter()
    engine = create_engine(config.engine, config.case, config.engine_options)
    try:
        if not config.paths:
            _case_inputs(engine, stats)
            if not engine.count():
                raise NoEventsError(f"the case {config.case} holds no events")
        else:
            ingest(
                engine,
                config.paths,
                config.workers or default_workers(),
                progress,
                stats,
                input_issues,
                skipped,
                config.scope,
                options=config.reader_options,
            )
            require_events(stats, skipped, input_issues)
            if config.case:
                _case_inputs(engine, stats)
        if config.case:
            # A case may hold events read before, outside this hunt's scope.
            engine.restrict(config.scope)
        stats.phases["read"] = time.perf_counter() - mark
        mark = time.perf_counter()
        # One step per rule and logsource variant it covers (process creation: Sysmon 1
        # and Security 4688), as the engine reports them.
        progress.start("hunting", sum(max(1, len(r.variants)) for r in ruleset.rules))
        evaluation = engine.evaluate(ruleset.rules, progress=lambda n: progress.advance(n))
        stats.phases["hunt"] = time.perf_counter() - mark
        mark = time.perf_counter()
        rule_issues = list(ruleset.failed) + list(ruleset.tuning_issues)
        for idx, reason in evaluation.failed:
            rule = ruleset.rules[idx]
            rule_issues.append(
                InputIssue(rule.path, None, f"{rule.title} ({rule.id}): {reason}", "rule")
            )
        correlated = evaluate_correlations(engine, ruleset, evaluation.matches)
        rule_issues.extend(correlated.failed)
        stats.phases["correlate"] = time.perf_counter() - mark
        mark = time.perf_counter()
        matches = evaluation.matches
        # Base rules that only feed correlations with generate: false stay quiet, and so
        # do rules outside the rule scope that run only to feed a correlation.
        silent = set(correlated.suppressed) | quiet
        if silent:
            keep = pc.invert(pc.is_in(matches.column("rule"), pa.array(sorted(silent), pa.int32())))
            matches = matches.filter(keep)
        suppressed: list[SuppressedRule] = []
        if config.exclude_noisy:
            matches, suppressed = _set_aside_floods(ruleset.rules, matches, config)
        detections = collect_detections(engine, ruleset.rules, matches)
        correlations = [
            correlation_detection(engine, hit)
            for hit in correlated.hits
            if config.rule_scope.admits(hit.level, hit.tags)
        ]
        stats.phases["collect"] = time.perf_counter() - mark
        mark = time.perf_counter()
        progress.note("analysing behaviour and chaining incidents")
        try:
            analysis = analyse(engine, detections, correlations)
        except Exception as exc:  # noqa: BLE001 - the detections stand without the story
            analysis = Analysis(notes=[f"behaviour analytics and incidents failed: {exc!r}"])
        stats.notes.extend(analysis.notes)
        stats.phases["analytics"] = time.perf_counter() - mark
    finally:  # closed while an error or a signal propagates, it inserts nothing more
        stats.notes.extend(engine.notes)
        engine.close()
    for why, count in ruleset.left_out.items():
        stats.notes.append(f"{count:,} rules left out: {why}")
    for s in suppressed:
        stats.notes.append(
            f"{s.detections:,} detections of {s.rule_title} ({s.rule_id}) set aside: {s.reason}"
        )
    stats.rules_loaded = (
        len(ruleset.rules)
        - len(evaluation.failed)
        + len(ruleset.correlations)
        - len(correlated.failed)
    )
    stats.rules_failed = len(rule_issues)
    stats.rules_not_applicable = len(ruleset.not_applicable)
    stats.detections = len(detections)
    stats.correlations = len(correlations)
    stats.seconds = time.perf_counter() - started
    return HuntResult(
        stats=stats,
        detections=detections,
        correlations=correlations,
        behaviours=analysis.behaviours,
        incidents=analysis.incidents,
        input_issues=input_issues,
        rule_issues=rule_issues,
        skipped=skipped,
        suppressed=suppressed,
    )


def _set_aside_floods(
    rules: Sequence[CompiledRule], matches: pa.Table, config: HuntConfig
) -> tuple[pa.Table, list[SuppressedRule]]:
    """Matches without those of rules past the noisy threshold, and those rules."""
    from .analytics.noise import DEFAULT_NOISY_THRESHOLD, flooding, without_rules

    threshold = config.noisy_threshold or DEFAULT_NOISY_THRESHOLD
    floods = flooding(matches, threshold)
    if not floods:
        return matches, []
    suppressed = [
        SuppressedRule(
            rules[i].id, rules[i].title, rules[i].level, n, f"more than {threshold:,} detections"
        )
        for i, n in sorted(floods.items(), key=lambda item: -item[1])
    ]
    return without_rules(matches, floods), suppressed
