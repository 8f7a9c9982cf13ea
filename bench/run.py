"""Run every benchmark in order (``make bench``); each prints its own table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = [
    ["parse_vs_hunt.py", "--workers", "1", "--workers", "2"],
    ["scaling.py", "--events", "250000"],
    ["bench_correlation.py", "--events", "1000000"],
]

if __name__ == "__main__":
    for bench in BENCHES:
        print(f"\n=== {' '.join(bench)}", flush=True)
        subprocess.run([sys.executable, str(HERE / bench[0]), *bench[1:]], check=True)
