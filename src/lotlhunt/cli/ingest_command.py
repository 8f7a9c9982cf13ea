"""``lotlhunt ingest``: read logs once into a Parquet case store that any engine hunts."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from .._support.no_pandas import let_pandas_in
from .._support.text import terminal_safe
from ..errors import LotlhuntError, UsageError
from .options import EXIT_FAILURE, WORKERS, engine_options, fail, spark_options
from .progress import RichProgress


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(path_type=Path),
    help="New folder for the Parquet case store.",
)
@WORKERS
@click.option(
    "--engine",
    "engine_name",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="Read here (local worker processes) or on Spark's executors.",
)
@spark_options
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
    from ..case_store import ingest_to_store

    if engine_name == "spark":
        let_pandas_in()  # pyspark converts Arrow tables through pandas
    err = Console(stderr=True)
    options = engine_options(spark_master, spark_conf) if engine_name == "spark" else None
    try:
        with RichProgress(err) as progress:
            summary = ingest_to_store(paths, dest, workers, progress, options)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except LotlhuntError as exc:
        fail(exc, err)
    stats = summary.stats
    Console().print(
        f"{stats.records:,} events from {stats.files:,} files into {terminal_safe(dest)} "
        f"({stats.records_failed:,} records failed, {stats.files_skipped:,} files skipped, "
        f"{len(summary.partitions):,} channel partitions)"
    )
    if strict and (summary.issues or stats.records_failed):
        sys.exit(EXIT_FAILURE)
