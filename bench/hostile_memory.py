"""Peak memory of a hunt on hostile input shapes, one `lotlhunt hunt` per shape.

Each shape is generated into a temporary folder, hunted with the bundled rules on one
worker (``--workers N`` to change), and the peak resident size of the whole process tree
is sampled from /proc every 50 ms. A baseline hunt of one small event comes first: the
difference is what the shape itself costs.

    python bench/hostile_memory.py [--scale 1.0] [--workers 1] [--only NAME]

``--scale`` multiplies the sizes (0.25 for a quick look).
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
from collections.abc import Callable
from pathlib import Path

from process_tree import wait_with_peak

SRC = Path(__file__).resolve().parents[1] / "src"


def hunt(path: Path, workers: int, tmp: Path) -> tuple[int, float, int, dict[str, object]]:
    """(exit code, wall seconds, peak tree RSS, stats) of one hunt of ``path``."""
    stats_path = tmp / "stats.json"
    stats_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "lotlhunt.cli", "hunt", str(path), "--workers", str(workers)]
    cmd += ["--stats", str(stats_path)]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    code, peak = wait_with_peak(proc, 0.05)
    wall = time.perf_counter() - start
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    return code, wall, peak, stats


def _event(i: int, **extra: object) -> dict[str, object]:
    return {"EventID": 1, "Channel": "Security", "Computer": "ws1", "RecordNumber": i, **extra}


def baseline(folder: Path, scale: float) -> Path:
    path = folder / "one.json"
    path.write_text(json.dumps(_event(1)) + "\n")
    return path


def pretty_long_string(folder: Path, scale: float) -> Path:
    """Pretty-printed documents, one with a long string (the 64 MiB cap is per event)."""
    path = folder / "pretty.json"
    with path.open("w") as out:
        out.write(json.dumps(_event(1, Big="A" * int(60e6 * scale)), indent=2) + "\n")
        out.write(json.dumps(_event(2), indent=2) + "\n")
    return path


def pretty_over_cap(folder: Path, scale: float) -> Path:
    """A document over the 64 MiB cap, then a valid one (which must not be lost)."""
    path = folder / "pretty_big.json"
    with path.open("w") as out:
        out.write(json.dumps(_event(1, Big="A" * int(200e6 * scale)), indent=2) + "\n")
        out.write(json.dumps(_event(2), indent=2) + "\n")
    return path


def array_long_string(folder: Path, scale: float) -> Path:
    path = folder / "array.json"
    path.write_text(json.dumps([_event(1, Big="B" * int(60e6 * scale)), _event(2)]))
    return path


def lines_long_string(folder: Path, scale: float) -> Path:
    path = folder / "lines.json"
    with path.open("w") as out:
        out.write(json.dumps(_event(1, Big="C" * int(60e6 * scale))) + "\n")
        out.write(json.dumps(_event(2)) + "\n")
    return path


def many_keys(folder: Path, scale: float) -> Path:
    """30 JSON lines of 2,000 distinct keys each (the shape that ran out of memory)."""
    path = folder / "keys.json"
    with path.open("w") as out:
        for i in range(30):
            out.write(json.dumps(_event(i, **{f"k{i}_{j}": "v" * 10 for j in range(2000)})))
            out.write("\n")
    return path


def many_keys_many_batches(folder: Path, scale: float) -> Path:
    """300 lines of 2,000 distinct keys: several batches, so the table cap folds too."""
    path = folder / "keys300.json"
    with path.open("w") as out:
        for i in range(int(300 * scale)):
            out.write(json.dumps(_event(i, **{f"k{i}_{j}": "v" * 10 for j in range(2000)})))
            out.write("\n")
    return path


def zip_many_members(folder: Path, scale: float) -> Path:
    path = folder / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(int(10_000 * scale)):
            zf.writestr(f"m{i}.json", json.dumps(_event(i)) + "\n")
    return path


def tar_gz_many_members(folder: Path, scale: float) -> Path:
    """A compressed tar (no random access) of many tiny members."""
    path = folder / "many.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for i in range(int(10_000 * scale)):
            data = (json.dumps(_event(i)) + "\n").encode()
            info = tarfile.TarInfo(f"m{i}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def evtx_zip_bomb(folder: Path, scale: float) -> Path:
    """An EVTX member of zeros after its header (1 GB from a 1 MB zip)."""
    path = folder / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.evtx", "w") as fh:
        fh.write(b"ElfFile\x00" + bytes(4088))
        block = bytes(1 << 20)
        for _ in range(int(1000 * scale)):
            fh.write(block)
    return path


def deep_nesting(folder: Path, scale: float) -> Path:
    path = folder / "deep.json"
    deep: object = "bottom"
    for _ in range(900):
        deep = {"a": deep}
    with path.open("w") as out:
        for i in range(200):
            out.write(json.dumps(_event(i, nested=deep)) + "\n")
        out.write("[" * 100_000 + "]" * 100_000 + "\n")
    return path


SHAPES: dict[str, Callable[[Path, float], Path]] = {
    "baseline (1 event)": baseline,
    "pretty JSON, 60 MB string": pretty_long_string,
    "pretty JSON, 200 MB string": pretty_over_cap,
    "JSON array, 60 MB string": array_long_string,
    "JSON lines, 60 MB string": lines_long_string,
    "30 lines x 2,000 keys": many_keys,
    "300 lines x 2,000 keys": many_keys_many_batches,
    "zip, 10,000 members": zip_many_members,
    "tar.gz, 10,000 members": tar_gz_many_members,
    "EVTX zip bomb, 1 GB of zeros": evtx_zip_bomb,
    "deep nesting": deep_nesting,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}; workers {args.workers}; scale {args.scale}"
    )
    print(
        f"{'shape':<32} {'input MB':>9} {'exit':>4} {'wall s':>7} {'peak MB':>8} "
        f"{'records':>8} {'failed':>7}"
    )
    for name, make in SHAPES.items():
        if args.only and not any(o in name for o in args.only):
            continue
        with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
            folder = Path(tmp)
            path = make(folder, args.scale)
            size = path.stat().st_size / 1e6
            code, wall, peak, stats = hunt(path, args.workers, folder)
            print(
                f"{name:<32} {size:>9.1f} {code:>4} {wall:>7.1f} {peak / 2**20:>8.0f} "
                f"{stats.get('records', '-'):>8} {stats.get('records_failed', '-'):>7}",
                flush=True,
            )


if __name__ == "__main__":
    main()
