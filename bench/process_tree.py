"""Resident memory of a process tree, as the benchmarks report peak memory (Linux /proc)."""

from __future__ import annotations

import os
import subprocess
import threading


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def process_rss(pid: int) -> int:
    """Resident bytes of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def wait_with_peak(proc: subprocess.Popen[bytes], interval: float) -> tuple[int, int]:
    """Wait for ``proc``; its exit code and the peak resident bytes of its tree, sampled
    every ``interval`` seconds."""
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc.pid))
            stop.wait(interval)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    stop.set()
    sampler.join()
    return code, peak
