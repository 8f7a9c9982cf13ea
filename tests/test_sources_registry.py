"""The format registry: sniffing in tiers, and a format added by one module is read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from lotlhunt.sources import ReaderOptions, UnitReport, discover, read_all
from lotlhunt.sources.discover import sniff
from lotlhunt.sources.registry import FORMATS, register
from registry_sample_format import KV, MAGIC
from test_sources_parallel import children

EVTX_HEAD = b"ElfFile\x00" + b"\x00" * 100


@pytest.mark.parametrize(
    ("head", "name", "fmt", "why"),
    [
        (EVTX_HEAD, "export.json", "evtx", ""),  # a signature beats the name
        (b"", "Security.evtx", "evtx", ""),  # the reader reports the damage
        (b'{"EventID": 1}', "rules.yml", None, "not a log file (.yml)"),
        (b"", "events.json", None, "empty file"),
        (b'\n  {"EventID": 1}', "export.log", "json", ""),  # content beats the name
        (b"\xff\xfe{\x00", "utf16.txt", "json", ""),
        (b"garbage\n", "events.jsonl", "json", ""),  # its lines are failed records
        (b"\x00\x01garbage", "events.json", None, "binary content, not JSON"),
        (b"GET / HTTP/1.1", "access.log", None, "not a recognised log format"),
        (b'{"a": 1}', "__MACOSX/._events.json", None, "macOS metadata, not a log"),
    ],
)
def test_sniffing_tiers(head: bytes, name: str, fmt: str | None, why: str) -> None:
    assert sniff(head, name) == (fmt, why)


@pytest.fixture
def kv_format() -> Iterator[None]:
    """The sample format, registered for one test only."""
    register(KV)
    yield
    del FORMATS[KV.name]


def write_kv(path: Path, count: int) -> None:
    lines = [
        f"EventID={4600 + i} Channel=Security RecordNumber={i} User=u{i}" for i in range(count)
    ]
    lines.insert(3, "broken line")
    path.write_bytes(MAGIC + "\n".join(lines).encode() + b"\n")


def test_a_registered_format_is_discovered_and_read_in_and_out_of_process(
    tmp_path: Path, kv_format: None
) -> None:
    write_kv(tmp_path / "a.kv", 500)
    write_kv(tmp_path / "b.txt", 300)  # content decides, not the name
    units = discover([tmp_path]).units
    assert sorted((Path(u.path).name, u.fmt) for u in units) == [("a.kv", "kv"), ("b.txt", "kv")]
    results = []
    for workers in (1, 2):
        rows: list[tuple[str, int, int]] = []
        reports = {}
        options = ReaderOptions(in_process_bytes=0, batch_rows=100)
        for item in read_all(units, workers, options):
            if isinstance(item, UnitReport):
                reports[Path(item.unit.path).name] = (item.records, item.records_failed)
            else:
                assert isinstance(item, pa.RecordBatch)
                rows += zip(
                    item["source"].to_pylist(),
                    item["record_id"].to_pylist(),
                    item["event_id"].to_pylist(),
                    strict=True,
                )
        assert reports == {"a.kv": (500, 1), "b.txt": (300, 1)}
        results.append(sorted(rows))
    assert results[0] == results[1] and len(results[0]) == 800
    assert (str(tmp_path / "a.kv"), 7, 4607) in results[0]
    assert children() == []


def test_without_its_registration_the_format_is_skipped(tmp_path: Path) -> None:
    write_kv(tmp_path / "a.kv", 5)
    found = discover([tmp_path])
    assert found.units == [] and found.skipped == [
        (str(tmp_path / "a.kv"), "not a recognised log format")
    ]
