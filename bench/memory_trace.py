"""Where a hunt's memory goes: the process tree's resident size over time, phase by phase.

    python bench/memory_trace.py                         # Mordor, every SigmaHQ folder
    python bench/memory_trace.py --src old=../wt-old/src --src new=src   # A B in turn
    python bench/memory_trace.py --path DIR --rules DIR --timeline /tmp/trace.json

One ``lotlhunt hunt`` process per run. A driver inside it wraps the hunt's steps (reading,
evaluation, correlations, collecting detections, the analytics and their own steps,
reports) and writes a mark at the start and end of each: the time, Arrow's allocated
bytes and DuckDB's own accounting (``duckdb_memory()``: in memory and spilled). The
parent samples the resident size of the hunt process and of its children (the readers)
from /proc every ``--interval`` seconds. Printed per step: its seconds, the tree's peak
while it ran, the hunt process's and the children's peaks, and Arrow's and DuckDB's bytes
when it ended. Steps of an older tree that has no such function are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from process_tree import process_rss, tree_rss

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder")

#: Runs inside the hunted process: wraps the steps and writes their marks (JSON lines)
#: to the file named by ``MEMORY_TRACE_MARKS``.
DRIVER = r"""
import importlib, json, os, sys, time
import pyarrow as pa
OUT = open(os.environ["MEMORY_TRACE_MARKS"], "w", buffering=1)
ENGINES = []
def duck():
    for engine in ENGINES:
        try:
            con = engine.con.cursor()
            rows = con.execute(
                "SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory()"
                " WHERE memory_usage_bytes > 0 OR temporary_storage_bytes > 0").fetchall()
            con.close()
            return {tag: [int(m), int(t)] for tag, m, t in rows}
        except Exception:
            return None
    return None
def mark(step, event):
    OUT.write(json.dumps({"step": step, "event": event, "t": time.time(),
        "arrow": pa.total_allocated_bytes(), "duckdb": duck()}) + "\n")
def every(seconds):
    while True:
        time.sleep(seconds)
        mark("tick", "tick")
import threading
if os.environ.get("MEMORY_TRACE_TICK"):
    threading.Thread(target=every, args=(float(os.environ["MEMORY_TRACE_TICK"]),),
                     daemon=True).start()
def wrap(module_name, name, step, after=None):
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return
    f = getattr(module, name, None)
    if f is None:
        return
    def g(*a, **k):
        mark(step, "start")
        try:
            result = f(*a, **k)
            if after:
                after(result)
            return result
        finally:
            mark(step, "end")
    setattr(module, name, g)
def engine_made(engine):
    ENGINES.append(engine)
    cls = type(engine)
    if getattr(cls, "_traced", False):
        return
    cls._traced = True
    evaluate = cls.evaluate
    def ev(self, *a, **k):
        mark("hunt", "start")
        try:
            return evaluate(self, *a, **k)
        finally:
            mark("hunt", "end")
    cls.evaluate = ev
def slice_marks():
    try:
        from lotlhunt.engines.duckdb.evaluate import Evaluator
    except ImportError:
        return
    group = Evaluator._group
    def traced(self, pool, rules, variant, idxs, progress):
        name = "slice " + ",".join(variant.channels) + ":" + ",".join(
            map(str, variant.event_ids or ())) + f" ({len(idxs)} rules)"
        mark(name, "start")
        try:
            return group(self, pool, rules, variant, idxs, progress)
        finally:
            mark(name, "end")
    Evaluator._group = traced
if os.environ.get("MEMORY_TRACE_SLICES"):
    slice_marks()
H = "lotlhunt.hunt"
wrap(H, "create_engine", "engine", engine_made)
wrap(H, "load_hunt_rules", "rules")
for name in ("ingest", "read_into"):
    wrap(H, name, "read")
wrap(H, "case_inputs", "case inputs")
wrap(H, "evaluate_correlations", "correlate")
wrap(H, "collect_detections", "collect")
wrap(H, "correlation_detection", "collect")
wrap(H, "analyse", "analytics")
A = "lotlhunt.analytics.run"
wrap(A, "load_frames", "analytics: frames")
wrap(A, "behaviours", "analytics: behaviours")
wrap(A, "_cited_events", "analytics: cited events")
wrap(A, "movements", "analytics: movements")
wrap(A, "build", "analytics: incidents")
from lotlhunt import cli as entry
try:
    from lotlhunt.cli import hunt_command as cli
except ImportError:
    cli = entry
for name in ("write_outputs", "print_summary", "print_noisiest"):
    wrap(cli.__name__, name, "reports")
if hasattr(cli, "run_hunt"):
    wrap(cli.__name__, "run_hunt", "run_hunt")
mark("process", "start")
sys.argv = ["lotlhunt", *sys.argv[1:]]
try:
    entry.main()
finally:
    mark("process", "end")
