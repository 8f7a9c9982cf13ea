"""One large EVTX file made of another's chunks written several times over.

A domain controller's Security log is often one file of hundreds of MB, and the target
"two workers read and hunt >= 1.8x faster than one on one large file" needs such a file.
The copy keeps the source's file header and writes its whole 64 KB chunks ``--times``
over after it: every chunk stays sound (its checksums hold), so the readers cut the copy
between chunks as they would a real log, and the records are the source's, repeated.

    python bench/large_evtx.py SOURCE.evtx OUT_DIR/Security.evtx --times 4
    python bench/parse_vs_hunt.py --corpus big=evtx:OUT_DIR --workers 1 --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

HEADER = 4096
CHUNK = 65536


def write_large(source: Path, out: Path, times: int) -> int:
    """Write the copy; return its size in bytes."""
    data = source.read_bytes()
    whole = (len(data) - HEADER) // CHUNK
    if whole < 1:
        raise SystemExit(f"{source} holds no whole chunk")
    chunks = data[HEADER : HEADER + whole * CHUNK]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        fh.write(data[:HEADER])
        for _ in range(times):
            fh.write(chunks)
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--times", type=int, default=4)
    args = parser.parse_args()
    size = write_large(args.source, args.out, args.times)
    print(f"{args.out}: {size:,} bytes")


if __name__ == "__main__":
    main()
