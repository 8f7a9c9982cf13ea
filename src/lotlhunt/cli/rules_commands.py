"""``lotlhunt rules``: which rules load, what they need, whether a case can feed them,
and installing a newer Sigma rule package."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .._support.text import terminal_safe
from ..analytics.coverage import RuleStatus
from ..errors import LotlhuntError, UsageError
from ..hunt import HuntConfig
from ..rules.loader import RuleSet
from .options import EXIT_FAILURE, NO_DEFAULT_RULES, PROFILES, fail


@click.group()
def rules() -> None:
    """Inspect rules: which load, what they need, whether a case can feed them."""


def _load_for_report(paths: tuple[Path, ...], default: bool, **choice: object) -> RuleSet:
    from ..hunt import load_hunt_rules

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
@NO_DEFAULT_RULES
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
    from ..analytics.coverage import rule_statuses

    try:
        statuses = rule_statuses(_load_for_report(paths, not no_default_rules), case)
    except LotlhuntError as exc:  # a damaged case file
        fail(exc)
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
@NO_DEFAULT_RULES
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
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
    from ..analytics.coverage import rule_statuses, select

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
    from ..rules import update as updates

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
