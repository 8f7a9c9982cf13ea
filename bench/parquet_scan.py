"""The hunt phase on events held in DuckDB's own table against the same events as Parquet.

Reads a folder of logs once, in this process, then hunts the same batches twice with
every SigmaHQ rule folder and the bundled pack, alternating:

* ``table``: batches inserted into the engine's compressed events table (the engine's
  store before parts);
* ``parts``: runs of batches written as Parquet parts (``--part-rows`` rows each, row
  groups of ``--group-rows``, snappy) with their row ids, as reader workers write them;
  the engine's events a view over the parts (``read_parquet([...], union_by_name=true)``).

Prints, per run, the time of rule evaluation (``evaluate``) and of reading the matched
events back with their explanations (``collect``), and checks that both hold the same
detections (rule, row id).

    python bench/parquet_scan.py ../shared/data/mordor --runs 2
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from parse_vs_hunt import DEFAULT_RULES  # noqa: E402

from lotlhunt.detections import collect_detections  # noqa: E402
from lotlhunt.engines.base import EngineOptions  # noqa: E402
from lotlhunt.engines.duckdb.engine import DuckDBEngine  # noqa: E402
from lotlhunt.events.parts import (  # noqa: E402
    GROUP_ROWS,
    PART_ROWS,
    ROW_ID,
    EventPart,
    take_unified,
    write_part,
)
from lotlhunt.hunt import load_hunt_rules  # noqa: E402
from lotlhunt.hunt_config import HuntConfig  # noqa: E402
from lotlhunt.sources import discover  # noqa: E402
from lotlhunt.sources.parallel import read_unit  # noqa: E402


def _parts(
    batches: list[pa.RecordBatch], folder: Path, rows: int, group_rows: int
) -> list[EventPart]:
    """Runs of batches of about ``rows`` rows, each written as one part with its row ids
    (as the engine numbers them), in row groups of ``group_rows``."""
    parts: list[EventPart] = []
    rid = 0
    run: list[pa.Table] = []
    held = 0

    def write() -> None:
        nonlocal rid, held
        table = take_unified(run, 1)
        ids = pa.array(range(rid, rid + table.num_rows), pa.int64())
        rid += table.num_rows
        path = folder / f"part-{len(parts):06d}.parquet"
        parts.append(write_part(table.append_column(ROW_ID, ids), str(path), group_rows))
        run.clear()
        held = 0

    for batch in batches:
        run.append(pa.Table.from_batches([batch]))
        held += batch.num_rows
        if held >= rows:
            write()
    if run:
        write()
    return parts


def _hunt(engine: DuckDBEngine, ruleset: object) -> tuple[float, float, set[tuple[int, int]]]:
    rules = ruleset.rules  # type: ignore[attr-defined]
    started = time.perf_counter()
    evaluation = engine.evaluate(rules)
    evaluated = time.perf_counter() - started
    started = time.perf_counter()
    detections = collect_detections(engine, rules, evaluation.matches)
    collected = time.perf_counter() - started
    pairs = set(
        zip(
            evaluation.matches.column("rule").to_pylist(),
            evaluation.matches.column("rid").to_pylist(),
            strict=True,
        )
    )
    del detections
    return evaluated, collected, pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="a folder of EVTX or JSON logs")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--part-rows", type=int, default=PART_ROWS, help="rows per part")
    ap.add_argument("--group-rows", type=int, default=GROUP_ROWS, help="rows per row group")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load {os.getloadavg()}")
    ruleset = load_hunt_rules(HuntConfig(rules=[r for r in DEFAULT_RULES if r.exists()]))
    batches: list[pa.RecordBatch] = []
    for unit in discover([args.path]).units:
        batches.extend(b for b in read_unit(unit) if isinstance(b, pa.RecordBatch))
    records = sum(b.num_rows for b in batches)
    folder = Path(tempfile.mkdtemp(prefix="lotlhunt-parts-"))
    try:
        started = time.perf_counter()
        parts = _parts(batches, folder, args.part_rows, args.group_rows)
        size = sum(os.path.getsize(p.path) for p in parts)
        print(
            f"{records:,} records in {len(batches)} batches, {len(parts)} parts written in"
            f" {time.perf_counter() - started:.2f} s, {size / 1e6:.0f} MB"
        )
        seen: dict[str, set[tuple[int, int]]] = {}
        for run in range(args.runs):
            for kind in ("table", "parts"):
                engine = DuckDBEngine(options=EngineOptions(parts=kind == "parts"))
                try:
                    started = time.perf_counter()
                    if kind == "table":
                        for batch in batches:
                            engine.ingest(batch)
                        engine.flush()
                    else:
                        for part in parts:
                            engine.add_part(part)
                        engine.flush()
                    stored = time.perf_counter() - started
                    evaluated, collected, pairs = _hunt(engine, ruleset)
                finally:
                    engine.close()
                seen[kind] = pairs
                print(
                    f"run {run + 1} {kind:5}: store {stored:6.2f} s, evaluate {evaluated:6.2f} s,"
                    f" collect {collected:6.2f} s, {len(pairs):,} matches;"
                    f" load {os.getloadavg()[0]:.1f}"
                )
        print("same matches:", seen["table"] == seen["parts"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
