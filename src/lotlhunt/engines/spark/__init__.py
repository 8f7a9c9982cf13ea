"""Apache Spark, for cases too large for one machine: registered, not yet able to run.

Rules compile to Spark SQL already (:data:`lotlhunt.rules.compile.dialect.SPARK`); the
engine that would run them on a Spark session is not built. The entry says so, and
says what to install when pyspark is missing, rather than pretend.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

from ...errors import UsageError
from ...rules.compile.dialect import SPARK
from .. import EngineEntry, register

if TYPE_CHECKING:
    from ..base import Engine, EngineOptions

#: Why the engine cannot run, with and without pyspark installed.
MISSING = "pyspark is not installed: pip install 'lotlhunt[spark]'"
NOT_BUILT = (
    "not available yet: rules compile to Spark SQL, but lotlhunt does not run them on "
    "Spark yet; use --engine duckdb"
)


def _make(case: str | None, options: EngineOptions) -> Engine:
    raise UsageError(f"engine 'spark' is not available: {disabled_reason()}")


def disabled_reason() -> str:
    """Why the Spark engine cannot be used in this installation."""
    return NOT_BUILT if find_spec("pyspark") is not None else MISSING


register(
    EngineEntry(
        name="spark",
        description="Apache Spark (local or a cluster)",
        dialect=SPARK,
        factory=_make,
        disabled=disabled_reason(),
    )
)
