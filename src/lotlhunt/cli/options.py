"""Option declarations the commands share, and how every command turns an error into
an exit code.

Exit codes scripts can rely on: 0 the command ran (findings or not), 1 it failed or,
with ``--strict``, an input or rule could not be read, 2 the command line was wrong.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from .._support.text import terminal_safe
from ..engines import usable_engine
from ..engines.base import EngineOptions
from ..errors import LotlhuntError, UsageError
from ..reports import REPORTS
from ..scope import EventScope

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: Profiles of ``--profile``: rules chosen by level and status.
PROFILES = ("core", "core+", "core++", "hunting", "all")


def _stack(func: F, options: Sequence[Callable[[F], F]]) -> F:
    """``func`` with ``options`` applied so that ``--help`` lists them in this order."""
    for option in reversed(options):
        func = option(func)
    return func


def event_scope_options(func: F) -> F:
    """``--from``, ``--to``, ``--host`` and ``--event-id``, as ``hunt`` and the other
    commands that read events take them."""
    return _stack(
        func,
        [
            click.option(
                "--from",
                "since",
                metavar="TIME",
                help="Only events at or after TIME: ISO 8601 (2026-03-01T10:00Z) or back "
                "from now (30m, 12h, 7d, 2w).",
            ),
            click.option("--to", "until", metavar="TIME", help="Only events before TIME."),
            click.option(
                "--host",
                "hosts",
                multiple=True,
                metavar="GLOB",
                help="Only events of hosts matching GLOB (* and ?, any case; repeatable).",
            ),
            click.option(
                "--event-id",
                "event_ids",
                multiple=True,
                type=int,
                metavar="ID",
                help="Only events with this event id (repeatable).",
            ),
        ],
    )


def event_scope(
    since: str | None, until: str | None, hosts: Sequence[str], event_ids: Sequence[int]
) -> EventScope:
    """The scope the four options describe; a bad time is a usage error (exit 2)."""
    try:
        return EventScope.parse(since, until, hosts, event_ids)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc


PATHS = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
CASE = click.option(
    "--case",
    type=click.Path(path_type=Path),
    help="DuckDB case file: without PATHs, read it; with PATHs, store the logs there.",
)
WORKERS = click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Cores to use: reader processes, and a hunt's query threads (default: all).",
)
JSONL = click.option("--jsonl", type=click.Path(path_type=Path), help="Write rows as JSON lines.")
CSV = click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write rows as CSV.")
ISSUES = click.option(
    "--issues",
    "issues_path",
    type=click.Path(path_type=Path),
    help="Write every input problem and skipped file as JSON lines.",
)
NO_DEFAULT_RULES = click.option(
    "--no-default-rules", is_flag=True, help="Leave out the bundled rule pack."
)
LEVEL_OVERRIDE = click.option(
    "--level-override",
    "level_override",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping rule ids or title globs to levels.",
)


def report_options(command: F) -> F:
    """One ``--OPTION FILE`` per registered report, in registry order."""
    return _stack(
        command,
        [
            click.option(
                report.option, report.name, type=click.Path(path_type=Path), help=report.help
            )
            for report in REPORTS.values()
        ],
    )


def spark_options(func: F) -> F:
    """``--spark-master`` and ``--spark-conf``, for the commands that can run on Spark."""
    return _stack(
        func,
        [
            click.option(
                "--spark-master",
                default="local[*]",
                show_default=True,
                help="With --engine spark: the master URL, as spark-submit --master takes it.",
            ),
            click.option(
                "--spark-conf",
                "spark_conf",
                multiple=True,
                metavar="KEY=VALUE",
                help="With --engine spark: a Spark setting (repeatable), as spark-submit --conf.",
            ),
        ],
    )


def engine_options(spark_master: str, spark_conf: tuple[str, ...]) -> EngineOptions:
    """Engine tuning from the environment (read here, at the edge), and the Spark
    session's settings."""
    from ..engines.spark.session import SparkOptions

    try:
        conf = SparkOptions.parse_conf(spark_conf)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--spark-conf") from exc
    return replace(EngineOptions.from_env(), spark=SparkOptions(master=spark_master, conf=conf))


def usable_engine_name(name: str) -> str:
    """``name`` if it is a registered engine this installation can run, else a usage
    error saying which engines there are, or what to install."""
    try:
        return usable_engine(name).name
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from exc


def fail(exc: BaseException | str, err: Console | None = None) -> NoReturn:
    """Say what went wrong on stderr, made safe for the terminal, and exit 1."""
    (err or Console(stderr=True)).print(f"[bold red]error:[/] {terminal_safe(exc)}")
    sys.exit(EXIT_FAILURE)


def run_or_exit(work: Callable[[], Any]) -> Any:
    """``work()``, with usage errors as click's (exit 2) and the library's as exit 1."""
    try:
        return work()
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except LotlhuntError as exc:
        fail(exc)


def top_option(default: int, help: str) -> Callable[[F], F]:
    """``--top N``: how many rows of each table the terminal shows."""
    return click.option(
        "--top", default=default, show_default=True, type=click.IntRange(min=1), help=help
    )


@dataclass(frozen=True)
class LogsIn:
    """The logs a reading command looks at, as its options give them."""

    paths: tuple[Path, ...]
    case: Path | None
    scope: EventScope
    workers: int | None
    issues_path: Path | None


def logs_in_options(func: Callable[..., None]) -> Callable[..., None]:
    """``PATHS``, ``--case``, the event scope, ``--issues`` and ``--workers``, handed to
    the command as one :class:`LogsIn` (its first argument) instead of eight."""

    @functools.wraps(func)
    def command(
        *,
        paths: tuple[Path, ...],
        case: Path | None,
        since: str | None,
        until: str | None,
        hosts: tuple[str, ...],
        event_ids: tuple[int, ...],
        issues_path: Path | None,
        workers: int | None,
        **rest: Any,
    ) -> None:
        scope = event_scope(since, until, hosts, event_ids)
        func(LogsIn(paths, case, scope, workers, issues_path), **rest)

    return _stack(command, [PATHS, CASE, event_scope_options, ISSUES, WORKERS])
