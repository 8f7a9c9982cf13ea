"""Inserting events into DuckDB a row group at a time against smaller inserts.

Reads a folder of logs into Arrow batches once (in this process, not timed), then
replays them through ``DuckDBEngine.ingest`` into the compressed in-memory store: as the
engine does it (whole row groups of ``EngineOptions.row_group_rows``), and with a
smaller insert size (the 65,536 rows used before, each insert filling a partly filled
row group). Prints
both times and their ratio; the table's row count is checked after each run.

    python bench/insert_groups.py PATH [--copies N] [--rows 65536]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import pyarrow as pa

from lotlhunt.engines.base import EngineOptions
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.sources import discover
from lotlhunt.sources.parallel import read_unit


def batches_of(path: Path) -> list[pa.RecordBatch]:
    out: list[pa.RecordBatch] = []
    for unit in discover([path]).units:
        out.extend(b for b in read_unit(unit) if isinstance(b, pa.RecordBatch))
    return out


def replay(batches: list[pa.RecordBatch], group_rows: int) -> float:
    """Seconds to ingest and flush ``batches`` with inserts of ``group_rows`` rows."""
    # the size the engine buffers up to
    engine = DuckDBEngine(options=EngineOptions(row_group_rows=group_rows))
    try:
        start = time.perf_counter()
        for batch in batches:
            engine.ingest(batch)
        engine.flush()
        seconds = time.perf_counter() - start
        assert engine.count() == sum(b.num_rows for b in batches)
    finally:
        engine.close()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="a folder of EVTX or JSON logs")
    ap.add_argument("--copies", type=int, default=3, help="replay the batches this often")
    ap.add_argument("--rows", type=int, default=65_536, help="the smaller insert size")
    args = ap.parse_args()
    batches = batches_of(args.path) * args.copies
    rows = sum(b.num_rows for b in batches)
    columns = len({n.lower() for b in batches for n in b.schema.names})
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    print(f"{rows:,} events, {columns} columns, {len(batches)} batches")
    whole = replay(batches, EngineOptions().row_group_rows)
    smaller = replay(batches, args.rows)
    print(f"{'insert rows':>12} {'seconds':>8} {'events/s':>10}")
    for size, seconds in ((EngineOptions().row_group_rows, whole), (args.rows, smaller)):
        print(f"{size:>12,} {seconds:>8.1f} {rows / seconds:>10,.0f}")
    print(f"ratio (smaller / whole row groups): {smaller / whole:.2f}")


if __name__ == "__main__":
    main()
