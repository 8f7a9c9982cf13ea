"""Engines run compiled rules over the events table.

An engine owns the events table (ingest) and evaluates rules on it; DuckDB in-process is
the default. Engines are chosen by name from :data:`ENGINES`.
"""

from __future__ import annotations

from .duckdb.engine import DuckDBEngine, Evaluation

ENGINES: dict[str, type[DuckDBEngine]] = {"duckdb": DuckDBEngine}

__all__ = ["ENGINES", "DuckDBEngine", "Evaluation"]
