"""Time the slice of every event's keyword rules alone on a case (``engine.evaluate``).

``python bench/keyword_slice.py CASE.duckdb RULE.yml [RULE.yml ...]`` opens the case
read-only in effect (a copy is safest: evaluation writes nothing to it, but a hunt
would), compiles the rules, and prints the evaluation's wall and CPU seconds, the
matches, and the row ids matched (sorted md5), so two trees can be compared:
``PYTHONPATH=<tree>/src python bench/keyword_slice.py ...``.
"""

from __future__ import annotations

import hashlib
import resource
import sys
import time
from pathlib import Path

from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.testing import compile_rules


def main(case: str, rule_files: list[str]) -> None:
    ruleset = compile_rules("\n---\n".join(Path(p).read_text() for p in rule_files))
    engine = DuckDBEngine(case)
    try:
        engine.count()
        started, cpu = time.perf_counter(), time.process_time()
        found = engine.evaluate(ruleset.rules)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        engine.close(flush=False)
    m = found.matches
    pairs = sorted(zip(m.column("rule").to_pylist(), m.column("rid").to_pylist(), strict=True))
    digest = hashlib.md5(repr(pairs).encode()).hexdigest()[:8]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"wall {wall:.2f} s cpu {cpu:.2f} s matches {len(pairs)} md5 {digest} peak {peak} MB")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