"""


def run(
    src: Path,
    paths: list[Path],
    rules: list[Path],
    workers: int,
    interval: float,
    tick: float,
    keep: Path,
    slices: int = 0,
) -> dict:
    """One traced hunt: its samples, its marks, and its stats; its detections and
    incidents written to ``keep``."""
    keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        marks_path = Path(tmp) / "marks.jsonl"
        stats_path = Path(tmp) / "stats.json"
        cmd = [sys.executable, "-c", DRIVER, "hunt", *map(str, paths)]
        cmd += ["--workers", str(workers), "--stats", str(stats_path)]
        cmd += ["--jsonl", str(keep / "detections.jsonl")]
        if (src / "lotlhunt" / "analytics").is_dir():  # older trees chain no incidents
            cmd += ["--incidents", str(keep / "incidents.jsonl")]
        for r in rules:
            cmd += ["--rules", str(r)]
        env = {**os.environ, "PYTHONPATH": str(src), "MEMORY_TRACE_MARKS": str(marks_path)}
        if tick:
            env["MEMORY_TRACE_TICK"] = str(tick)
        if slices:
            env["MEMORY_TRACE_SLICES"] = "1"

        samples: list[tuple[float, int, int]] = []
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.time(), process_rss(proc.pid), tree_rss(proc.pid)))
                stop.wait(interval)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, err = proc.communicate()
        stop.set()
        sampler.join()
        if proc.returncode not in (0, 1):  # 1: detections found
            raise SystemExit(f"hunt failed ({proc.returncode}): {err.decode()[-2000:]}")
        marks = [json.loads(line) for line in marks_path.read_text().splitlines()]
        stats = json.loads(stats_path.read_text())
    return {"samples": samples, "marks": marks, "stats": stats}


def steps(trace: dict) -> list[dict]:
    """Per step (in the order first started): seconds, peaks while it ran, bytes at its end."""
    opened: dict[str, dict] = {}
    rows: dict[str, dict] = {}
    for m in trace["marks"]:
        step = m["step"]
        if m["event"] == "start":
            opened[step] = m
            continue
        start = opened.pop(step, None)
        if start is None:
            continue
        row = rows.setdefault(step, {"step": step, "seconds": 0.0, "tree": 0, "own": 0, "kids": 0})
        row["seconds"] += m["t"] - start["t"]
        for t, own, tree in trace["samples"]:
            if start["t"] <= t <= m["t"]:
                row["tree"] = max(row["tree"], tree)
                row["own"] = max(row["own"], own)
                row["kids"] = max(row["kids"], tree - own)
        row["arrow"] = m["arrow"]
        tags = m["duckdb"]
        row["duckdb"] = (
            None
            if tags is None
            else [sum(v[0] for v in tags.values()), sum(v[1] for v in tags.values())]
        )
    return list(rows.values())


def outputs(folder: Path) -> dict[str, set[str]]:
    """Each output of a run as a set of lines, keys sorted."""
    return {
        name: {
            json.dumps(json.loads(line), sort_keys=True)
            for line in (folder / name).read_text().splitlines()
            if line.strip()
        }
        for name in ("detections.jsonl", "incidents.jsonl")
        if (folder / name).exists()
    }


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.0f}"


def report(name: str, trace: dict, top: int = 0) -> None:
    """Per step its seconds, peaks and bytes; then the ``top`` slices of evaluation with
    the highest peaks of the tree, if they were marked."""
    peak = max((tree for _, _, tree in trace["samples"]), default=0)
    print(
        f"\n{name}: peak of the tree {_mb(peak)} MB, {trace['stats'].get('detections')} detections"
    )
    print(
        f"{'step':<26} {'s':>6} {'tree MB':>8} {'hunt MB':>8} {'kids MB':>8} "
        f"{'arrow MB':>9} {'duckdb MB':>10} {'spilled MB':>11}"
    )
    rows = steps(trace)
    slices = sorted((r for r in rows if r["step"].startswith("slice ")), key=lambda r: -r["tree"])
    rows = [r for r in rows if not r["step"].startswith("slice ")]
    if top and slices:
        rows += [{**r, "step": r["step"][:60]} for r in slices[:top]]
    for row in rows:
        duck = row["duckdb"] or [None, None]
        print(
            f"{row['step']:<26} {row['seconds']:>6.1f} {_mb(row['tree']):>8} "
            f"{_mb(row['own']):>8} {_mb(row['kids']):>8} {_mb(row['arrow']):>9} "
            f"{_mb(duck[0]):>10} {_mb(duck[1]):>11}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", action="append", default=[], help="NAME=PATH of a tree's src")
    ap.add_argument("--path", action="append", type=Path, default=[])
    ap.add_argument("--rules", action="append", type=Path, default=[])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument(
        "--tick", type=float, default=0.0, help="Also mark Arrow's and DuckDB's bytes this often."
    )
    ap.add_argument(
        "--keep", type=Path, help="Keep each run's detections and incidents in this folder."
    )
    ap.add_argument("--timeline", type=Path, help="Write every sample and mark here (JSON).")
    ap.add_argument(
        "--slices",
        type=int,
        default=0,
        help="Also mark each slice's evaluation and print the N with the highest peaks.",
    )
    args = ap.parse_args()
    srcs = [tuple(s.split("=", 1)) for s in args.src] or [("src", str(ROOT / "src"))]
    paths = args.path or [DATA / "mordor"]
    rules = args.rules or [DATA / "sigma" / f for f in FOLDERS if (DATA / "sigma" / f).exists()]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    traces = {}
    with tempfile.TemporaryDirectory() as tmp:
        keep = args.keep or Path(tmp)
        for i in range(args.runs):
            for name, src in srcs:
                src_path = Path(src).resolve()
                folder = keep / f"{name}-{i + 1}"
                trace = run(
                    src_path,
                    paths,
                    rules,
                    args.workers,
                    args.interval,
                    args.tick,
                    folder,
                    args.slices,
                )
                report(f"{name} (run {i + 1})", trace, args.slices)
                traces[f"{name}-{i + 1}"] = trace
        # The same detections and incidents, as sets, from every tree and run.
        first = outputs(keep / f"{srcs[0][0]}-1")
        for key in traces:
            other = outputs(keep / key)
            for out, lines in first.items():
                if out not in other:
                    continue
                same = "the same" if other[out] == lines else "DIFFERENT"
                print(f"{key} {out}: {len(other[out]):,} lines, {same} as {srcs[0][0]}-1")
    print(f"load {os.getloadavg()}")
    if args.timeline:
        args.timeline.write_text(json.dumps(traces))


if __name__ == "__main__":
    main()
