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

This module drives a load; compiling a parsed rule is :mod:`.compiling`, finding and
parsing rule files :mod:`.rule_files`, and the cache entries :mod:`.cache_entries`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from .._support.gc_pause import gc_paused
from .._support.progress import Progress
from ..errors import InputIssue
from ..settings import Settings
from . import cache as rule_cache
from .cache_entries import _ENTRY_SCHEMA, _applicable_key, _entry, _from_entry
from .compile.dialect import DUCKDB, Dialect
from .compiling import CompileContext, _new_backend
from .listing import listing_key
from .model import CompiledRule, RuleSet
from .parallel import DEFAULT_OPTIONS as DEFAULT_COMPILE_OPTIONS
from .parallel import CompileOptions, compile_in_workers, worker_count
from .placeholders import load_placeholders
from .rule_files import (
    GENERATED,
    _compile_file,
    _compile_generated,
    _load_filters,
    _rule_file_names,
    _top_level,
)
from .tuning import (
    FILTER_DOC,
    Exclusions,
    LoadedFilter,
    apply_exclusions,
    compile_exclusions,
    load_exclusions,
    unknown_exclusion_references,
    unknown_filter_references,
)

#: A top-level ``correlation:`` key: such files are parsed on every load (not cached),
#: because correlation rules are kept as pySigma objects for their evaluation.
CORRELATION_DOC = re.compile(rb"^correlation\s*:", re.MULTILINE)
#: A Sigma 1 aggregation (``| count()``): parsed into a correlation rule, so not cached.
AGGREGATION_DOC = re.compile(rb"\|\s*count\s*\(")


def bundled_rules_dir() -> Path:
    """Folder of the rule pack that ships with lotlhunt."""
    return Path(str(resources.files("lotlhunt").joinpath("data/rules")))


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
    names: list[str] = []
    seen: set[str] = set()
    unlisted: list[OSError] = []
    for name in _rule_file_names(paths, unlisted):
        key = os.path.abspath(name)
        if key in seen:  # named twice (a folder and a file in it): load once
            continue
        seen.add(key)
        names.append(name)
    # Unchanged files (as their listing says) are not read: their entry keys were
    # stored by the load that last read them, and only a file to compile is read.
    listing = listing_key(env, ph_digest, names) if store is not None else None
    listed = (
        store.get_listing(listing, len(names))
        if store is not None and listing is not None
        else None
    )
    files: list[tuple[str, bytes | None]] = []
    known: dict[int, str] = {}
    for n, name in enumerate(names):
        if listed is not None and listed[n]:
            known[len(files)] = listed[n]
            files.append((name, None))
            continue
        content = _read_rule_file(name, out)
        if content is not None:
            files.append((name, content))
    for error in unlisted:
        out.failed.append(
            InputIssue(str(error.filename), None, f"cannot list rule folder: {error}", "rule")
        )
    # Every file read or listed, every folder listed: a listing may be stored.
    complete = len(files) == len(names) and not unlisted
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
    keys: dict[int, str] = dict(known)
    for i, (path, content) in enumerate(files):
        if i in known:
            continue
        if content is None or _top_level(content, b"correlation", CORRELATION_DOC):
            continue
        if b"count" in content and AGGREGATION_DOC.search(content):
            continue
        extra = ph_digest if b"expand" in content else ""
        keys[i] = rule_cache.entry_key(env, path, content, extra)
    stored = store.get_many(keys.values()) if store is not None and keys else {}

    results: list[RuleSet | None] = [None] * len(files)
    # The rules last as long as the hunt: frozen in a one-command process.
    with gc_paused(lasting=True):
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

    todo = []
    for i, r in enumerate(results):
        if r is not None:
            continue
        if files[i][1] is None:  # listed, but its entry is gone or no longer applies
            content = _read_rule_file(files[i][0], out)
            if content is None:
                complete = False
                continue
            files[i] = (files[i][0], content)
        todo.append(i)
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
        if listing is not None and listed is None and complete and not filter_files:
            # Filter documents are read on every load; a listing is of rule files only.
            store.put_listing(listing, [keys.get(i, "") for i in range(len(names))])
        store.close()

    for done in results:
        if done is not None:
            out.extend(done)
    out.rules = _warn_shared_ids(out.rules)

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


def _read_rule_file(name: str, out: RuleSet) -> bytes | None:
    """The content of rule file ``name``, or None with the failure counted in ``out``."""
    try:
        with open(name, "rb") as fh:
            return fh.read()
    except OSError as exc:
        out.files += 1
        out.failed.append(InputIssue(name, None, f"cannot read rule file: {exc}", "rule"))
        return None


def _warn_shared_ids(rules: list[CompiledRule]) -> list[CompiledRule]:
    """``rules``, each rule whose id another rule file also uses warned about it.

    Both rules run, but exclusions, filters, level overrides and correlations name rules
    by id: they then apply to both. Rule folders collect such pairs when a rule is
    renamed or copied to be tuned without a new id.
    """
    by_id: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        by_id.setdefault(rule.id, []).append(i)
    out = list(rules)
    for rule_id, at in by_id.items():
        if len({rules[i].path for i in at}) < 2:
            continue  # one file's documents (a base rule and its variants) may share it
        for i in at:
            others = ", ".join(
                sorted({rules[j].path for j in at if rules[j].path != rules[i].path})
            )
            note = f"id {rule_id} is also the id of the rule in {others[:300]}"
            out[i] = dataclasses.replace(rules[i], warnings=(*rules[i].warnings, note))
    return out
