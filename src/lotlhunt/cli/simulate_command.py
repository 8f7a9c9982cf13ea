"""``lotlhunt simulate``: a labelled network's logs with an intruder inside."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._support.text import terminal_safe
from ..settings import Settings


@click.group()
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
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that write the hosts (default: $LOTLHUNT_SIM_WORKERS, else by size).",
)
def simulate_volt_typhoon_cmd(
    out: Path,
    hosts: int,
    days: int,
    seed: int,
    fmt: str,
    events: int | None,
    benign_only: bool,
    workers: int | None,
) -> None:
    """Volt Typhoon inside a critical-infrastructure Windows network (see truth.jsonl)."""
    from ..simulate import LOGS_DIR, estimate_events, simulate_volt_typhoon

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
                workers=workers if workers is not None else Settings.from_environ().sim_workers,
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
