"""``lotlhunt ingest``: read logs once into a Parquet case store, hunt it many times.

The store (:mod:`lotlhunt.events.parquet_store`) is what the Spark engine hunts, on a
laptop or a cluster, and what the embedded engine can load; reading happens here, in
local worker processes, or on Spark's executors when the Spark engine is asked for.
Every record read is in the store or in the failure counts kept beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .engines.base import EngineOptions, EventSink
from .errors import InputIssue, UsageError
from .events.parquet_store import StoreError, StoreWriter, is_store
from .hunt import Progress, _Silent, default_workers, ingest
from .model import HuntStats


@dataclass
class IngestSummary:
    """What went into the store and what could not."""

    stats: HuntStats
    issues: list[InputIssue] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)


def ingest_to_store(
    paths: Sequence[str | Path],
    dest: str | Path,
    workers: int | None = None,
    progress: Progress | None = None,
    spark: EngineOptions | None = None,
) -> IngestSummary:
    """Read ``paths`` into a new store at ``dest``; with ``spark`` (engine options
    carrying Spark settings), on that Spark session's executors."""
    summary = IngestSummary(HuntStats())
    if is_store(Path(dest)):
        raise UsageError(f"{dest} already holds a case store: a store is written once")
    try:
        if spark is not None:
            from .engines import create_engine

            sink: EventSink = create_engine("spark", dest, spark)
        else:
            sink = StoreWriter(Path(dest))
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    ingest(
        sink,
        paths,
        workers or default_workers(),
        progress or _Silent(),
        summary.stats,
        summary.issues,
        summary.skipped,
    )
    from .events.parquet_store import Store

    store = Store.open(Path(dest))
    summary.partitions = sorted({c for p in store.manifest.partitions.values() for c in p.channels})
    return summary
