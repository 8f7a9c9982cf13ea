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
    from .engine import DuckDBEngine

    if case is not None and _is_store(case):
        # A Parquet case store: loaded into memory, the store itself is never written.
        from .parquet import load_store

        engine = DuckDBEngine(None, options)
        load_store(engine, Path(case))
        return engine
    return DuckDBEngine(case, options)


def _is_store(case: str) -> bool:
    # Imported here: Parquet (and the TLS library pyarrow's file systems load) costs a
    # hunt without a case a twentieth of a second.
    from ...events.parquet_store import is_store

    return is_store(Path(case))


register(
    EngineEntry(
        name="duckdb",
        description="DuckDB in this process: events in memory, or in a --case file",
        dialect=DUCKDB,
        factory=_make,
    )
)
