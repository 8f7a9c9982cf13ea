"""EVTX reading on files the project's writer makes, sound and deliberately damaged.

Every damaged-file test checks the accounting rule: rows + failed records equal what the
file's chunks declare (900 records here), whatever the parser itself skipped.
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import evtx
import pyarrow as pa
import pytest

from lotlhunt.simulate.evtx_writer import write_evtx
from lotlhunt.simulate.records import EvtxRecord
from lotlhunt.sources import InputUnit, ReaderOptions, UnitReport, discover, read_unit
from lotlhunt.sources.formats.evtx import chunk_spans

T0 = datetime(2024, 5, 14, 9, 30, 12, 345678, tzinfo=UTC)
SYSMON = "Microsoft-Windows-Sysmon"
CHUNK = 65536


def record(i: int) -> EvtxRecord:
    return EvtxRecord(
        provider=SYSMON,
        event_id=1,
        channel="Microsoft-Windows-Sysmon/Operational",
        computer="WS01.corp.example.com",
        timestamp=T0 + timedelta(seconds=i),
        record_id=1000 + i,
        event_data={
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "CommandLine": f"cmd.exe /c echo {i} " + "x" * 150,
            "User": "CORP\\alice",
        },
        provider_guid="{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
        process_id=1912,
        thread_id=996,
        user_sid="S-1-5-18",
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About four chunks of Sysmon process creations."""
    path = tmp_path_factory.mktemp("evtx") / "sample.evtx"
    write_evtx(path, [record(i) for i in range(900)])
    assert (path.stat().st_size - 4096) // CHUNK >= 3
    return path


def independent_count(path: Path) -> int:
    """Records plus raised errors, the plain way."""
    count = 0
    try:
        records = evtx.PyEvtxParser(str(path)).records_json()
    except (RuntimeError, OSError):
        return 0
    while True:
        try:
            next(records)
        except StopIteration:
            return count
        except RuntimeError:
            pass
        count += 1


def read(path: Path, member: str | None = None) -> tuple[list[dict[str, Any]], UnitReport]:
    items = list(read_unit(InputUnit(str(path), member, "evtx")))
    report = items[-1]
    assert isinstance(report, UnitReport)
    rows = [r for b in items[:-1] if isinstance(b, pa.RecordBatch) for r in b.to_pylist()]
    assert report.records == len(rows)
    return rows, report


def damaged(sample: Path, tmp_path: Path, name: str, at: int, data: bytes) -> Path:
    raw = bytearray(sample.read_bytes())
    raw[at : at + len(data)] = data
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    return path


