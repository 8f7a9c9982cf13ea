"""Seeded fault injection on EVTX files: no damage may stop a hunt or lose a record silently.

Mutants of real-looking files (the simulator's EVTX output, and with the corpus the
evtx-attack-samples) get bit flips, zeroed runs, truncation, chunk-header edits, string
and template table edits and record size edits. For every mutant:

* reading finishes and never raises;
* records read + records failed = the records the original file's chunks declare, or a
  file issue says why not (a truncated file cannot count what it lost);
* whenever a record is lost, there is an issue (so ``--strict`` fails).

And the Python ``python-evtx`` parser, an independent reader, never reads more of a mutant
than we do.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from corpus import require_corpus
from lotlhunt.sources import InputUnit, UnitReport, read_unit
from lotlhunt.sources.formats.evtx_scan import CHUNK, FILE_HEADER, scan_chunks

SEED = 20240514
MUTANTS = 300
CORPUS_MUTANTS = 120

Mutation = Callable[[random.Random, bytearray], str]


def declared(data: bytes) -> int:
    """Records the chunks of a sound file declare."""
    import io

    total = 0
    for scan, _ in scan_chunks(io.BytesIO(data), len(data)):
        assert scan.empty or scan.sound, "the original must be sound"
        total += scan.declared
    return total


def _chunk_start(rng: random.Random, data: bytearray) -> int:
    chunks = max(1, (len(data) - FILE_HEADER) // CHUNK)
    return FILE_HEADER + rng.randrange(chunks) * CHUNK


def bit_flips(rng: random.Random, data: bytearray) -> str:
    n = rng.randint(1, 8)
    for _ in range(n):
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
    return f"{n} bit flips"


def zeroed_run(rng: random.Random, data: bytearray) -> str:
    at = rng.randrange(len(data))
    length = rng.choice([1, 8, 64, 512, 4096, 20000])
    data[at : at + length] = bytes(len(data[at : at + length]))
    return f"zeros at {at} for {length}"


def truncation(rng: random.Random, data: bytearray) -> str:
    cut = rng.randrange(FILE_HEADER // 2, len(data))
    del data[cut:]
    return f"cut at {cut}"


def chunk_header_edit(rng: random.Random, data: bytearray) -> str:
    start = _chunk_start(rng, data)
    offset = rng.choice([0, 8, 16, 24, 32, 40, 44, 48, 52, 120, 124])
    width = 8 if offset < 40 else 4
    value = rng.choice(
        [
            0,
            1,
            2**31,
            rng.randrange(2**32),
            int.from_bytes(data[start + offset : start + offset + width], "little")
            + rng.choice([-100, -1, 1, 5, 100]),
        ]
    )
    data[start + offset : start + offset + width] = (value % 2 ** (8 * width)).to_bytes(
        width, "little"
    )
    return f"chunk header at {start}+{offset} = {value}"


def table_edit(rng: random.Random, data: bytearray) -> str:
    start = _chunk_start(rng, data)
    at = start + rng.randrange(128, 512 - 4)
    data[at : at + 4] = rng.randbytes(4)
    return f"string/template table at {at}"


def record_size_edit(rng: random.Random, data: bytearray) -> str:
    start = _chunk_start(rng, data)
    at = data.find(b"\x2a\x2a\x00\x00", start + 512 + rng.randrange(CHUNK - 1024), start + CHUNK)
    if at < 0:
        return bit_flips(rng, data)
    data[at + 4 : at + 8] = rng.randrange(2**16).to_bytes(4, "little")
    return f"record size at {at}"


def file_header_edit(rng: random.Random, data: bytearray) -> str:
    at = rng.choice([0, 8, 16, 24, 42, 120, 124])
    data[at : at + 2] = rng.randbytes(2)
    return f"file header at {at}"


MUTATIONS: list[Mutation] = [
    bit_flips,
    zeroed_run,
    truncation,
    chunk_header_edit,
    table_edit,
    record_size_edit,
    file_header_edit,
]


def read(path: Path) -> tuple[int, UnitReport]:
    rows = 0
    report = None
    for item in read_unit(InputUnit(str(path), None, "evtx")):
        if isinstance(item, pa.RecordBatch):
            rows += item.num_rows
        else:
            report = item
    assert isinstance(report, UnitReport)
    assert report.records == rows
    return rows, report


def check_mutants(originals: list[Path], count: int, folder: Path, oracle_every: int) -> None:
    rng = random.Random(SEED)
    sources = [(p, p.read_bytes()) for p in originals]
    totals = {p: declared(data) for p, data in sources}
    lost_any = 0
    for n in range(count):
        path, original = sources[n % len(sources)]
        data = bytearray(original)
        mutation = MUTATIONS[n % len(MUTATIONS)]
        what = mutation(rng, data)
        mutant = folder / f"m{n}.evtx"
        mutant.write_bytes(bytes(data))
        rows, report = read(mutant)
        total = totals[path]
        accounted = rows + report.records_failed
        issues = [str(i) for i in report.issues[:5]]
        context = (
            f"mutant {n} of {path.name}: {what}; {rows} read,"
            f" {report.records_failed} failed, {total} declared; {issues}"
        )
        explained = any(i.kind == "file" for i in report.issues)
        assert accounted == total or explained, context
        if rows < total:
            lost_any += 1
            assert report.issues, context  # --strict fails
        small = len(original) <= FILE_HEADER + 2 * CHUNK  # the oracle is slow: ~15 s/MB
        if oracle_every and small and (n // len(sources)) % oracle_every == 0:
            assert oracle_rows(mutant) <= rows, context
        mutant.unlink()
    assert lost_any  # the campaign did damage something


def oracle_rows(path: Path) -> int:
    """Records python-evtx renders (an independent parser, in pure Python)."""
    from Evtx.Evtx import Evtx

    count = 0
    try:
        with Evtx(str(path)) as log:
            for chunk in log.chunks():
                try:
                    for record in chunk.records():
                        try:
                            record.xml()
                        except Exception:  # noqa: BLE001 - a damaged record, not the test
                            continue
                        count += 1
                except Exception:  # noqa: BLE001, S112 - a damaged chunk
                    continue
    except Exception:  # noqa: BLE001 - a file it cannot open
        return count
    return count


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from lotlhunt.simulate import simulate_volt_typhoon

    out = tmp_path_factory.mktemp("sim")
    simulate_volt_typhoon(out, hosts=4, days=1, seed=11, fmt="evtx", events=4000)
    files = sorted(out.rglob("*.evtx"), key=lambda p: p.stat().st_size, reverse=True)
    return files[:3] + files[-1:]


def test_evtx_mutants_are_accounted_for(simulated: list[Path], tmp_path: Path) -> None:
    check_mutants(simulated, MUTANTS, tmp_path, oracle_every=6)


@pytest.mark.corpus
def test_evtx_attack_samples_mutants_are_accounted_for(tmp_path: Path) -> None:
    root = require_corpus("evtx-attack-samples")
    # The largest files up to 1.2 MB (most samples are one chunk; these have 17).
    files = sorted(
        (p for p in root.rglob("*.evtx") if p.stat().st_size <= 1_200_000),
        key=lambda p: (-p.stat().st_size, str(p)),
    )
    sound = []
    import io

    for path in files:
        data = path.read_bytes()
        scans = [s for s, _ in scan_chunks(io.BytesIO(data), len(data))]
        if data[:8] == b"ElfFile\x00" and scans and all(s.empty or s.sound for s in scans):
            sound.append(path)
        if len(sound) == 6:
            break
    assert sound
    check_mutants(sound, CORPUS_MUTANTS, tmp_path, oracle_every=0)
