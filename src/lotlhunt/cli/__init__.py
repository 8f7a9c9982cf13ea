"""The ``lotlhunt`` command: a thin shell over the library.

Exit codes scripts can rely on: 0 the hunt ran (findings or not), 1 it failed or, with
``--strict``, an input or rule could not be read, 2 the command line was wrong.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ._support.text import terminal_safe
from .analytics.coverage import RuleStatus
from .engines import DEFAULT_ENGINE, ENGINES, usable_engine
from .engines.base import EngineOptions
from .errors import LotlhuntError, UsageError
from .events.parquet_store import is_store
from .hunt import HuntConfig, run_hunt
from .hunting_cli import event_scope, event_scope_options, logons, search
from .hunting_cli import stats as stats_cmd
from .interrupts import interrupted_by, stop_on_signals
from .model import LEVELS, HuntResult
from .outputs import Output, check_outputs, write_outputs
from .reports import REPORTS
from .reports.console import print_explanations, print_summary
from .reports.rows import terminal_text
from .rules.loader import RuleSet
from .scope import RuleScope

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class RichProgress:
    """Adapts :class:`lotlhunt._support.progress.Progress` to a rich progress bar on stderr.

    Each bar says what it counts: while reading, the records read so far and the files
    done of all files; then the rules compiled or run of all of them. A count never
    passes its total (a step reported twice would otherwise show 105 %).
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self.task: TaskID | None = None
        self.records = 0
        self.phase = ""
        self.done = 0
        self.total: int | None = None
        self.phase_records = 0

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def start(self, phase: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[self.task].total)
        self.phase, self.done, self.total, self.phase_records = phase, 0, total, 0
        self.task = self.bar.add_task(phase, total=total, counts=self.counts())

    def counts(self) -> str:
        """What the bar counts, in words."""
        of = "" if self.total is None else f"/{self.total:,}"
        if self.phase == "reading":
            return f"{self.phase_records:>12,} records, {self.done:,}{of} files"
        # A hunt runs each rule once per logsource variant it covers (process creation:
        # Sysmon 1 and Security 4688).
        return f"{self.done:,}{of} {'rule runs' if self.phase == 'hunting' else 'rules'}"

    def advance(self, n: int = 1, records: int = 0) -> None:
        self.records += records
        self.phase_records += records
        self.done += n
        if self.total is not None:
            self.done = min(self.done, self.total)
        if self.task is not None:
            self.bar.update(self.task, completed=self.done, counts=self.counts())

    def note(self, message: str) -> None:
        if not self.console.is_terminal:
            return
        self.console.print(f"[dim]{terminal_safe(message)}[/]")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lotlhunt")
def cli() -> None:
    """Hunt living-off-the-land intrusions in Windows event logs."""


def report_options(command: Callable[..., None]) -> Callable[..., None]:
    """One ``--OPTION FILE`` per registered report, in registry order."""
    for report in reversed(REPORTS.values()):
        command = click.option(
            report.option, report.name, type=click.Path(path_type=Path), help=report.help
        )(command)
    return command


cli.add_command(search)
cli.add_command(stats_cmd, "stats")
cli.add_command(logons)


