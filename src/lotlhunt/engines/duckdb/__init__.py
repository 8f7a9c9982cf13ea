"""DuckDB, the embedded default engine: storage, slices, rule evaluation, correlations."""

from .engine import DuckDBEngine, Evaluation

__all__ = ["DuckDBEngine", "Evaluation"]
