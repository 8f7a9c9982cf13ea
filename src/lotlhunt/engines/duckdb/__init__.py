"""DuckDB, the embedded default engine: storage, slices, rule evaluation, correlations.

Registered as ``duckdb``; the engine module (and DuckDB itself) is imported when an
engine is made, not when the registry is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...rules.compile.dialect import DUCKDB
from .. import EngineEntry, register

if TYPE_CHECKING:
    from ..base import Engine, EngineOptions


def _make(case: str | None, options: EngineOptions) -> Engine:
    from .engine import DuckDBEngine

    return DuckDBEngine(case, options)


register(
    EngineEntry(
        name="duckdb",
        description="DuckDB in this process: events in memory, or in a --case file",
        dialect=DUCKDB,
        factory=_make,
    )
)