@cli.command()
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
@click.option("--workers", type=click.IntRange(min=1), help="Reader processes (default: cores).")
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
    type=click.Choice(["core", "core+", "core++", "hunting", "all"]),
    help="Run only the rules of a profile, by level and status (default: all).",
)
@click.option(
    "--level-override",
    "level_override",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping rule ids or title globs to levels.",
)
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
    callback=lambda ctx, param, value: _usable_engine(value),
    help="Engine to hunt with: "
    + "; ".join(
        f"{e.name} ({e.description}{', unavailable: ' + e.disabled if e.disabled else ''})"
        for e in ENGINES.values()
    )
    + ".",
)
@click.option(
    "--spark-master",
    default="local[*]",
    show_default=True,
    help="With --engine spark: the master URL, as spark-submit --master takes it.",
)
@click.option(
    "--spark-conf",
    "spark_conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --engine spark: a Spark setting (repeatable), as spark-submit --conf.",
)
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
    console = Console(stderr=False)
    err = Console(stderr=True)
    config = HuntConfig(
        engine_options=_engine_options(spark_master, spark_conf),
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
    if case is not None and not is_store(case) and engine_name == DEFAULT_ENGINE:
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
        err.print(f"[bold red]error:[/] {terminal_safe(exc)}")
        sys.exit(EXIT_FAILURE)
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
    issues_path = outputs.get("issues")
    print_summary(result, console)
    if result.skipped:
        shown = ", ".join(terminal_text(label) for label, _ in result.skipped[:5])
        more = f" and {len(result.skipped) - 5} more" if len(result.skipped) > 5 else ""
        console.print(
            f"[dim]Skipped (not logs): {shown}{more}"
            + (
                f"; all in {terminal_text(str(issues_path))}"
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
            f"{terminal_text(config.scope.describe())} were not stored or hunted.[/]"
        )
    if explain:
        print_explanations(result, console)
    if noisiest:
        print_noisiest(result, console, noisiest)
    for message in failed:
        err.print(f"[bold red]error:[/] cannot write {terminal_text(message)}")
    if failed or (strict and result.issues):
        sys.exit(EXIT_FAILURE)


def _engine_options(spark_master: str, spark_conf: tuple[str, ...]) -> EngineOptions:
    """Engine tuning from the environment, and the Spark session's settings."""
    from .engines.spark.session import SparkOptions

    try:
        conf = SparkOptions.parse_conf(spark_conf)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--spark-conf") from exc
    return replace(EngineOptions.from_env(), spark=SparkOptions(master=spark_master, conf=conf))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(path_type=Path),
    help="New folder for the Parquet case store.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Reader processes (default: cores).")
@click.option(
    "--engine",
    "engine_name",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="Read here (local worker processes) or on Spark's executors.",
)
@click.option("--spark-master", default="local[*]", show_default=True)
@click.option("--spark-conf", "spark_conf", multiple=True, metavar="KEY=VALUE")
@click.option("--strict", is_flag=True, help="Exit 1 if any input had a problem.")
def ingest(
    paths: tuple[Path, ...],
    dest: Path,
    workers: int | None,
    engine_name: str,
    spark_master: str,
    spark_conf: tuple[str, ...],
    strict: bool,
) -> None:
    """Read logs once into a Parquet case store; hunt it with --case DIR (any engine)."""
    from .case_store import ingest_to_store

    err = Console(stderr=True)
    options = _engine_options(spark_master, spark_conf) if engine_name == "spark" else None
    try:
        with RichProgress(err) as progress:
            summary = ingest_to_store(paths, dest, workers, progress, options)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except LotlhuntError as exc:
        err.print(f"[bold red]error:[/] {terminal_safe(exc)}")
        sys.exit(EXIT_FAILURE)
    stats = summary.stats
    Console().print(
        f"{stats.records:,} events from {stats.files:,} files into {terminal_safe(dest)} "
        f"({stats.records_failed:,} records failed, {stats.files_skipped:,} files skipped, "
        f"{len(summary.partitions):,} channel partitions)"
    )
    if strict and (summary.issues or stats.records_failed):
        sys.exit(EXIT_FAILURE)


def _usable_engine(name: str) -> str:
    """``name`` if it is a registered engine this installation can run, else a usage
    error saying which engines there are, or what to install."""
    try:
        return usable_engine(name).name
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from exc


@cli.group()
def rules() -> None:
    """Inspect rules: which load, what they need, whether a case can feed them."""


def _load_for_report(paths: tuple[Path, ...], default: bool, **choice: object) -> RuleSet:
    from .hunt import load_hunt_rules

    try:
        return load_hunt_rules(HuntConfig(rules=paths, default_rules=default, **choice))  # type: ignore[arg-type]
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--case",
    type=click.Path(exists=True, path_type=Path),
    help="Case file: also tell how many of its events each rule could see.",
)
@click.option("--no-default-rules", is_flag=True, help="Leave out the bundled rule pack.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
@click.option("--all", "show_all", is_flag=True, help="List rules that load fine too.")
def rules_check(
    paths: tuple[Path, ...],
    case: Path | None,
    no_default_rules: bool,
    as_json: bool,
    show_all: bool,
) -> None:
    """List every rule that cannot run (and why), and with --case every blind rule."""
    from .analytics.coverage import rule_statuses

    try:
        statuses = rule_statuses(_load_for_report(paths, not no_default_rules), case)
    except LotlhuntError as exc:  # a damaged case file
        Console(stderr=True).print(f"[bold red]error:[/] {terminal_text(str(exc))}")
        sys.exit(EXIT_FAILURE)
    problems = [
        s
        for s in statuses
        if s.state == "failed" or (s.state == "ok" and (s.events_in_case == 0 or s.reason))
    ]
    shown = statuses if show_all or as_json else problems
    _print_statuses(shown, as_json, with_case=case is not None)
    if not as_json:
        counts = {
            k: sum(1 for s in statuses if s.state == k)
            for k in ("ok", "failed", "not applicable", "correlation")
        }
        blind = sum(1 for s in statuses if s.state == "ok" and s.events_in_case == 0)
        warned = sum(1 for s in statuses if s.state == "ok" and s.reason)
        click.echo(
            f"{counts['ok']} rules load ({warned} with warnings), {counts['failed']} fail, "
            f"{counts['not applicable']} are not for Windows, {counts['correlation']} "
            "correlation rules"
            + (f"; {blind} loaded rules see no event of the case" if case else "")
        )


@rules.command("list")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--level",
    "levels",
    multiple=True,
    type=click.Choice(["critical", "high", "medium", "low", "informational"]),
)
@click.option("--status", "status", multiple=True)
@click.option("--tag", "tags", multiple=True, help="Tag prefix, e.g. attack.t1003.")
@click.option("--logsource", help="Part of the logsource, e.g. process_creation.")
@click.option("--no-default-rules", is_flag=True, help="Leave out the bundled rule pack.")
@click.option(
    "--profile",
    type=click.Choice(["core", "core+", "core++", "hunting", "all"]),
    help="Only the rules a hunt with this profile would run.",
)
@click.option(
    "--level-override",
    "level_override",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping rule ids or title globs to levels (applied first).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
def rules_list(
    paths: tuple[Path, ...],
    levels: tuple[str, ...],
    status: tuple[str, ...],
    tags: tuple[str, ...],
    logsource: str | None,
    no_default_rules: bool,
    profile: str | None,
    level_override: Path | None,
    as_json: bool,
) -> None:
    """List the rules that load, filtered by level, status, tag and logsource."""
    from .analytics.coverage import rule_statuses, select

    ruleset = _load_for_report(
        paths, not no_default_rules, profile=profile, level_overrides=level_override
    )
    statuses = [s for s in rule_statuses(ruleset) if s.state == "ok"]
    _print_statuses(select(statuses, levels, status, tags, logsource), as_json, with_case=False)


@rules.command("update")
@click.option(
    "--from",
    "source",
    metavar="URL|ZIP",
    help="Rule package to install: an http(s) URL or a local zip "
    "(default: SigmaHQ's latest sigma_all_rules.zip).",
)
@click.option("--sha256", help="Expected SHA-256 of the package (verified before unpacking).")
@click.option("--rollback", is_flag=True, help="Go back to the rule set installed before.")
def rules_update(source: str | None, sha256: str | None, rollback: bool) -> None:
    """Fetch a Sigma rule package into the data folder; hunts then load it by default."""
    from .rules import update as updates

    err = Console(stderr=True)
    try:
        if rollback:
            if source or sha256:
                raise UsageError("--rollback takes no --from or --sha256")
            changes = updates.rollback()
            click.echo(f"Rolled back: {changes.summary()}.")
            click.echo(f"Now: {updates.describe()}")
            return
        result = updates.update_rules(source, sha256)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except LotlhuntError as exc:
        err.print(f"[bold red]error:[/] {terminal_safe(exc)}")
        err.print("The installed rules are unchanged.")
        sys.exit(EXIT_FAILURE)
    verified = {
        "given": "matches --sha256",
        "published": "matches the published checksum",
        "none": "no checksum published or given",
    }[result.checksum]
    click.echo(
        f"Installed {result.files:,} rule files from {result.source} into {result.folder} "
        f"(sha256 {result.sha256}: {verified}; {result.skipped:,} other members not installed)."
    )
    click.echo(f"Rules: {result.changes.summary()}.")
    click.echo("Hunts load them by default; `lotlhunt rules update --rollback` undoes this.")


def print_noisiest(result: HuntResult, console: Console, n: int) -> None:
    """The rules with the most detections, and a line to paste to tune each."""
    from .analytics.noise import noisiest

    rows = noisiest(result.detections, n, result.suppressed)
    if not rows:
        return
    console.print(f"\n[bold]Noisiest rules[/] (top {len(rows)} by detections)")
    for r in rows:
        hosts = "set aside" if r.suppressed else f"{r.hosts:,} hosts"
        console.print(
            f"  {r.detections:>9,}  {terminal_text(r.title)} ({terminal_text(r.rule_id)}) "
            f"\\[{r.level}, {hosts}]",
            highlight=False,
            soft_wrap=True,
        )
        if r.field:
            console.print(
                f"             {r.share:.0%} share {terminal_text(r.field)} = "
                f"{terminal_text(r.value or '')}",
                highlight=False,
                soft_wrap=True,
            )
        for label, line in (("exclusion", r.exclusion_line()), ("level", r.override_line())):
            console.print(
                f"             {label + ':':<10} {terminal_text(line)}",
                highlight=False,
                soft_wrap=True,
            )


def _print_statuses(statuses: list[RuleStatus], as_json: bool, with_case: bool) -> None:
    if as_json:
        for s in statuses:
            click.echo(json.dumps(s.to_dict(), sort_keys=True))
        return
    table = Table()
    for col in ("rule", "state", "level", "logsource", "needs / reason"):
        table.add_column(col, overflow="fold")
    if with_case:
        table.add_column("events in case", justify="right")
    for s in statuses:
        row = [
            terminal_safe(s.rule),
            terminal_safe(s.state),
            terminal_safe(s.level),
            terminal_safe(s.logsource),
            terminal_safe(s.reason or s.needs),
        ]
        if with_case:
            row.append("" if s.events_in_case is None else f"{s.events_in_case:,}")
        table.add_row(*row)
    # As wide as the terminal (80 columns when not one); long cells fold.
    Console().print(table)


@cli.group()
def simulate() -> None:
    """Write a simulated network's logs with an intruder inside, and the ground truth."""


@simulate.command("volt-typhoon")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder (must be empty or absent).",
)
@click.option("--hosts", default=20, show_default=True, type=click.IntRange(min=4))
@click.option("--days", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--format",
    "fmt",
    default="evtx",
    show_default=True,
    type=click.Choice(["evtx", "jsonl", "both"]),
)
@click.option(
    "--events",
    type=click.IntRange(min=1),
    help="Approximate total events (scales the background activity).",
)
@click.option(
    "--benign-only",
    is_flag=True,
    help="The same network with no intruder: empty truth, a baseline to measure against.",
)
def simulate_volt_typhoon_cmd(
    out: Path,
    hosts: int,
    days: int,
    seed: int,
    fmt: str,
    events: int | None,
    benign_only: bool,
) -> None:
    """Volt Typhoon inside a critical-infrastructure Windows network (see truth.jsonl)."""
    from .simulate import LOGS_DIR, estimate_events, simulate_volt_typhoon

    if out.exists() and any(out.iterdir()):
        raise click.UsageError(f"--out {out} is not empty; choose a new folder")
    err = Console(stderr=True)
    bar = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with bar:
        task = bar.add_task("simulating", total=estimate_events(hosts, days, events))
        try:
            summary = simulate_volt_typhoon(
                out,
                hosts=hosts,
                days=days,
                seed=seed,
                fmt=fmt,
                events=events,
                progress=lambda n: bar.update(task, completed=n),
                benign_only=benign_only,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
    console = Console()
    attacked = ", ".join(summary.attacked_hosts) or "none (benign only)"
    console.print(
        f"Wrote {summary.events:,} events ({summary.malicious_events:,} malicious) for "
        f"{len(summary.hosts)} hosts in {summary.seconds:.1f} s to "
        f"{terminal_safe(out / LOGS_DIR)}.\n"
        f"Attacked hosts: {terminal_safe(attacked)}\n"
        f"Ground truth: {terminal_safe(out / 'truth.jsonl')}; "
        f"scenario: {terminal_safe(out / 'scenario.json')}\n"
        f"Hunt it: lotlhunt hunt {terminal_safe(out / LOGS_DIR)}"
    )


def main() -> None:
    """Entry point; click turns usage errors into exit 2."""
    cli(prog_name="lotlhunt")


if __name__ == "__main__":  # pragma: no cover
    main()
