"""The same hunt on both engines: a simulated corpus through DuckDB and through Spark.

Generates a simulated EVTX corpus (``--events``, default 1 M), then:

1. DuckDB: ``lotlhunt hunt`` in this process, phases as the hunt reports them;
2. Spark, ``local[*]``: raw files read on the executors into a Parquet store
   (``lotlhunt ingest --engine spark``), then ``hunt --case STORE --engine spark``.

For Spark it also prints where the time goes, to tell what a cluster would do with it.
Every Spark job is read back from Spark's own status store (the data behind its UI)
and set in the phase it started in: per phase, how many jobs and tasks ran, the task
time the executors spent (``exec run``, scales with executors), its CPU time (``exec
cpu``: the run time on idle cores), task deserialization, how long at least one job
was running (``jobs wall``), and what remains of the phase's wall time with no job
running at all (``driver only``: Python and Spark planning on the driver, collecting,
analytics on Arrow tables; does not scale with executors).

    python bench/spark_engine.py --events 1000000
    python bench/spark_engine.py --events 100000 --engine spark --keep /tmp/b
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from parse_vs_hunt import DEFAULT_RULES  # noqa: E402

from lotlhunt.case_store import ingest_to_store  # noqa: E402
from lotlhunt.engines.base import EngineOptions  # noqa: E402
from lotlhunt.engines.spark.session import SparkOptions, spark_session  # noqa: E402
from lotlhunt.hunt import HuntConfig, run_hunt  # noqa: E402
from lotlhunt.simulate import LOGS_DIR, simulate_volt_typhoon  # noqa: E402

#: Spark keeps this many jobs and stages for its status store (1,000 by default: a
#: hunt over SigmaHQ's rules runs more).
RETAINED = "1000000"


@dataclass
class JobTimes:
    """The Spark jobs of one phase, as Spark's status store recorded them."""

    jobs: int = 0
    tasks: int = 0
    #: Task time on the executors: running, and deserializing the task first (s).
    run: float = 0.0
    deserialize: float = 0.0
    #: CPU time of the tasks' runs (s): what the run time would be on idle cores.
    cpu: float = 0.0
    #: Wall time with at least one of these jobs running (s).
    busy: float = 0.0
    #: CPU time of the executors' Python workers (s), when measured.
    python: float | None = None


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


class WorkerCpu:
    """CPU seconds (user and system) of the processes under this process's JVM (Spark's
    Python workers and their daemon, in local mode), which Spark's own task CPU time
    does not count. A thread samples them every half second, keeping each process's
    last figure, so workers that exit keep what they spent (to the last sample)."""

    def __init__(self) -> None:
        self.tick = os.sysconf("SC_CLK_TCK")
        self.spent: dict[tuple[int, str], int] = {}
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def sample(self) -> float:
        children = _children()
        todo = []
        for pid in children.get(os.getpid(), []):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if b"java" in fh.read().split(b"\0")[0]:
                        todo.extend(children.get(pid, []))
            except OSError:
                continue
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            # (pid, start time): a pid used again is another process.
            self.spent[(pid, fields[19])] = int(fields[11]) + int(fields[12])
        total = sum(self.spent.values()) / self.tick
        self.samples.append((time.time(), total))
        return total

    def at(self, when: float) -> float:
        """The CPU spent by the last sample before ``when``."""
        before = [c for t, c in self.samples if t <= when]
        return before[-1] if before else 0.0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class Ledger:
    """Spark's jobs and stages so far, read through py4j from the driver's status store."""

    def __init__(self, spark: Any) -> None:
        self.store = spark.sparkContext._jsc.sc().statusStore()

    def jobs(self) -> list[tuple[int, float, float, list[int]]]:
        """(job id, submitted, completed, stage ids), times in seconds since the epoch."""
        out = []
        seq = self.store.jobsList(None)
        for k in range(seq.size()):
            j = seq.apply(k)
            if not j.submissionTime().isDefined():
                continue
            start = j.submissionTime().get().getTime() / 1000.0
            end = (
                j.completionTime().get().getTime() / 1000.0
                if j.completionTime().isDefined()
                else start
            )
            ids = j.stageIds()
            out.append((j.jobId(), start, end, [ids.apply(i) for i in range(ids.size())]))
        return out

    def stages(self) -> dict[int, tuple[int, float, float, float]]:
        """Per stage id: tasks, executor run time, deserialization time and run CPU
        time (s), summed over its attempts."""
        seq = self.store.stageList(
            None, False, False, getattr(self.store, "stageList$default$4")(), None
        )
        out: dict[int, tuple[int, float, float, float]] = {}
        for k in range(seq.size()):
            s = seq.apply(k)
            n, run, de, cpu = out.get(s.stageId(), (0, 0.0, 0.0, 0.0))
            out[s.stageId()] = (
                n + s.numCompleteTasks() + s.numFailedTasks(),
                run + s.executorRunTime() / 1000.0,
                de + s.executorDeserializeTime() / 1000.0,
                cpu + s.executorCpuTime() / 1e9,
            )
        return out

    def between(self, start: float, end: float) -> JobTimes:
        """The jobs submitted in [start, end) (seconds since the epoch)."""
        stages = self.stages()
        got = JobTimes()
        spans = []
        for _, s, e, ids in self.jobs():
            if not start <= s < end:
                continue
            got.jobs += 1
            spans.append((s, e))
            for i in ids:
                n, run, de, cpu = stages.get(i, (0, 0.0, 0.0, 0.0))
                got.tasks += n
                got.run += run
                got.deserialize += de
                got.cpu += cpu
        got.busy = _union(spans)
        return got


def _union(spans: list[tuple[float, float]]) -> float:
    """Total length of the union of intervals."""
    total = 0.0
    cur_s = cur_e = None
    for s, e in sorted(spans):
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    return total


