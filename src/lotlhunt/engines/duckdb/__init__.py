"""DuckDB, the embedded default engine: storage, slices, rule evaluation, correlations.

Registered as ``duckdb``; the engine module (and DuckDB itself) is imported when an
engine is made, not when the registry is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...rules.compile.dialect import DUCKDB
from .. import EngineEntry, register

if TYPE_CHECKING:
    from ..base import Engine, EngineOptions


def _make(case: str | None, options: EngineOptions) -> Engine:
    from ...events.parquet_store import is_store
    from .engine import DuckDBEngine

    if case is not None and is_store(Path(case)):
        # A Parquet case store: loaded into memory, the store itself is never written.
        from .parquet import load_store

        engine = DuckDBEngine(None, options)
        load_store(engine, Path(case))
        return engine
    return DuckDBEngine(case, options)


register(
    EngineEntry(
        name="duckdb",
        description="DuckDB in this process: events in memory, or in a --case file",
        dialect=DUCKDB,
        factory=_make,
    )
)
