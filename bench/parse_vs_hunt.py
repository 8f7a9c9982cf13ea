"""Hunt throughput against the raw parse rate of the same files, measured in one run.

For each corpus this prints: records, the raw rate (the `evtx` package iterating every
record, or orjson parsing every JSON line, with all cores in use), the rate of a full
`lotlhunt hunt` with the given rules, their ratio, the hunt's phase times and the peak
resident memory of the hunt's whole process tree.

    python bench/parse_vs_hunt.py                      # EVTX samples and Mordor
    python bench/parse_vs_hunt.py --corpus evtx=DIR    # any folder, as EVTX
    python bench/parse_vs_hunt.py --workers 1 --workers 2
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import IO

import orjson
from evtx import PyEvtxParser
from process_tree import wait_with_peak

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEFAULT_CORPORA = {
    "evtx-attack-samples": ("evtx", DATA / "evtx-attack-samples"),
    "mordor": ("json", DATA / "mordor"),
}
#: Every SigmaHQ rule folder (the hunt also loads the bundled pack, as the CLI does);
#: rules for other platforms are listed as not applicable and cost nothing.
DEFAULT_RULES = [
    DATA / "sigma" / name
    for name in ("rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder")
]


def _count_evtx(path: str) -> int:
    n = 0
    try:
        for _ in PyEvtxParser(path).records_json():
            n += 1
    except (OSError, RuntimeError):
        pass
    return n


#: Bytes buffered per archive member: lines are read from a buffered reader, as the
#: readers do (iterating an unbuffered zip member asks the decompressor for each line).
_MEMBER_BUFFER = 1 << 20
_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def _count_lines(stream: IO[bytes]) -> int:
    """JSON lines of ``stream``, each parsed by orjson (bad ones counted too: the hunt
    counts them as failed records)."""
    n = 0
    for line in io.BufferedReader(stream, _MEMBER_BUFFER):  # type: ignore[type-var]
        if line.strip():
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                pass
            n += 1
    return n


def _count_json_zip(path: str) -> int:
    n = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.filename.lower().endswith(_JSON_SUFFIXES):
                with zf.open(info) as member:
                    n += _count_lines(member)
    return n


def _count_json_tar(path: str) -> int:
    """Every JSON member of a compressed tar, streamed once in archive order (a truncated
    archive counts the lines read before its end, as the hunt does)."""
    n = 0
    try:
        with tarfile.open(path, "r|*") as tf:
            for info in tf:
                if info.isfile() and info.name.lower().endswith(_JSON_SUFFIXES):
                    member = tf.extractfile(info)
                    if member is not None:
                        n += _count_lines(member)
    except (tarfile.TarError, EOFError, OSError):
        pass
    return n


def _count_json_file(path: str) -> int:
    with open(path, "rb", buffering=0) as f:
        return _count_lines(f)


def raw_rate(kind: str, folder: Path, workers: int) -> tuple[int, float]:
    """Records and seconds to parse every record of the corpus with ``workers`` processes."""
    if kind == "evtx":
        files, fn = sorted(str(p) for p in folder.rglob("*.evtx")), _count_evtx
        jobs = [(fn, f) for f in files]
    else:
        jobs = [(_count_json_zip, str(p)) for p in sorted(folder.rglob("*.zip"))]
        for pattern in ("*.tar.gz", "*.tgz", "*.tar"):
            jobs += [(_count_json_tar, str(p)) for p in sorted(folder.rglob(pattern))]
        jobs += [(_count_json_file, str(p)) for p in sorted(folder.rglob("*.jsonl"))]
        # Largest first, so both processes stay busy to the end.
        jobs.sort(key=lambda job: os.path.getsize(job[1]), reverse=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(fn, f) for fn, f in jobs]
        total = sum(f.result() for f in futures)
    return total, time.perf_counter() - start


def hunt(paths: list[Path], rules: list[Path], workers: int, extra: list[str]) -> dict:
    """Run the CLI; return its stats plus wall seconds and peak tree RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = Path(tmp) / "stats.json"
        cmd = [
            sys.executable,
            "-m",
            "lotlhunt.cli",
            "hunt",
            *map(str, paths),
            "--stats",
            str(stats_path),
            "--workers",
            str(workers),
            *extra,
        ]
        for r in rules:
            cmd += ["--rules", str(r)]
        start = time.perf_counter()
        err_path = Path(tmp) / "stderr.txt"
        err_file = err_path.open("wb")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file)
        code, peak = wait_with_peak(proc, 0.1)
        wall = time.perf_counter() - start
        err_file.close()
        if code != 0:
            tail = err_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise SystemExit(f"hunt failed with exit {code}: {' '.join(cmd)}\n" + "\n".join(tail))
        stats = json.loads(stats_path.read_text())
    stats["wall"] = wall
    stats["peak_rss"] = peak
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--corpus",
        action="append",
        default=[],
        help="NAME=KIND:PATH or KIND=PATH (KIND evtx or json); default: shared corpora",
    )
    ap.add_argument("--rules", action="append", type=Path, default=[])
    ap.add_argument("--workers", action="append", type=int, default=[])
    ap.add_argument("--json", type=Path, help="Also write the results as JSON here.")
    ap.add_argument(
        "--jsonl-dir",
        type=Path,
        help="Keep each hunt's JSON lines here (NAME-wN.jsonl), to compare detections.",
    )
    args = ap.parse_args()
    corpora = {}
    for spec in args.corpus:
        name, _, rest = spec.partition("=")
        kind, _, path = rest.partition(":") if ":" in rest else (name, "", rest)
        corpora[name] = (kind, Path(path))
    corpora = corpora or {k: v for k, v in DEFAULT_CORPORA.items() if v[1].exists()}
    rules = args.rules or [r for r in DEFAULT_RULES if r.exists()]
    workers_list = args.workers or [os.cpu_count() or 1]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"rules: {', '.join(map(str, rules))}")
    header = (
        f"{'corpus':<22} {'w':>2} {'records':>9} {'raw rec/s':>10} {'hunt rec/s':>10} "
        f"{'ratio':>6} {'rules s':>7} {'read s':>7} {'hunt s':>7} {'wall s':>7} {'peak MB':>8}"
    )
    print(header)
    results = []
    for name, (kind, folder) in corpora.items():
        for workers in workers_list:
            # The raw rate uses every core whatever the hunt is given: the same machine.
            n_raw, t_raw = raw_rate(kind, folder, os.cpu_count() or 1)
            extra = []
            if args.jsonl_dir:
                args.jsonl_dir.mkdir(parents=True, exist_ok=True)
                extra = ["--jsonl", str(args.jsonl_dir / f"{name}-w{workers}.jsonl")]
            st = hunt([folder], rules, workers, extra)
            records = st["records"] + st["records_failed"]
            ph = st.get("phases", {})
            # Rule compilation is a fixed start-up cost (cached on later runs); the rate
            # compares reading + hunting with reading alone.
            work = ph.get("read", 0) + ph.get("hunt", 0) + ph.get("collect", 0)
            raw_rps, hunt_rps = n_raw / t_raw, records / work if work else 0.0
            row = {
                "corpus": name,
                "workers": workers,
                "records": records,
                "raw_records": n_raw,
                "raw_rps": raw_rps,
                "hunt_rps": hunt_rps,
                "ratio": hunt_rps / raw_rps,
                "phases": ph,
                "wall": st["wall"],
                "peak_rss": st["peak_rss"],
                "detections": st["detections"],
            }
            results.append(row)
            print(
                f"{name:<22} {workers:>2} {records:>9,} {raw_rps:>10,.0f} {hunt_rps:>10,.0f} "
                f"{row['ratio']:>6.2f} {ph.get('rules', 0):>7.1f} {ph.get('read', 0):>7.1f} "
                f"{ph.get('hunt', 0):>7.1f} {st['wall']:>7.1f} {st['peak_rss'] / 2**20:>8.0f}"
            )
            if n_raw != records:
                print(f"  note: raw parse counted {n_raw:,} records, the hunt {records:,}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
