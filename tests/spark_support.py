"""A Spark session for the tests that compare engines, and when they may skip.

pyspark is an optional extra: a checkout without it skips these tests, but CI sets
``LOTLHUNT_REQUIRE_SPARK=1`` (``.ci/run``), which turns the skip into a failure.
One ``local[2]`` session serves the whole test session: starting the JVM costs seconds.
"""

from __future__ import annotations

import os
import shutil
from importlib.util import find_spec

import pytest

from lotlhunt.engines.base import EngineOptions
from lotlhunt.engines.spark.session import SparkOptions

SPARK_OPTIONS = SparkOptions(master="local[2]", conf=(("spark.sql.shuffle.partitions", "4"),))


def require_spark() -> None:
    message = None
    if find_spec("pyspark") is None:
        message = "pyspark is not installed (pip install 'lotlhunt[spark]')"
    elif shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        message = "no Java runtime for Spark (install a JRE 17 or later)"
    if message is not None:
        if os.environ.get("LOTLHUNT_REQUIRE_SPARK") == "1":
            pytest.fail(f"{message} (LOTLHUNT_REQUIRE_SPARK=1)")
        pytest.skip(message)


def spark_options(**tuning: object) -> EngineOptions:
    return EngineOptions(spark=SPARK_OPTIONS, **tuning)  # type: ignore[arg-type]
