"""CPU of the analytics' frames and behaviour signals on a hunted case, step by step.

Opens a case file (a copy: the engine may write to it), loads the frames, the baseline,
the host map and every behaviour analytic, timing each step by ``time.process_time`` (the
machine is shared: CPU time swings less than wall time) and best of ``--repeat`` runs.
Prints the steps' times and an md5 of the behaviour signals, so two trees can be compared
on the same case (alternate runs of each tree: ``PYTHONPATH=TREE/src python ...``).

    python bench/analytics_frames.py --case COPY.duckdb [--repeat 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from lotlhunt.analytics import hours, logons, processes, shares, tracks
from lotlhunt.analytics.baseline import Baseline
from lotlhunt.analytics.frame import load_frames
from lotlhunt.analytics.hosts import host_map
from lotlhunt.engines.duckdb.engine import DuckDBEngine


def _timed(times: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.process_time()
    out = fn()
    spent = time.process_time() - start
    times[name] = min(times.get(name, spent), spent)
    return out


def once(engine: DuckDBEngine, times: dict[str, float]) -> list[Any]:
    """One pass of the frame and behaviour steps; the behaviour signals."""
    t0 = time.process_time()
    frames = _timed(times, "frames", lambda: load_frames(engine))
    base = _timed(times, "baseline", lambda: Baseline.of(frames.core))
    hosts = _timed(times, "host map", lambda: host_map(frames))
    found: list[Any] = []
    found += _timed(times, "inbound", lambda: logons.inbound(frames.logons, base, hosts))
    found += _timed(times, "explicit", lambda: logons.explicit(frames.logons, base, hosts))
    found += _timed(times, "outbound", lambda: logons.outbound(frames.network, base, hosts))
    found += _timed(times, "shares", lambda: shares.shares(frames.shares, base, hosts))
    runs = _timed(times, "unique runs", lambda: processes.unique_runs(frames.processes))
    found += _timed(times, "rare lotl", lambda: processes.rare_lotl(runs, base))
    found += _timed(times, "new parent child", lambda: processes.new_parent_child(runs, base))
    found += _timed(times, "discovery", lambda: processes.discovery_bursts(runs, base))
    found += _timed(
        times, "off hours", lambda: hours.off_hours(frames.processes, frames.logons, base)
    )
    found += _timed(times, "marks", lambda: tracks.marks(frames.marks, base))
    logs = _timed(times, "sorted logs", lambda: tracks.sorted_logs(frames.core))
    found += _timed(times, "holes", lambda: tracks.holes(logs, base))
    found += _timed(times, "late logs", lambda: tracks.late_logs(logs, base))
    found += _timed(times, "silent channels", lambda: tracks.silent_channels(logs, base))
    spent = time.process_time() - t0
    times["all"] = min(times.get("all", spent), spent)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", required=True)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", help="write the times and the md5 here")
    args = ap.parse_args()
    engine = DuckDBEngine(args.case)
    times: dict[str, float] = {}
    try:
        found: list[Any] = []
        for _ in range(args.repeat):
            found = once(engine, times)
    finally:
        engine.close(flush=False)
    digest = hashlib.md5("\n".join(sorted(repr(s) for s in found)).encode()).hexdigest()
    for name, spent in times.items():
        print(f"{name:18s} {spent:7.3f}")
    print(f"signals {len(found)} md5 {digest}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"times": times, "signals": len(found), "md5": digest}, fh, indent=1)


if __name__ == "__main__":
    main()
