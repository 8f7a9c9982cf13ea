"""The ``lotlhunt`` command: a thin shell over the library.

Exit codes scripts can rely on: 0 the hunt ran (findings or not), 1 it failed or, with
``--strict``, an input or rule could not be read, 2 the command line was wrong.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .analytics.coverage import RuleStatus
from .engines import DEFAULT_ENGINE, ENGINES, usable_engine
from .errors import LotlhuntError, UsageError
from .hunt import HuntConfig, run_hunt
from .hunting_cli import event_scope, event_scope_options, logons, search
from .hunting_cli import stats as stats_cmd
from .model import LEVELS
from .reports import write_csv, write_incidents, write_jsonl, write_stats
from .reports.console import print_explanations, print_summary
from .reports.issues import write_issues
from .reports.rows import terminal_text
from .rules.loader import RuleSet
from .scope import RuleScope

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class RichProgress:
    """Adapts :class:`lotlhunt.hunt.Progress` to a rich progress bar on stderr.

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
        self.console.print(f"[dim]{message}[/]")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lotlhunt")
def cli() -> None:
    """Hunt living-off-the-land intrusions in Windows event logs."""


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
@click.option("--jsonl", type=click.Path(path_type=Path), help="Write detections as JSON lines.")
@click.option(
    "--csv", "csv_path", type=click.Path(path_type=Path), help="Write a CSV timeline of detections."
)
@click.option("--stats", type=click.Path(path_type=Path), help="Write counts as JSON.")
@click.option(
    "--incidents",
    "incidents_path",
    type=click.Path(path_type=Path),
    help="Write incidents as JSON lines, best first.",
)
@click.option(
    "--case",
    type=click.Path(path_type=Path),
    help="DuckDB case file: logs are stored there; without PATHs, re-hunt it.",
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
    "--issues",
    "issues_path",
    type=click.Path(path_type=Path),
    help="Write every input and rule problem and skipped file as JSON lines.",
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
def hunt(
    paths: tuple[Path, ...],
    rules: tuple[Path, ...],
    no_default_rules: bool,
    jsonl: Path | None,
    csv_path: Path | None,
    stats: Path | None,
    incidents_path: Path | None,
    case: Path | None,
    workers: int | None,
    strict: bool,
    placeholders: Path | None,
    exclusions: Path | None,
    explain: bool,
    since: str | None,
    until: str | None,
    hosts: tuple[str, ...],
    event_ids: tuple[int, ...],
    min_level: str | None,
    tags: tuple[str, ...],
    issues_path: Path | None,
    engine_name: str,
) -> None:
    """Read logs (EVTX, JSON, zip, folders) and run Sigma rules over them."""
    console = Console(stderr=False)
    err = Console(stderr=True)
    config = HuntConfig(
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
    )
    try:
        with RichProgress(err) as progress:
            result = run_hunt(config, progress)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except LotlhuntError as exc:
        err.print(f"[bold red]error:[/] {terminal_text(str(exc))}")
        sys.exit(EXIT_FAILURE)
    if jsonl:
        write_jsonl(result, jsonl)
    if csv_path:
        write_csv(result, csv_path)
    if stats:
        write_stats(result, stats)
    if incidents_path:
        write_incidents(result, incidents_path)
    if issues_path:
        write_issues(result, issues_path)
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
    if strict and result.issues:
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


def _load_for_report(paths: tuple[Path, ...], default: bool) -> RuleSet:
    from .hunt import load_hunt_rules

    try:
        return load_hunt_rules(HuntConfig(rules=paths, default_rules=default))
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

    statuses = rule_statuses(_load_for_report(paths, not no_default_rules), case)
    problems = [
        s for s in statuses if s.state == "failed" or (s.state == "ok" and s.events_in_case == 0)
    ]
    shown = statuses if show_all or as_json else problems
    _print_statuses(shown, as_json, with_case=case is not None)
    if not as_json:
        counts = {
            k: sum(1 for s in statuses if s.state == k)
            for k in ("ok", "failed", "not applicable", "correlation")
        }
        blind = sum(1 for s in statuses if s.state == "ok" and s.events_in_case == 0)
        click.echo(
            f"{counts['ok']} rules load, {counts['failed']} fail, "
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
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
def rules_list(
    paths: tuple[Path, ...],
    levels: tuple[str, ...],
    status: tuple[str, ...],
    tags: tuple[str, ...],
    logsource: str | None,
    no_default_rules: bool,
    as_json: bool,
) -> None:
    """List the rules that load, filtered by level, status, tag and logsource."""
    from .analytics.coverage import rule_statuses, select

    statuses = [
        s for s in rule_statuses(_load_for_report(paths, not no_default_rules)) if s.state == "ok"
    ]
    _print_statuses(select(statuses, levels, status, tags, logsource), as_json, with_case=False)


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
        row = [escape(s.rule), s.state, s.level, s.logsource, escape(s.reason or s.needs)]
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
        f"{len(summary.hosts)} hosts in {summary.seconds:.1f} s to {out / LOGS_DIR}.\n"
        f"Attacked hosts: {attacked}\n"
        f"Ground truth: {out / 'truth.jsonl'}; scenario: {out / 'scenario.json'}\n"
        f"Hunt it: lotlhunt hunt {out / LOGS_DIR}"
    )


def main() -> None:
    """Entry point; click turns usage errors into exit 2."""
    cli(prog_name="lotlhunt")


if __name__ == "__main__":  # pragma: no cover
    main()
