"""Raw logs read on the Spark executors, straight into the Parquet case store.

The driver only lists the inputs (and cuts large files into parts, as local workers
do); each Spark task reads whole units with the same readers a local hunt uses
(:func:`lotlhunt.sources.read_unit`) and writes its rows as Parquet parts of the store,
returning only what it wrote and its :class:`~lotlhunt.sources.UnitReport`. Reading
then scales with the cluster, not with the driver. Every executor must see the input
paths and the store folder under the same names (a shared file system: HDFS or DBFS
mounts, NFS, or one machine in ``local`` mode).

Row ids are ``task << UNIT_BITS | n``: unique without coordination. Field spellings
are unified afterwards on the driver: a task knows only its own files' spellings, and
a field spelled two ways across files (``CommandLine``/``commandline`` in one JSON
export) would be two columns to a reader that compares names without case. The few
files that disagree with the store's first spelling are rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ...events.parquet_store import (
    ROW_ID,
    UNIT_BITS,
    FieldSpellings,
    PartWriter,
    PartWritten,
)
from ...sources.options import DEFAULT_OPTIONS, ReaderOptions

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ...sources import InputUnit, UnitReport


def _read_task(
    root: str, options: ReaderOptions, item: tuple[int, InputUnit]
) -> tuple[list[PartWritten], UnitReport]:
    """Read one unit into the store (runs on an executor)."""
    from ...sources import UnitReport, read_unit

    index, unit = item
    writer = PartWriter(Path(root), prefix=f"u{index:07d}")
    spellings = FieldSpellings()
    base = index << UNIT_BITS
    n = 0
    report: UnitReport | None = None
    for got in read_unit(unit, options):
        if isinstance(got, UnitReport):
            report = got
            continue
        table = spellings.unify(got)
        rids = pa.array(range(base + n, base + n + table.num_rows), pa.int64())
        n += table.num_rows
        writer.write(table.append_column(ROW_ID, rids))
    writer.flush()
    assert report is not None
    return writer.written, report


def read_on_executors(
    spark: SparkSession,
    units: Sequence[InputUnit],
    root: Path,
    options: ReaderOptions = DEFAULT_OPTIONS,
) -> tuple[list[PartWritten], list[UnitReport]]:
    """Read ``units`` with one Spark task each; the parts written and each unit's report
    (parts of a large file merged back into one report per file)."""
    from ...sources.parallel import _in_parts, _merged_reports

    if not units:
        return [], []
    parallel = max(1, spark.sparkContext.defaultParallelism)
    parts, counts = _in_parts(list(units), parallel, options)
    tasks = list(enumerate(parts))
    results = (
        spark.sparkContext.parallelize(tasks, numSlices=len(tasks))
        .map(partial(_read_task, str(root), options))
        .collect()
    )
    written = [p for got, _ in results for p in got]
    reports = list(_merged_reports(iter([r for _, r in results]), counts))
    unify_spellings(root, written)
    from ...sources import UnitReport

    return written, [r for r in reports if isinstance(r, UnitReport)]


def unify_spellings(root: Path, parts: list[PartWritten]) -> None:
    """Rewrite the parts whose field spellings differ from the first spelling seen."""
    spellings = FieldSpellings()
    for part in parts:
        wanted = [spellings.spell(c) for c in part.columns]
        if wanted == part.columns:
            continue
        path = root / part.path
        table = pq.read_table(path)
        rename = dict(zip(part.columns, wanted, strict=True))
        table = table.rename_columns([rename.get(c, c) for c in table.column_names])
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
        part.columns = wanted