def test_sound_file(sample: Path) -> None:
    rows, report = read(sample)
    assert report.records == 900 and report.records_failed == 0 and report.issues == []
    first = rows[0]
    assert first["timestamp"] == T0
    assert (first["event_id"], first["record_id"], first["position"]) == (1, 1000, 0)
    assert first["host"] == "WS01.corp.example.com"
    assert first["channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert first["provider"] == SYSMON and first["Provider_Name"] == SYSMON
    assert first["CommandLine"].startswith("cmd.exe /c echo 0 ")
    assert first["Execution_ProcessID"] == "1912" and first["Security_UserID"] == "S-1-5-18"
    assert [r["position"] for r in rows] == list(range(900))


def test_garbage_inside_a_record(sample: Path, tmp_path: Path) -> None:
    path = damaged(sample, tmp_path, "rec.evtx", 4096 + CHUNK + 4000, b"\x44" * 600)
    rows, report = read(path)
    assert report.records_failed >= 1
    # The parser alone skips the rest of the damaged chunk without a word.
    assert independent_count(path) < report.records + report.records_failed == 900
    assert max(r["record_id"] for r in rows) == 1899  # reading went on to the end
    assert any("chunk 1 " in i.message and "cannot be read" in i.message for i in report.issues)


def test_bad_chunk_header(sample: Path, tmp_path: Path) -> None:
    path = damaged(sample, tmp_path, "chunk.evtx", 4096 + CHUNK, b"XXXXXXXX")
    rows, report = read(path)
    # The chunk's records are found by their own magic and read from a repaired copy.
    assert report.records == 900 and report.records_failed == 0
    assert sorted(r["record_id"] for r in rows) == list(range(1000, 1900))
    assert any("chunk 1 " in i.message and "repaired" in i.message for i in report.issues)


def test_bad_file_header(sample: Path, tmp_path: Path) -> None:
    path = damaged(sample, tmp_path, "header.evtx", 0, b"garbage!")
    rows, report = read(path)
    # The parser refuses the file; its chunks are still read, each on its own.
    assert len(rows) == 900 and report.records_failed == 0
    assert report.issues[0].kind == "file" and "cannot open" in report.issues[0].message


def test_truncated_inside_a_chunk_recovers_complete_records(sample: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.evtx"
    path.write_bytes(sample.read_bytes()[: 4096 + CHUNK + 30000])
    plain = independent_count(path)  # the evtx package skips the partial chunk silently
    rows, report = read(path)
    ids = [r["record_id"] for r in rows]
    assert len(ids) > plain and ids == sorted(set(ids))
    assert ids[:plain] == list(range(1000, 1000 + plain))
    assert any("truncated" in i.message and i.kind == "file" for i in report.issues)
    assert [r["position"] for r in rows] == list(range(len(rows)))


def test_evtx_inside_zip(sample: Path, tmp_path: Path) -> None:
    path = tmp_path / "case.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(sample, "logs/Sysmon.evtx")
    found = discover([path])
    assert [(u.member, u.fmt) for u in found.units] == [("logs/Sysmon.evtx", "evtx")]
    rows, report = read(path, "logs/Sysmon.evtx")
    assert report.records == 900 and rows[0]["source"] == f"{path}!logs/Sysmon.evtx"


def test_json_dump_reads_like_the_evtx(sample: Path, tmp_path: Path) -> None:
    """An EVTX dump (pretty, concatenated documents) gives the same rows as the file."""
    dump = tmp_path / "sample.json"
    parser = evtx.PyEvtxParser(str(sample))
    docs = (json.loads(r["data"]) for r in parser.records_json())
    dump.write_text("\n".join(json.dumps(doc, indent=2) for doc in docs))
    from_evtx, _ = read(sample)
    items = list(read_unit(InputUnit(str(dump), None, "json")))
    from_json = [r for b in items[:-1] if isinstance(b, pa.RecordBatch) for r in b.to_pylist()]
    assert len(from_json) == len(from_evtx)
    for a, b in zip(from_evtx, from_json, strict=True):
        del a["source"], b["source"]
        assert a == b


def test_batches_are_cut_by_source_bytes(sample: Path) -> None:
    options = ReaderOptions(batch_bytes=64 * 1024)
    items = list(read_unit(InputUnit(str(sample), None, "evtx"), options))
    sizes = [b.num_rows for b in items if isinstance(b, pa.RecordBatch)]
    assert sum(sizes) == 900 and len(sizes) > 1
    rows = [r for b in items if isinstance(b, pa.RecordBatch) for r in b.to_pylist()]
    assert [r["position"] for r in rows] == list(range(900))


def read_spans(path: Path, parts: int) -> tuple[list[dict[str, Any]], list[UnitReport]]:
    """Rows and reports of reading ``path`` as its chunk spans, one after another."""
    size = path.stat().st_size
    spans = chunk_spans(str(path), size, parts)
    assert spans is not None
    rows: list[dict[str, Any]] = []
    reports: list[UnitReport] = []
    for span in spans:
        items = list(read_unit(InputUnit(str(path), None, "evtx", size, span)))
        reports.append(items[-1])  # type: ignore[arg-type]
        rows += [r for b in items[:-1] if isinstance(b, pa.RecordBatch) for r in b.to_pylist()]
    return rows, reports


def test_chunk_spans_cut_between_chunks_and_know_their_positions(sample: Path) -> None:
    size = sample.stat().st_size
    whole, _ = read(sample)
    for parts in (2, 3, 50):
        spans = chunk_spans(str(sample), size, parts)
        assert spans is not None and 1 < len(spans) <= parts
        assert spans[0][0] == 4096 and spans[-1][1] == size
        for (start, end, first), following in zip(spans, spans[1:] + [None], strict=True):
            assert (start - 4096) % CHUNK == 0 and start < end
            assert first == sum(1 for r in whole if r["position"] < first)
            if following:
                assert following[0] == end
        rows, reports = read_spans(sample, parts)
        assert rows == whole  # positions, record ids, fields: as one reader reads it
        assert sum(r.records for r in reports) == 900
        assert all(r.records_failed == 0 and r.issues == [] for r in reports)


def test_small_or_unsound_files_are_read_whole(sample: Path, tmp_path: Path) -> None:
    one_chunk = tmp_path / "one.evtx"
    write_evtx(one_chunk, [record(i) for i in range(20)])
    magic = damaged(sample, tmp_path, "magic.evtx", 4096 + CHUNK, b"XXXXXXXX")
    numbers = damaged(sample, tmp_path, "numbers.evtx", 4096 + 2 * CHUNK + 16, b"\x07")
    # A damaged record can make the parser skip the rest of its chunk: positions after it
    # could not be foretold from the header.
    garbled = damaged(sample, tmp_path, "record.evtx", 4096 + CHUNK + 4000, b"\x44" * 600)
    for path in (one_chunk, magic, numbers, garbled):
        assert chunk_spans(str(path), path.stat().st_size, 4) is None, path.name
    assert chunk_spans(str(tmp_path / "gone.evtx"), 10 * CHUNK, 4) is None  # unreadable


def test_unwritten_chunks_and_a_cut_last_chunk_in_parts(sample: Path, tmp_path: Path) -> None:
    # Space the log has not written yet is zeros: such chunks hold no record.
    padded = tmp_path / "padded.evtx"
    padded.write_bytes(sample.read_bytes() + bytes(2 * CHUNK))
    rows, _ = read_spans(padded, 3)
    assert rows == read(padded)[0] and len(rows) == 900
    # A file cut inside its last chunk: the last part recovers that chunk's records.
    cut = tmp_path / "cut.evtx"
    data = sample.read_bytes()
    whole_chunks = (len(data) - 4096) // CHUNK
    cut.write_bytes(data[: 4096 + (whole_chunks - 1) * CHUNK + 30000])
    whole, report = read(cut)
    rows, reports = read_spans(cut, 2)
    assert rows == whole
    assert any("truncated" in i.message for i in reports[-1].issues)
    assert [str(i) for r in reports for i in r.issues] == [str(i) for i in report.issues]


def test_a_cut_last_chunk_after_unwritten_ones_in_parts(sample: Path, tmp_path: Path) -> None:
    # The last part looks only at the end of the file: the cut chunk and, back past
    # unwritten (zero) chunks, its nearest written neighbour, whose numbers tell those of
    # a cut chunk whose own header is lost. The same rows, counts and issues as one
    # reader scanning every chunk.
    data = sample.read_bytes()
    whole_chunks = (len(data) - 4096) // CHUNK
    body = data[: 4096 + (whole_chunks - 1) * CHUNK]
    last = data[4096 + (whole_chunks - 1) * CHUNK : 4096 + whole_chunks * CHUNK]
    for name, tail in (
        ("cut.evtx", last[:30000]),
        ("lost_header.evtx", b"\x00" * 8 + last[8:30000]),
        ("lost_numbers.evtx", last[:8] + b"\xff" * 16 + last[24:30000]),
    ):
        path = tmp_path / name
        path.write_bytes(body + bytes(2 * CHUNK) + tail)
        whole, report = read(path)
        rows, reports = read_spans(path, 3)
        assert rows == whole, name
        assert sum(r.records for r in reports) == report.records, name
        assert sum(r.records_failed for r in reports) == report.records_failed, name
        assert [str(i) for r in reports for i in r.issues] == [str(i) for i in report.issues]