def _print_phases(rows: list[tuple[str, str, float, JobTimes | None]]) -> None:
    print(
        f"{'engine':<7} {'phase':<22} {'wall s':>8} {'jobs':>6} {'tasks':>7} "
        f"{'exec run s':>10} {'exec cpu s':>10} {'deser s':>8} {'jobs wall':>9} "
        f"{'driver only':>11} {'py cpu s':>8}"
    )
    for engine, phase, wall, jt in rows:
        if jt is None:
            print(f"{engine:<7} {phase:<22} {wall:>8.1f}")
            continue
        print(
            f"{engine:<7} {phase:<22} {wall:>8.1f} {jt.jobs:>6} {jt.tasks:>7} "
            f"{jt.run:>10.1f} {jt.cpu:>10.1f} {jt.deserialize:>8.1f} {jt.busy:>9.1f} "
            f"{max(0.0, wall - jt.busy):>11.1f}"
            + (f" {jt.python:>8.1f}" if jt.python is not None else "")
        )


def _identity(result: Any) -> set[tuple[str, str, int]]:
    return {(d.rule_id, d.source, d.position) for d in result.detections}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rules", type=Path, action="append", help="default: all SigmaHQ rules")
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--engine", choices=("both", "duckdb", "spark"), default="both")
    ap.add_argument("--keep", type=Path, help="keep the corpus and the store here")
    ap.add_argument(
        "--reuse-store", action="store_true", help="hunt the store kept by an earlier run"
    )
    ap.add_argument(
        "--ingest-only", action="store_true", help="Spark: read into the store, no hunt"
    )
    ap.add_argument("--driver-memory", default="4g", help="Spark's spark.driver.memory")
    ap.add_argument(
        "--sql-rules", action="store_true", help="Spark: every rule as Spark SQL on every row"
    )
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    rules = args.rules or DEFAULT_RULES
    work = args.keep or Path(tempfile.mkdtemp(prefix="lotlhunt-bench-spark-"))
    corpus = work / f"sim-{args.events}"
    if not (corpus / LOGS_DIR).exists():
        simulate_volt_typhoon(corpus, hosts=40, days=7, seed=11, events=args.events)
    logs = corpus / LOGS_DIR
    rows: list[tuple[str, str, float, JobTimes | None]] = []
    duck = result = None

    if args.engine in ("both", "duckdb"):
        started, cpu = time.perf_counter(), time.process_time()
        duck = run_hunt(HuntConfig(paths=[logs], rules=rules))
        rows.append(("duckdb", "total", time.perf_counter() - started, None))
        # Every thread of this process (DuckDB's included); reader processes aside.
        print(f"duckdb: the hunt's process CPU {time.process_time() - cpu:.1f} s")
        rows += [("duckdb", k, v, None) for k, v in duck.stats.phases.items()]
        print(f"duckdb: {duck.stats.records:,} events, {len(duck.detections):,} detections")
        (work / f"duckdb-detections-{args.events}.json").write_text(
            json.dumps(sorted(_identity(duck)))
        )

    if args.engine in ("both", "spark"):
        conf = (
            ("spark.ui.retainedJobs", RETAINED),
            ("spark.ui.retainedStages", RETAINED),
            # local mode: the driver's JVM is the executors' too (Spark's 1 GB ran out
            # of heap at 1 M events with SigmaHQ's rules broadcast as twins).
            ("spark.driver.memory", args.driver_memory),
        )
        options = SparkOptions(master=args.master, conf=conf, by_field=not args.sql_rules)
        mark = time.perf_counter()
        spark = spark_session(options)
        rows.append(("spark", "session start", time.perf_counter() - mark, None))
        ledger = Ledger(spark)
        workers = WorkerCpu()
        store = work / f"store-{args.events}"
        engine_options = EngineOptions(spark=options)
        if not args.reuse_store or not store.exists():
            shutil.rmtree(store, ignore_errors=True)
            t0, mark, py = time.time(), time.perf_counter(), workers.sample()
            ingest_to_store([logs], store, spark=engine_options)
            read_wall = time.perf_counter() - mark
            times = ledger.between(t0, time.time())
            times.python = workers.sample() - py
            rows.append(("spark", "ingest (read)", read_wall, times))
        if args.ingest_only:
            workers.stop()
            _print_phases(rows)
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
            return
        t0, mark, py = time.time(), time.perf_counter(), workers.sample()
        result = run_hunt(
            HuntConfig(case=store, rules=rules, engine="spark", engine_options=engine_options)
        )
        hunt_wall = time.perf_counter() - mark
        t1 = time.time()
        total = ledger.between(t0, t1)
        total.python = workers.sample() - py
        workers.stop()
        rows.append(("spark", "hunt --case (total)", hunt_wall, total))
        # The hunt's phases follow one another: each phase's jobs are those submitted in
        # its span of the hunt's wall time.
        at = t0
        for k, v in result.stats.phases.items():
            times = ledger.between(at, at + v)
            times.python = workers.at(at + v) - workers.at(at)
            rows.append(("spark", k, v, times))
            at += v
        print(f"spark: {result.stats.records:,} events, {len(result.detections):,} detections")
        for note in result.stats.notes:
            print(f"spark: {note}")
        kept = work / f"duckdb-detections-{args.events}.json"
        if duck is None and kept.exists():
            same = {tuple(d) for d in json.loads(kept.read_text())} == _identity(result)
            print(f"the same detections as the kept DuckDB run: {same}")

    if duck is not None and result is not None:
        print(f"the same detections: {_identity(duck) == _identity(result)}")
    _print_phases(rows)
    print(f"load average at end: {os.getloadavg()}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
