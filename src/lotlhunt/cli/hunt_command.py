"""``lotlhunt hunt``: read logs, run the rules, write the reports asked for."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
from rich.console import Console

from .._support import quick_exit
from .._support.no_pandas import let_pandas_in
from .._support.text import terminal_safe
from ..engines import DEFAULT_ENGINE, ENGINES
from ..errors import LotlhuntError, UsageError
from ..hunt import HuntConfig, run_hunt
from ..interrupts import interrupted_by, stop_on_signals
from ..model import LEVELS, HuntResult
from ..outputs import Output, check_outputs, write_outputs
from ..reports import REPORTS
from ..reports.console import print_explanations, print_summary
from ..scope import RuleScope
from .options import (
    EXIT_FAILURE,
    LEVEL_OVERRIDE,
    PROFILES,
    WORKERS,
    engine_options,
    event_scope,
    event_scope_options,
    fail,
    report_options,
    spark_options,
    usable_engine_name,
)
from .progress import RichProgress


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--rules",
    "rules",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Sigma rule file or folder (repeatable).",
)
@click.option("--no-default-rules", is_flag=True, help="Do not load the bundled rule pack.")
@report_options
@click.option(
    "--case",
    type=click.Path(path_type=Path),
    help="Case: a DuckDB file (logs are stored there; without PATHs, re-hunt it) or a "
    "Parquet case store folder (lotlhunt ingest).",
)
@WORKERS
@click.option("--strict", is_flag=True, help="Exit 1 if any input or rule had a problem.")
@click.option(
    "--placeholders",
    type=click.Path(exists=True, path_type=Path),
    help="YAML values for %placeholders% of |expand rules (docs/placeholders.md).",
)
@click.option(
    "--exclusions",
    type=click.Path(exists=True, path_type=Path),
    help="YAML analyst exclusions per rule (docs/tuning.md).",
)
@click.option(
    "--indicators",
    "indicators",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="STIX 2.1 bundle or MISP event JSON whose indicators become rules (repeatable).",
)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    help="Run only the rules of a profile, by level and status (default: all).",
)
@LEVEL_OVERRIDE
@click.option(
    "--exclude-noisy",
    is_flag=True,
    help="Leave out known noisy rules and set aside the hits of rules that flood the hunt.",
)
@click.option(
    "--noisy-threshold",
    type=click.IntRange(min=1),
    help="Detections past which --exclude-noisy sets a rule's hits aside (default 5,000).",
)
@click.option(
    "--noisiest",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="List the rules with the most detections, with a line to tune each (0: off).",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Show which selections matched and the field values, per detection.",
)
@event_scope_options
@click.option(
    "--min-level",
    type=click.Choice(LEVELS[::-1]),
    help="Only rules of this level or higher.",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="Only rules with a tag starting with this prefix (repeatable).",
)
@click.option(
    "--engine",
    "engine_name",
    default=DEFAULT_ENGINE,
    show_default=True,
    callback=lambda ctx, param, value: usable_engine_name(value),
    help="Engine to hunt with: "
    + "; ".join(
        f"{e.name} ({e.description}{', unavailable: ' + e.disabled if e.disabled else ''})"
        for e in ENGINES.values()
    )
    + ".",
)
@spark_options
def hunt(
    paths: tuple[Path, ...],
    rules: tuple[Path, ...],
    no_default_rules: bool,
    case: Path | None,
    workers: int | None,
    strict: bool,
    placeholders: Path | None,
    exclusions: Path | None,
    indicators: tuple[Path, ...],
    profile: str | None,
    level_override: Path | None,
    exclude_noisy: bool,
    noisy_threshold: int | None,
    noisiest: int,
    explain: bool,
    since: str | None,
    until: str | None,
    hosts: tuple[str, ...],
    event_ids: tuple[int, ...],
    min_level: str | None,
    tags: tuple[str, ...],
    engine_name: str,
    spark_master: str,
    spark_conf: tuple[str, ...],
    **outputs: Path | None,
) -> None:
    """Read logs (EVTX, JSON, zip, folders) and run Sigma rules over them."""
    if engine_name != DEFAULT_ENGINE:
        let_pandas_in()  # pyspark converts Arrow tables through pandas
    console = Console(stderr=False)
    err = Console(stderr=True)
    config = HuntConfig(
        engine_options=engine_options(spark_master, spark_conf),
        paths=paths,
        rules=rules,
        default_rules=not no_default_rules,
        case=case,
        workers=workers,
        placeholders=placeholders,
        exclusions=exclusions,
        scope=event_scope(since, until, hosts, event_ids),
        rule_scope=RuleScope(min_level, tags),
        engine=engine_name,
        indicators=indicators,
        profile=profile,
        level_overrides=level_override,
        exclude_noisy=exclude_noisy,
        noisy_threshold=noisy_threshold,
    )
    # Outputs are checked before any log is read: a hunt never ends in a traceback
    # because of a file it could not write.
    named = [(name, report.option, outputs.get(name)) for name, report in REPORTS.items()]
    problems = check_outputs([(option, path) for _, option, path in named])
    if case is not None and engine_name == DEFAULT_ENGINE and not _is_store(case):
        if case.is_dir() or not case.absolute().parent.is_dir():
            problems.append(f"--case {case}: not a file in an existing folder")
    if problems:
        raise click.UsageError("cannot write " + "; ".join(problems))
    try:
        with stop_on_signals():
            with RichProgress(err) as progress:
                result = run_hunt(config, progress)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except LotlhuntError as exc:
        fail(exc, err)
    except BaseException as exc:  # a signal, possibly wrapped by DuckDB
        stop = interrupted_by(exc)
        if stop is None:
            raise
        err.print(f"[bold red]{stop}[/]: hunt stopped, nothing written")
        sys.exit(stop.exit_code)
    failed = write_outputs(
        [
            Output(option, path, functools.partial(REPORTS[name].writer, result))
            for name, option, path in named
            if path is not None
        ]
    )
    print_summary(result, console)
    _print_read_notes(result, config, outputs.get("issues"), console)
    if explain:
        print_explanations(result, console)
    if noisiest:
        print_noisiest(result, console, noisiest)
    for message in failed:
        err.print(f"[bold red]error:[/] cannot write {terminal_safe(message)}")
    quick_exit.arm()  # the engine and every output are closed
    if failed or (strict and result.issues):
        sys.exit(EXIT_FAILURE)


def _is_store(case: Path) -> bool:
    """Whether ``case`` is a Parquet case store (imported here: most hunts have none)."""
    from ..events.parquet_store import is_store

    return is_store(case)


def _print_read_notes(
    result: HuntResult, config: HuntConfig, issues_path: Path | None, console: Console
) -> None:
    """What reading left out: files that are not logs, records outside the scope."""
    if result.skipped:
        shown = ", ".join(terminal_safe(label) for label, _ in result.skipped[:5])
        more = f" and {len(result.skipped) - 5} more" if len(result.skipped) > 5 else ""
        console.print(
            f"[dim]Skipped (not logs): {shown}{more}"
            + (
                f"; all in {terminal_safe(str(issues_path))}"
                if issues_path
                else "; --issues FILE lists them"
            )
            + "[/]"
        )
    if result.stats.records_out_of_scope:
        nothing = result.stats.records_out_of_scope == result.stats.records
        console.print(
            f"[{'yellow' if nothing else 'dim'}]{result.stats.records_out_of_scope:,} "
            f"{'(all) ' if nothing else ''}records outside "
            f"{terminal_safe(config.scope.describe())} were not stored or hunted.[/]"
        )


def print_noisiest(result: HuntResult, console: Console, n: int) -> None:
    """The rules with the most detections, and a line to paste to tune each."""
    from ..analytics.noise import noisiest

    rows = noisiest(result.detections, n, result.suppressed)
    if not rows:
        return
    console.print(f"\n[bold]Noisiest rules[/] (top {len(rows)} by detections)")
    for r in rows:
        hosts = "set aside" if r.suppressed else f"{r.hosts:,} hosts"
        console.print(
            f"  {r.detections:>9,}  {terminal_safe(r.title)} ({terminal_safe(r.rule_id)}) "
            f"\\[{r.level}, {hosts}]",
            highlight=False,
            soft_wrap=True,
        )
        if r.field:
            console.print(
                f"             {r.share:.0%} share {terminal_safe(r.field)} = "
                f"{terminal_safe(r.value or '')}",
                highlight=False,
                soft_wrap=True,
            )
        for label, line in (("exclusion", r.exclusion_line()), ("level", r.override_line())):
            console.print(
                f"             {label + ':':<10} {terminal_safe(line)}",
                highlight=False,
                soft_wrap=True,
            )
