"""How hunt cost grows with events, rules and workers, and what a re-hunt costs.

Generates simulated EVTX corpora of 1x, 2x and 4x a base size (``--events``), hunts each
with all SigmaHQ Windows rules plus the bundled pack into a case file, then re-hunts the
largest case (no log is read again) with 1x and 2x the rules, and reads the base corpus,
then one large EVTX file, with 1 and 2 workers. Prints one table per question, with peak
memory of the process tree.

    python bench/scaling.py --events 250000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from parse_vs_hunt import DEFAULT_RULES, hunt, raw_rate  # noqa: E402

from lotlhunt.simulate import LOGS_DIR, simulate_volt_typhoon  # noqa: E402


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


#: Size of the one large EVTX file read with 1 and 2 workers.
LARGE_BYTES = 256 << 20
_HEADER, _CHUNK = 4096, 65536


def _large_evtx(logs: Path, folder: Path) -> Path:
    """One EVTX file of at least ``LARGE_BYTES``: the header of the largest log under
    ``logs``, then its chunks written as many times as that takes (a log as large as a
    busy domain controller's Security log). Chunks are self-contained, so the copy parses
    like the original, that many times over."""
    out = folder / "Security.evtx"
    if out.exists():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    largest = max(logs.rglob("*.evtx"), key=lambda p: p.stat().st_size)
    data = largest.read_bytes()
    chunks = data[_HEADER : _HEADER + (len(data) - _HEADER) // _CHUNK * _CHUNK]
    with out.open("wb") as fh:
        fh.write(data[:_HEADER])
        for _ in range(-(-LARGE_BYTES // len(chunks))):
            fh.write(chunks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=250_000, help="base corpus size (1x)")
    ap.add_argument("--rules", type=Path, action="append", help="default: all SigmaHQ rules")
    ap.add_argument("--keep", type=Path, help="keep corpora and cases in this folder")
    args = ap.parse_args()
    rules: list[Path] = args.rules or [r for r in DEFAULT_RULES if r.exists()]
    work = args.keep or Path(tempfile.mkdtemp(prefix="lotlhunt-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    print(f"rules: {', '.join(map(str, rules))} and the bundled pack")
    print("\nevents scaling (full hunt: read + rules, into a case file)")
    print(
        f"{'x':>3} {'records':>10} {'EVTX MB':>8} {'raw rec/s':>10} {'read s':>7} "
        f"{'hunt s':>7} {'total s':>8} {'rec/s':>9} {'ratio':>6} {'peak MB':>8} {'analytics s':>11}"
    )
    cases = {}
    try:
        for mult in (1, 2, 4):
            corpus = work / f"corpus-{mult}x"
            if not corpus.exists():
                simulate_volt_typhoon(
                    corpus, hosts=20, days=3, seed=mult, events=args.events * mult, fmt="evtx"
                )
            logs = corpus / LOGS_DIR
            n_raw, t_raw = raw_rate("evtx", logs, os.cpu_count() or 1)
            case = work / f"case-{mult}x.duckdb"
            case.unlink(missing_ok=True)
            st = hunt([logs], rules, os.cpu_count() or 1, ["--case", str(case)])
            cases[mult] = (case, st["records"])
            ph = st["phases"]
            work_s = ph["read"] + ph["hunt"] + ph.get("correlate", 0) + ph["collect"]
            rps = st["records"] / work_s
            print(
                f"{mult:>3} {st['records']:>10,} {_size(logs) / 2**20:>8.0f} "
                f"{n_raw / t_raw:>10,.0f} {ph['read']:>7.1f} {ph['hunt']:>7.1f} "
                f"{work_s:>8.1f} {rps:>9,.0f} {rps / (n_raw / t_raw):>6.2f} "
                f"{st['peak_rss'] / 2**20:>8.0f} {ph.get('analytics', 0):>11.1f}"
            )

        biggest, records = cases[4]
        print(f"\nre-hunt of the 4x case ({records:,} events), no log read")
        print(
            f"{'rules':>6} {'loaded':>7} {'hunt s':>7} {'total s':>8} {'peak MB':>8} "
            f"{'analytics s':>11}"
        )
        # A second copy of the rules under other paths: the same rules twice, which the
        # loader keeps apart (it only merges a path named twice).
        copy = work / "rules-copy"
        if not copy.exists():
            for r in rules:
                shutil.copytree(r, copy / r.name)
        for copies in (1, 2):
            rule_paths = rules + ([copy / r.name for r in rules] if copies == 2 else [])
            st = hunt([], rule_paths, os.cpu_count() or 1, ["--case", str(biggest)])
            ph = st["phases"]
            print(
                f"{copies:>5}x {st['rules_loaded']:>7,} {ph['hunt']:>7.1f} "
                f"{st['seconds']:>8.1f} {st['peak_rss'] / 2**20:>8.0f} "
                f"{ph.get('analytics', 0):>11.1f}"
            )

        print("\nworkers (base corpus, reading into memory)")
        print(f"{'workers':>7} {'read s':>7} {'speed-up':>8}")
        base = None
        for workers in (1, 2):
            st = hunt([work / "corpus-1x" / LOGS_DIR], rules, workers, [])
            base = base or st["phases"]["read"]
            print(f"{workers:>7} {st['phases']['read']:>7.1f} {base / st['phases']['read']:>8.2f}")

        big = _large_evtx(work / "corpus-4x" / LOGS_DIR, work / "large-evtx")
        print(
            f"\nworkers on one large EVTX file ({big.stat().st_size / 2**20:.0f} MB: the "
            "chunks of the 4x corpus's largest log, repeated), reading into memory"
        )
        print(f"{'workers':>7} {'records':>10} {'read s':>7} {'speed-up':>8} {'peak MB':>8}")
        base = None
        for workers in (1, 2):
            st = hunt([big], [], workers, [])
            base = base or st["phases"]["read"]
            print(
                f"{workers:>7} {st['records']:>10,} {st['phases']['read']:>7.1f} "
                f"{base / st['phases']['read']:>8.2f} {st['peak_rss'] / 2**20:>8.0f}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
