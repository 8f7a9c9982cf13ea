"""Cost of Sigma correlations next to the plain rule scan they build on.

Generates synthetic Security events directly as Arrow batches (no files, no reader),
ingests them into an in-memory DuckDBEngine, then times

* the plain scan: a few rules through ``engine.evaluate``;
* the same scan plus event_count, value_count, temporal and temporal_ordered
  correlations over its matches (``evaluate_correlations``).

Correlations should stay within the same order of time as the scan: they read only the
matched events, but sort them per group and join episodes back to their events.

    python bench/bench_correlation.py [--events N] [--seed S] [--repeat R]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from sigma.collection import SigmaCollection

from lotlhunt.analytics.correlations import evaluate_correlations
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.events import schema
from lotlhunt.rules.compile.backend import SqlBackend
from lotlhunt.rules.compiling import load_collection
from lotlhunt.rules.model import RuleSet

BATCH = 100_000
DAY_US = 86_400 * 1_000_000
#: Event ids and their share: logon failures, logons, special privileges, process starts.
MIX = ((4625, 0.10), (4624, 0.10), (4672, 0.05), (4688, 0.75))
IMAGES = (
    r"C:\Windows\System32\svchost.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\whoami.exe",
    r"C:\Program Files\App\app.exe",
)

RULES = r"""
title: failed logon
id: 7d0b0c1e-0000-4000-8000-000000000001
name: failed_logon
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4625}, condition: sel}
level: low
---
title: successful logon
id: 7d0b0c1e-0000-4000-8000-000000000002
name: successful_logon
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4624, LogonType: '3'}, condition: sel}
level: low
---
title: special privileges
id: 7d0b0c1e-0000-4000-8000-000000000003
name: special_privileges
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4672}, condition: sel}
level: low
---
title: whoami
id: 7d0b0c1e-0000-4000-8000-000000000004
name: whoami
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '\whoami.exe'}, condition: sel}
level: medium
"""

CORRELATIONS = r"""
title: brute force per user
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 5m
  condition: {gte: 3}
---
title: password spray per address
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 10m
  condition: {field: TargetUserName, gte: 6}
---
title: logon, privileges and failures close together
correlation:
  type: temporal
  rules: [failed_logon, successful_logon, special_privileges]
  group-by: [TargetUserName]
  timespan: 2m
---
title: logon then whoami on a host
correlation:
  type: temporal_ordered
  rules: [successful_logon, whoami]
  group-by: [Computer]
  timespan: 1m
"""


def batches(n: int, seed: int) -> list[pa.RecordBatch]:
    """``n`` events over one day, shuffled in time, as Arrow batches of the events shape."""
    rng = np.random.default_rng(seed)
    users = np.array([f"user{i:04d}" for i in range(2000)])
    hosts = np.array([f"host{i:03d}.corp.local" for i in range(300)])
    addrs = np.array([f"10.{i // 250}.{i % 250}.{(i * 7) % 250}" for i in range(800)])
    images = np.array(IMAGES)
    ids = np.array([m[0] for m in MIX], np.int32)
    shares = np.array([m[1] for m in MIX])
    start = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp() * 1_000_000)
    out = []
    for lo in range(0, n, BATCH):
        k = min(BATCH, n - lo)
        ts = start + rng.integers(0, DAY_US, k)
        eid = rng.choice(ids, k, p=shares)
        image = rng.choice(images, k, p=[0.6, 0.3, 0.002, 0.098])
        columns = {
            schema.TIMESTAMP: pa.array(ts, pa.timestamp("us", tz="UTC")),
            schema.HOST: pa.array(rng.choice(hosts, k)),
            schema.CHANNEL: pa.array(np.full(k, "Security")),
            schema.PROVIDER: pa.array(np.full(k, "Microsoft-Windows-Security-Auditing")),
            schema.EVENT_ID: pa.array(eid, pa.int32()),
            schema.RECORD_ID: pa.array(np.arange(lo, lo + k), pa.int64()),
            schema.SOURCE: pa.array(np.full(k, "synthetic")),
            schema.POSITION: pa.array(np.arange(lo, lo + k), pa.int64()),
            "TargetUserName": pa.array(rng.choice(users, k)),
            "IpAddress": pa.array(rng.choice(addrs, k)),
            "LogonType": pa.array(rng.choice(np.array(["2", "3", "10"]), k)),
            "NewProcessName": pa.array(image),
            "SubjectUserName": pa.array(rng.choice(users, k)),
            "SubjectDomainName": pa.array(np.full(k, "CORP")),
        }
        out.append(pa.RecordBatch.from_pydict(columns))
    return out


def load(text: str) -> RuleSet:
    collection = SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False)
    rs = load_collection(collection, Path("<bench>"), SqlBackend())
    if rs.failed:
        raise SystemExit(f"rules failed: {rs.failed}")
    return rs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs")
    args = parser.parse_args()

    t = time.perf_counter()
    data = batches(args.events, args.seed)
    print(f"generated {args.events:,} events in {time.perf_counter() - t:.2f} s")
    engine = DuckDBEngine()
    t = time.perf_counter()
    for batch in data:
        engine.ingest(batch)
    engine.flush()
    print(f"ingested in {time.perf_counter() - t:.2f} s")

    # Correlation documents add no base rules: the scan runs the very same rules either way.
    rules = load(RULES + "\n---\n" + CORRELATIONS)
    scan_s, corr_s = float("inf"), float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        evaluation = engine.evaluate(rules.rules)
        scan_s = min(scan_s, time.perf_counter() - t)
        t = time.perf_counter()
        result = evaluate_correlations(engine, rules, evaluation.matches)
        corr_s = min(corr_s, time.perf_counter() - t)
    if result.failed:
        raise SystemExit(f"correlations failed: {[str(i) for i in result.failed]}")
    per_kind: dict[str, int] = {}
    for hit in result.hits:
        per_kind[hit.kind] = per_kind.get(hit.kind, 0) + 1
    n, both = args.events, scan_s + corr_s
    print(f"matches: {evaluation.matches.num_rows:,}; correlation hits: {per_kind}")
    print(f"plain scan          {scan_s:7.3f} s  {n / scan_s:12,.0f} events/s")
    print(f"correlations alone  {corr_s:7.3f} s  {n / corr_s:12,.0f} events/s")
    print(f"scan + correlations {both:7.3f} s  {n / both:12,.0f} events/s")
    print(f"ratio (scan + correlations) / scan: {both / scan_s:.2f}")
    engine.close()


if __name__ == "__main__":
    main()
