"""The Spark session a hunt runs on: made from options, or the caller's own.

Spark users configure a job with a master URL and ``key=value`` settings
(``spark-submit --master ... --conf ...``); lotlhunt takes the same two things
(``--spark-master``, ``--spark-conf``) or, from Python, an existing session (a notebook
on Databricks or EMR already has one, configured by the platform). pyspark is imported
here, when a Spark hunt starts, never by ``import lotlhunt``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Settings lotlhunt needs, applied unless the user sets them: times are UTC like the
#: events table, field names compare without case like Sigma's, Arrow carries results
#: to the driver, and no web UI port is opened by a command-line run.
DEFAULT_CONF: tuple[tuple[str, str], ...] = (
    ("spark.sql.session.timeZone", "UTC"),
    ("spark.sql.caseSensitive", "false"),
    ("spark.sql.execution.arrow.pyspark.enabled", "true"),
    ("spark.ui.enabled", "false"),
    ("spark.ui.showConsoleProgress", "false"),
)
#: Heap of the driver's JVM in local mode, unless set: the executors run inside it there,
#: and Spark's default (1 GB) ran out of heap hunting 1 M simulated events with SigmaHQ's
#: rules (``bench/spark_engine.py``, which ran it at 4 GB). A bound, not an allocation.
LOCAL_DRIVER_MEMORY = "4g"
#: Settings that must hold for results to be right, enforced on a caller's session too.
REQUIRED_CONF: tuple[tuple[str, str], ...] = (
    ("spark.sql.session.timeZone", "UTC"),
    ("spark.sql.caseSensitive", "false"),
)


@dataclass(frozen=True)
class SparkOptions:
    """Where and how to run: ``master`` as ``spark-submit --master`` takes it."""

    master: str = "local[*]"
    conf: tuple[tuple[str, str], ...] = ()
    app_name: str = "lotlhunt"
    #: An existing session (Python API); ``master`` and ``conf`` are then not applied.
    session: Any = field(default=None, compare=False)
    #: Read raw log files on the executors (each task reads whole files with the same
    #: readers) rather than on the driver.
    read_on_executors: bool = True
    #: Cases with fewer events than this are evaluated with expressions interpreted,
    #: not compiled to Java (:data:`INTERPRETED_CONF`): compiling SigmaHQ's rule set costs
    #: minutes on the driver before any row is read, repaid only over many rows.
    interpret_below_rows: int = 10_000_000
    #: Evaluate rules per field on the executors, by the embedded engine's evaluator
    #: (:mod:`.by_field`), where the rules' DuckDB twins are known; False: every rule
    #: as Spark SQL on every row of its slice (a hundred times the CPU an event).
    by_field: bool = True
    #: Rows of a partition a task evaluates at once (per field: each chunk's distinct
    #: values once): bounds a Python worker's memory on large partitions.
    rows_per_chunk: int = 1_000_000

    @staticmethod
    def parse_conf(pairs: Sequence[str]) -> tuple[tuple[str, str], ...]:
        """``key=value`` strings as the command line gives them; a clear error otherwise."""
        out = []
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--spark-conf takes key=value, not {pair!r}")
            out.append((key.strip(), value))
        return tuple(out)


def session_conf(options: SparkOptions) -> list[tuple[str, str]]:
    """The settings a new session is built with: lotlhunt's defaults the user did not
    set (:data:`DEFAULT_CONF`, and in local mode :data:`LOCAL_DRIVER_MEMORY`), then the
    user's own."""
    given = {k for k, _ in options.conf}
    defaults = list(DEFAULT_CONF)
    if options.master.startswith("local"):
        defaults.append(("spark.driver.memory", LOCAL_DRIVER_MEMORY))
    return [(k, v) for k, v in defaults if k not in given] + list(options.conf)


def spark_session(options: SparkOptions) -> SparkSession:
    """The session to hunt on: the caller's, or one built from ``options``."""
    from pyspark.sql import SparkSession

    if options.session is not None:
        session = options.session
    else:
        if options.master.startswith("local"):
            # Python workers run this interpreter (with lotlhunt and its dependencies),
            # not whatever ``python3`` is first on the PATH. On a cluster the platform
            # (or spark.pyspark.python) says which Python the executors run.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.appName(options.app_name).master(options.master)
        for key, value in session_conf(options):
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
    for key, value in REQUIRED_CONF:
        session.conf.set(key, value)
    return session


#: Settings that make Spark interpret expressions instead of compiling them to Java.
#: Compiling a plan costs the driver (and every executor) seconds per rule group with
#: SigmaHQ's large rules, paid before the first row; interpreting costs per row. On few
#: rows (explanations of matched events, small cases) interpreting is the cheaper.
INTERPRETED_CONF: tuple[tuple[str, str], ...] = (
    ("spark.sql.codegen.wholeStage", "false"),
    ("spark.sql.codegen.factoryMode", "NO_CODEGEN"),
)


@contextmanager
def interpreted(session: SparkSession) -> Iterator[None]:
    """Run the jobs started inside with expressions interpreted (:data:`INTERPRETED_CONF`),
    the session's own settings restored after."""
    saved = [(key, session.conf.get(key, None)) for key, _ in INTERPRETED_CONF]
    for key, value in INTERPRETED_CONF:
        session.conf.set(key, value)
    try:
        yield
    finally:
        for key, before in saved:
            if before is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, before)
