"""Where the read phase goes: reading, storing, and reading with 1 and 2 workers.

For a folder of logs this prints, per record in microseconds:

* the readers alone, in this process (CPU time: parsing, rows, Arrow batches), unit by
  unit and as a hunt reads in-process (``read_all`` with one worker: small units share
  batches), the lower of ``--runs`` runs each; with ``--readers-only`` nothing else;
* storing the same batches, replayed from memory through ``DuckDBEngine.ingest`` and
  ``flush`` (wall and CPU time, and the store's own steps: aligned copy, column
  presence, INSERT, checkpoint into DuckDB's table, or ``part``, writing Parquet parts;
  the steps run on the store's thread while ingest goes on);
* reading into the engine (``read_into``) with each ``--workers`` count, runs
  alternated, with the main process's CPU (what the readers leave it: storing), the
  store's steps and how long ingest waited for them.

    python bench/read_phase.py ../shared/data/evtx-attack-samples --workers 1 --workers 2
    python bench/read_phase.py ../shared/data/evtx-attack-samples --readers-only --runs 3

pandas is kept out of the process as the command line keeps it out: pyarrow imports it
on its first conversion of a list otherwise (0.35 s, which earlier figures of the
readers alone included).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from lotlhunt._support.no_pandas import keep_pandas_out
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.hunt import read_into
from lotlhunt.sources import discover
from lotlhunt.sources.parallel import read_all, read_unit


def _steps(engine: DuckDBEngine, records: int) -> str:
    seconds: dict[str, float] = getattr(engine.store, "seconds", {})
    return ", ".join(
        f"{step} {s:.2f} s ({s / records * 1e6:.1f} us)" for step, s in sorted(seconds.items())
    )


def _parts(engine: DuckDBEngine) -> str:
    """How many Parquet parts hold the events, and how many of them the readers wrote
    (the rest the engine wrote from batches handed on); "table" without parts."""
    parts = getattr(engine.store, "_parts", None)
    if getattr(engine.store, "parts_dir", None) is None or parts is None:
        return "table"
    folder = engine.store.parts_dir
    ours = {p.path for p in parts if p.first_rid < 1 << 40}
    return f"{len(parts)} ({len(parts) - len(ours)} by readers) in {folder}"


def _replay(batches: list[pa.RecordBatch]) -> None:
    """Store the batches read, replayed from memory, and say what it cost."""
    records = sum(b.num_rows for b in batches)
    us = 1e6 / max(records, 1)
    engine = DuckDBEngine()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            engine.ingest(batch)
        engine.flush()
        stored, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"storing them (replayed): {stored:.2f} s ({stored * us:.1f} us a record),"
            f" {cpu:.2f} s CPU ({cpu * us:.1f} us a record); parts: {_parts(engine)}"
        )
        print(f"  steps: {_steps(engine, records)}")
    finally:
        engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="a folder of EVTX or JSON logs")
    ap.add_argument("--workers", type=int, action="append", default=[])
    ap.add_argument("--runs", type=int, default=2, help="runs of each worker count")
    ap.add_argument("--readers-only", action="store_true", help="the readers alone, no more")
    ap.add_argument(
        "--into-only", action="store_true", help="only reading into the engine (read_into)"
    )
    args = ap.parse_args()
    keep_pandas_out()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load {os.getloadavg()}")

    units = discover([args.path]).units
    batches: list[pa.RecordBatch] = []
    for how in () if args.into_only else ("unit by unit", "read_all, in process"):
        best: tuple[float, float, int] | None = None
        for _ in range(max(args.runs, 1)):
            cpu, wall = time.process_time(), time.perf_counter()
            items: Iterable[object]
            if how == "unit by unit":
                items = (item for unit in units for item in read_unit(unit))
            else:
                items = read_all(units, 1)
            got = [b for b in items if isinstance(b, pa.RecordBatch)]
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if best is None or cpu < best[0]:
                best = (cpu, wall, len(got))
            batches = got
            del got
        assert best is not None  # at least one run
        cpu, wall, count = best
        records = sum(b.num_rows for b in batches)
        us = 1e6 / max(records, 1)
        print(
            f"{records:,} records in {count} batches; readers alone ({how}):"
            f" {wall:.2f} s wall, {cpu:.2f} s CPU ({cpu * us:.1f} us a record)"
        )
    if args.readers_only:
        return

    if not args.into_only:
        _replay(batches)
    del batches

    for run in range(args.runs):
        for workers in args.workers or [1, 2]:
            engine = DuckDBEngine()
            try:
                started, cpu = time.perf_counter(), time.process_time()
                stats = read_into(engine, [args.path], workers)
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                per = 1e6 / max(stats.records, 1)
                print(
                    f"read_into, {workers} worker(s), run {run + 1}: {seconds:.2f} s"
                    f" ({seconds * per:.1f} us a record), main process CPU {cpu:.2f} s"
                    f" ({cpu * per:.1f} us a record); parts: {_parts(engine)}"
                    f"; load {os.getloadavg()[0]:.1f}"
                )
                print(f"  steps: {_steps(engine, max(stats.records, 1))}")
            finally:
                engine.close()


if __name__ == "__main__":
    main()
