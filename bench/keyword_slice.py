"""Time the evaluation of rules alone on a case (``engine.evaluate``): the slice of every
event's keyword rules, or a whole hunt phase.

``python bench/keyword_slice.py CASE.duckdb RULE [RULE ...]`` opens the case read-only in
effect (a copy is safest: evaluation writes nothing to it, but a hunt would), compiles
the rules (a ``.yml`` file as it is; a folder as a hunt loads it, from the rule cache),
and prints the evaluation's wall and CPU seconds, the matches, the (rule, row id) pairs
matched (sorted md5) and the peak RSS, so two trees can be compared:
``PYTHONPATH=<tree>/src python bench/keyword_slice.py ...``.
"""

from __future__ import annotations

import hashlib
import resource
import sys
import time
from pathlib import Path

from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.rules.loader import load_rules
from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import compile_rules


def rules_of(paths: list[str]) -> list[CompiledRule]:
    """The compiled rules of rule files (each as it is) and folders (as a hunt loads them)."""
    files = [p for p in paths if Path(p).is_file()]
    folders = [p for p in paths if not Path(p).is_file()]
    rules: list[CompiledRule] = []
    if files:
        rules += compile_rules("\n---\n".join(Path(p).read_text() for p in files)).rules
    if folders:
        rules += load_rules(folders).rules
    return rules


def main(case: str, rule_paths: list[str]) -> None:
    rules = rules_of(rule_paths)
    engine = DuckDBEngine(case)
    try:
        engine.count()
        started, cpu = time.perf_counter(), time.process_time()
        found = engine.evaluate(rules)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        engine.close(flush=False)
    m = found.matches
    pairs = sorted(zip(m.column("rule").to_pylist(), m.column("rid").to_pylist(), strict=True))
    digest = hashlib.md5(repr(pairs).encode()).hexdigest()[:8]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"rules {len(rules)} wall {wall:.2f} s cpu {cpu:.2f} s matches {len(pairs)} "
        f"md5 {digest} peak {peak} MB"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
