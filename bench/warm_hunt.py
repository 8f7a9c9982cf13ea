"""Where the wall time of a warm hunt goes, part by part, from process start to exit.

    python bench/warm_hunt.py                          # EVTX samples, every SigmaHQ folder
    python bench/warm_hunt.py --runs 5 --src A=PATH --src B=PATH   # A B A B ... alternating

Each run is a fresh ``lotlhunt hunt`` process (the rule cache warmed by one run first, in
a cache folder of its own per source tree) with ``--jsonl`` and ``--stats``. A driver
wraps the command line's functions to time, in the process: Python start-up and imports
(until ``lotlhunt.cli`` is imported), the hunt's phases (from ``--stats``), the other
work of the hunt (its console, the engine made and closed...), the reports (files
written, console summary, noisiest rules), and the exit (from the last exit handler to
the end of the process, as the parent sees it). Several sources alternate run by run, so
that a shared machine's load falls on all alike; the median of each part is printed with
the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SIGMA = DATA / "sigma"
FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder")

#: Runs inside the hunted process: times the parts, prints them as JSON on stderr from
#: the last exit handler (a finished hunt may end its process without a teardown).
DRIVER = r"""
import atexit, json, sys, time
T0 = time.perf_counter()
marks = {}
import importlib
hunt = importlib.import_module("lotlhunt.hunt")  # the module, not the API's function
from lotlhunt import cli as entry
try:  # the hunt command's own module, where the command line is a package
    from lotlhunt.cli import hunt_command as cli
except ImportError:
    cli = entry
marks["imports"] = time.perf_counter() - T0
marks["cpu:start-up"] = time.process_time()
def timed(module, name, part):
    f = getattr(module, name, None)
    if f is None:  # an older tree without this part
        return
    def g(*a, **k):
        t, c = time.perf_counter(), time.process_time()
        try:
            return f(*a, **k)
        finally:
            marks[part] = marks.get(part, 0.0) + time.perf_counter() - t
            marks["cpu:" + part] = marks.get("cpu:" + part, 0.0) + time.process_time() - c
    setattr(module, name, g)
timed(cli, "run_hunt", "run_hunt")
for name in ("write_outputs", "print_summary", "print_noisiest"):
    if hasattr(cli, name):
        timed(cli, name, "reports")
# Processor time of the parts that run in this process alone (a loaded machine's wall
# times swing; these much less).
timed(hunt, "load_hunt_rules", "rules")
timed(hunt, "collect_detections", "collect")
timed(hunt, "analyse", "analytics")
def report():
    marks["until_exit"] = time.perf_counter() - T0
    marks["pandas"] = float("pandas" in sys.modules)
    print("WARM_HUNT " + json.dumps(marks), file=sys.stderr, flush=True)
atexit.register(report)
sys.argv = ["lotlhunt", *sys.argv[1:]]
entry.main()
"""

PHASES = ("rules", "read", "hunt", "correlate", "collect", "analytics")
PARTS = ("start-up", *PHASES, "other", "reports", "exit", "wall")
CPU = ("cpu:start-up", "cpu:rules", "cpu:collect", "cpu:analytics", "cpu:reports")


def run_once(src: Path, cache: Path, logs: Path, rules: list[Path], out: Path) -> dict[str, float]:
    args = [str(logs)]
    for r in rules:
        args += ["--rules", str(r)]
    args += ["--jsonl", str(out / "d.jsonl"), "--stats", str(out / "s.json")]
    env = {**os.environ, "PYTHONPATH": str(src), "LOTLHUNT_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, "hunt", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    line = next((x for x in done.stderr.splitlines() if x.startswith("WARM_HUNT ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"hunt failed ({done.returncode}): {done.stderr[-2000:]}")
    marks = json.loads(line.split(" ", 1)[1])
    phases = {p: float(v) for p, v in json.loads((out / "s.json").read_text())["phases"].items()}
    # wall = Python's start + the driver's timeline (until the last exit handler) + the
    # exit; an empty interpreter's start-and-exit stands for Python's start.
    python = _python_start()
    parts = {"start-up": python + marks["imports"]}
    parts.update({p: phases.get(p, 0.0) for p in PHASES})
    parts["reports"] = marks.get("reports", 0.0)
    command = marks["until_exit"] - marks["imports"]
    parts["other"] = command - sum(parts[p] for p in PHASES) - parts["reports"]
    parts["exit"] = max(0.0, wall - marks["until_exit"] - python)
    parts["wall"] = wall
    parts["pandas"] = marks["pandas"]
    parts.update({k: v for k, v in marks.items() if k.startswith("cpu:")})
    return parts


_START: list[float] = []


def _python_start() -> float:
    """The wall time of starting and ending an empty interpreter (median of 5)."""
    if not _START:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            times.append(time.perf_counter() - t)
        _START.append(statistics.median(times))
    return _START[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--logs", type=Path, default=DATA / "evtx-attack-samples")
    ap.add_argument("--rules", type=Path, action="append", help="default: every SigmaHQ folder")
    ap.add_argument("--src", action="append", help="NAME=PATH of a source tree (default: this)")
    ap.add_argument("--runs", type=int, default=3, help="measured runs per source")
    ap.add_argument("--work", type=Path, help="keep rule caches and outputs here (default: temp)")
    ns = ap.parse_args()
    rules = ns.rules or [SIGMA / f for f in FOLDERS]
    sources = [tuple(s.split("=", 1)) for s in ns.src] if ns.src else [("here", str(ROOT / "src"))]
    with tempfile.TemporaryDirectory(prefix="warm-hunt-") as tmp:
        work = ns.work or Path(tmp)
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sources}
        for name, src in sources:  # warm each tree's own rule cache
            (work / name).mkdir(parents=True, exist_ok=True)
            run_once(Path(src), work / name / "cache", ns.logs, rules, work / name)
        for _ in range(ns.runs):
            for name, src in sources:
                results[name].append(
                    run_once(Path(src), work / name / "cache", ns.logs, rules, work / name)
                )
        load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'part (median s)':<16}" + "".join(f"{name:>10}" for name, _ in sources))
    for part in (*PARTS, *CPU, "pandas"):
        row = [statistics.median(r.get(part, 0.0) for r in results[name]) for name, _ in sources]
        print(f"{part:<16}" + "".join(f"{v:>10.3f}" for v in row))


if __name__ == "__main__":
    main()
