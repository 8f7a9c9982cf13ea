"""Apache Spark, for cases too large for one machine (:class:`.engine.SparkEngine`).

Registered disabled, with what to install, when pyspark is missing: pyspark is an
optional extra (``pip install 'lotlhunt[spark]'``) and is imported only when a Spark
hunt starts, never by ``import lotlhunt``.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

from ...rules.compile.dialect import SPARK
from .. import EngineEntry, register
from .session import SparkOptions

if TYPE_CHECKING:
    from ..base import Engine, EngineOptions

#: Why the engine cannot run when pyspark is missing.
MISSING = "pyspark is not installed: pip install 'lotlhunt[spark]'"


def _make(case: str | None, options: EngineOptions) -> Engine:
    from .engine import SparkEngine

    spark = options.spark if isinstance(options.spark, SparkOptions) else SparkOptions()
    return SparkEngine(case, options, spark)


def disabled_reason() -> str | None:
    """Why the Spark engine cannot be used in this installation (None: it can)."""
    return None if find_spec("pyspark") is not None else MISSING


register(
    EngineEntry(
        name="spark",
        description="Apache Spark (local[*] or a cluster) over a Parquet case store",
        dialect=SPARK,
        factory=_make,
        disabled=disabled_reason(),
    )
)

__all__ = ["MISSING", "SparkOptions", "disabled_reason"]
