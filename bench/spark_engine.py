"""The same hunt on both engines: a simulated corpus through DuckDB and through Spark.

Generates a simulated EVTX corpus (``--events``, default 1 M), then:

1. DuckDB: ``lotlhunt hunt`` in this process, phases as the hunt reports them;
2. Spark, ``local[*]``: raw files read on the executors into a Parquet store
   (``lotlhunt ingest --engine spark``), then ``hunt --case STORE --engine spark``.

For Spark it also prints where the time goes, to tell what a cluster would do with it:
per-file reading (executor tasks, scales with executors), rule evaluation (Spark jobs
over the store's partitions, scales with executors), and driver work that does not
scale (session start, planning one slice per rule group, collecting matches,
explanations and correlations of the matched events). Task time is taken from Spark's
own status tracker (sum of task run times per stage).

    python bench/spark_engine.py --events 1000000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from parse_vs_hunt import DEFAULT_RULES  # noqa: E402

from lotlhunt.case_store import ingest_to_store  # noqa: E402
from lotlhunt.engines.base import EngineOptions  # noqa: E402
from lotlhunt.engines.spark.session import SparkOptions, spark_session  # noqa: E402
from lotlhunt.hunt import HuntConfig, run_hunt  # noqa: E402
from lotlhunt.simulate import LOGS_DIR, simulate_volt_typhoon  # noqa: E402


def _task_seconds(spark: object) -> float:
    """Time of every task that ran so far on any executor (ms summed by Spark), in
    seconds."""
    sc = spark.sparkContext  # type: ignore[attr-defined]
    store = sc._jsc.sc().statusStore()  # the data behind Spark's UI, through py4j
    executors = store.executorList(False)  # a Scala Seq
    return sum(executors.apply(i).totalDuration() for i in range(executors.size())) / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rules", type=Path, action="append", help="default: all SigmaHQ rules")
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--keep", type=Path, help="keep the corpus and the store here")
    args = ap.parse_args()
    rules = args.rules or DEFAULT_RULES
    work = args.keep or Path(tempfile.mkdtemp(prefix="lotlhunt-bench-spark-"))
    corpus = work / f"sim-{args.events}"
    if not (corpus / LOGS_DIR).exists():
        simulate_volt_typhoon(corpus, hosts=40, days=7, seed=11, events=args.events)
    logs = corpus / LOGS_DIR
    rows: list[tuple[str, str, float]] = []

    started = time.perf_counter()
    duck = run_hunt(HuntConfig(paths=[logs], rules=rules))
    rows.append(("duckdb", "total", time.perf_counter() - started))
    rows += [("duckdb", k, v) for k, v in duck.stats.phases.items()]

    options = SparkOptions(master=args.master, conf=(("spark.ui.enabled", "true"),))
    mark = time.perf_counter()
    spark = spark_session(options)
    rows.append(("spark", "session start (driver)", time.perf_counter() - mark))
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    engine_options = EngineOptions(spark=options)
    mark = time.perf_counter()
    ingest_to_store([logs], store, spark=engine_options)
    read_wall = time.perf_counter() - mark
    read_tasks = _task_seconds(spark)
    rows.append(("spark", "read on executors (wall)", read_wall))
    rows.append(("spark", "read: executor task time", read_tasks))
    mark = time.perf_counter()
    result = run_hunt(
        HuntConfig(case=store, rules=rules, engine="spark", engine_options=engine_options)
    )
    hunt_wall = time.perf_counter() - mark
    rows.append(("spark", "hunt (wall)", hunt_wall))
    rows += [("spark", f"hunt phase {k}", v) for k, v in result.stats.phases.items()]
    rows.append(("spark", "hunt: executor task time", _task_seconds(spark) - read_tasks))

    same = {(d.rule_id, d.source, d.position) for d in duck.detections} == {
        (d.rule_id, d.source, d.position) for d in result.detections
    }
    print(
        f"\n{duck.stats.records:,} events, {len(duck.detections):,} detections (duckdb), "
        f"{len(result.detections):,} (spark); the same detections: {same}"
    )
    print(f"{'engine':<8} {'phase':<32} {'seconds':>9}")
    for engine, phase, seconds in rows:
        print(f"{engine:<8} {phase:<32} {seconds:>9.1f}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
