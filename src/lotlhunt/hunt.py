"""Orchestration of a hunt: read logs into the engine, load rules, evaluate, collect.

No printing here: progress goes through a :class:`Progress` the caller passes (the CLI
passes a rich progress bar, notebooks pass nothing) and the result is a
:class:`~lotlhunt.model.HuntResult` that reports format. Reading is :mod:`.ingest`,
turning matches into detections :mod:`.detections`, the options :mod:`.hunt_config`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ._support.progress import Progress
from ._support.progress import Silent as _Silent
from .analytics.correlations import evaluate_correlations
from .analytics.run import Analysis, analyse
from .detections import collect_detections, correlation_detection, set_aside_floods
from .engines import create_engine, usable_engine
from .engines.base import EngineOptions
from .errors import InputIssue, NoEventsError, UsageError
from .hunt_config import HuntConfig
from .ingest import (
    SearchEngine,
    case_inputs,
    default_workers,
    ingest,
    open_events,
    read_into,
    refuse_duplicates,
    require_events,
)
from .model import HuntResult, HuntStats, SuppressedRule
from .rules.compile.dialect import Dialect
from .rules.loader import bundled_rules_dir, load_rules
from .rules.model import RuleSet
from .scope import scoped_rules

__all__ = [
    "HuntConfig",
    "Progress",
    "SearchEngine",
    "choose_rules",
    "collect_detections",
    "correlation_detection",
    "default_workers",
    "ingest",
    "load_hunt_rules",
    "open_events",
    "read_into",
    "refuse_duplicates",
    "require_events",
    "run_hunt",
]


def load_hunt_rules(
    config: HuntConfig, progress: Progress | None = None, dialect: Dialect | None = None
) -> RuleSet:
    paths: list[str | Path] = list(config.rules)
    extra = list(config.extra_rule_dicts)
    if config.default_rules:
        paths.insert(0, bundled_rules_dir())
        from .rules.installed import installed_rules

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
        dialect=dialect or usable_engine(config.engine).dialect,
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


def engine_options(config: HuntConfig) -> EngineOptions:
    """The engine's options for ``config``: ``workers`` is the hunt's share of the cores,
    so it bounds the engine's threads too unless the options set them (one worker
    leaves DuckDB one thread: ``--workers 1`` is one core, ``--workers 2`` two)."""
    options = config.engine_options
    if config.workers and options.threads is None:
        return replace(options, threads=config.workers)
    return options


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
    engine = create_engine(config.engine, config.case, engine_options(config))
    try:
        twin_dialect = getattr(engine, "twin_dialect", None)
        set_twins = getattr(engine, "set_twins", None)
        if twin_dialect is not None and set_twins is not None:
            # An engine running rules in two dialects (Spark: its own SQL, and the
            # embedded engine's per-field evaluation on its executors) gets both.
            twins_started = time.perf_counter()
            twins, _ = scoped_rules(
                load_hunt_rules(config, None, dialect=twin_dialect), config.rule_scope
            )
            set_twins(twins.rules)
            spent = time.perf_counter() - twins_started
            stats.phases["rules"] += spent
            mark += spent
        if not config.paths:
            case_inputs(engine, stats)
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
                case_inputs(engine, stats)
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
            matches, suppressed = set_aside_floods(ruleset.rules, matches, config.noisy_threshold)
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
