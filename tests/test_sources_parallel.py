"""Reading in worker processes: same rows as in-process, streaming, crash and stop safety."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lotlhunt.simulate.evtx_writer import write_evtx
from lotlhunt.sources import ReaderOptions, UnitReport, discover, read_all
from lotlhunt.sources import parallel as parallel_module
from lotlhunt.sources.options import DEFAULT_OPTIONS
from test_sources_evtx import record

#: These inputs are small; the pool must run anyway (it is what is tested here).
POOLED = ReaderOptions(in_process_bytes=0)


def children(settle: float = 5.0) -> list[int]:
    """Pids of this process's live worker processes (the pool's), after giving workers
    that were told to stop up to ``settle`` seconds to exit: a loaded machine schedules
    their exit late. Other children of the test session (a browser, a JVM) are not ours."""
    deadline = time.monotonic() + settle
    while True:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                ours = b"_worker_main" in cmdline
                if int(fields[1]) == os.getpid() and fields[0] != "Z" and ours:
                    pids.append(int(entry.name))
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


#: A worker command that exits before it could do anything (as a broken install would).
DIES_AT_ONCE = (sys.executable, "-c", "import sys; sys.exit(3)", "--")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


def write_lines(path: Path, count: int, bad_every: int = 0) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            if bad_every and i % bad_every == bad_every - 1:
                out.write("{not json\n")
            else:
                out.write(json.dumps({"EventID": 4688, "RecordNumber": i, "Image": f"i{i}"}) + "\n")


def collect(items: object) -> tuple[dict[str, list[int]], dict[str, UnitReport], list[str]]:
    rows: dict[str, list[int]] = defaultdict(list)
    reports: dict[str, UnitReport] = {}
    order: list[str] = []
    for item in items:  # type: ignore[attr-defined]
        if isinstance(item, UnitReport):
            assert item.unit.label not in reports
            reports[item.unit.label] = item
            order.append(item.unit.label)
        else:
            assert isinstance(item, pa.RecordBatch)
            # A batch may hold the rows of several small units read in this process.
            for label, position in zip(
                item["source"].to_pylist(), item["position"].to_pylist(), strict=True
            ):
                assert label not in reports, "a batch arrived after its unit's report"
                rows[label].append(position)
    return rows, reports, order


def test_workers_give_the_same_rows(tmp_path: Path) -> None:
    for i in range(4):
        write_lines(tmp_path / f"part{i}.jsonl", 3000 + 500 * i, bad_every=97)
    write_evtx(tmp_path / "sysmon.evtx", [record(i) for i in range(300)])
    units = discover([tmp_path]).units
    options = replace(POOLED, batch_rows=1000)
    serial = collect(read_all(units, workers=1, options=options))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # workers that cannot start warn
        parallel = collect(read_all(units, workers=2, options=options))
    assert {k: sorted(v) for k, v in parallel[0].items()} == serial[0]
    for label, report in serial[1].items():
        other = parallel[1][label]
        assert (other.records, other.records_failed) == (report.records, report.records_failed)
        assert [str(i) for i in other.issues] == [str(i) for i in report.issues]
    assert children() == []


def test_a_dying_worker_is_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    write_lines(tmp_path / "big.jsonl", 300_000)
    for i in range(6):
        write_lines(tmp_path / f"small{i}.jsonl", 2000)
    units = discover([tmp_path]).units
    big = next(u.label for u in units if u.label.endswith("big.jsonl"))
    rows: dict[str, int] = defaultdict(int)
    reports: dict[str, UnitReport] = {}
    killed = False
    for item in read_all(units, workers=2, options=replace(POOLED, batch_rows=1000)):
        if isinstance(item, UnitReport):
            reports[item.unit.label] = item
            continue
        label = item["source"][0].as_py()
        rows[label] += item.num_rows
        if label == big and not killed:
            for pid in children():  # the pool's workers
                os.kill(pid, signal.SIGKILL)
            killed = True
    assert set(reports) == {u.label for u in units}
    died = [r for r in reports.values() if any("died" in i.message for i in r.issues)]
    assert big in {r.unit.label for r in died}
    for label, report in reports.items():
        assert report.records == rows[label]
        if report not in died:
            assert report.records == 2000
    assert children() == []


def test_stopping_early_ends_the_workers(tmp_path: Path) -> None:
    for i in range(3):
        write_lines(tmp_path / f"p{i}.jsonl", 50_000)
    items = read_all(discover([tmp_path]).units, workers=2, options=replace(POOLED, batch_rows=500))
    first = next(items)
    assert isinstance(first, pa.RecordBatch)
    items.close()  # type: ignore[attr-defined]
    assert children() == []


def test_workers_that_cannot_start_fall_back_to_this_process(tmp_path: Path) -> None:
    for i in range(3):
        write_lines(tmp_path / f"p{i}.jsonl", 100)
    dying = replace(POOLED, interpreter=DIES_AT_ONCE)
    with pytest.warns(RuntimeWarning, match="failed to start"):
        rows, reports, _ = collect(read_all(discover([tmp_path]).units, 2, dying))
    assert len(reports) == 3 and all(r.records == 100 for r in reports.values())
    assert all(len(v) == 100 for v in rows.values())
    assert children() == []


def test_small_inputs_are_read_in_process(tmp_path: Path) -> None:
    # Starting workers costs more than reading a few megabytes: no child process.
    path = tmp_path / "small.jsonl"
    path.write_text(json.dumps({"Channel": "Security", "EventID": 4624}) + "\n", encoding="utf-8")
    seen = []
    for _ in read_all(discover([tmp_path]).units, 2, ReaderOptions(in_process_bytes=2**30)):
        seen.append(children())
    assert seen and all(not pids for pids in seen)


def _messy_lines(path: Path, count: int) -> None:
    """JSON lines with a byte order mark, blank lines, broken lines, CRLF endings and no
    final line end: what a large SIEM export may hold."""
    with path.open("wb") as out:
        out.write(b"\xef\xbb\xbf")
        for i in range(count):
            if i % 89 == 5:
                out.write(b"{broken\n")
            elif i % 61 == 7:
                out.write(b"   \n")
            else:
                end = b"\r\n" if i % 2 else b"\n"
                out.write(json.dumps({"EventID": 1, "Image": f"i{i}"}).encode() + end)
        out.write(json.dumps({"EventID": 1, "Image": "last"}).encode())


def test_line_spans_cut_at_line_ends_and_number_lines(tmp_path: Path) -> None:
    from lotlhunt.sources.formats.jsonl import line_spans

    path = tmp_path / "big.jsonl"
    _messy_lines(path, 5000)
    data = path.read_bytes()
    for parts in (2, 3, 7, 50):
        spans = line_spans(str(path), len(data), parts)
        assert spans is not None and 1 < len(spans) <= parts
        assert spans[0][0] == 0 and spans[-1][1] == len(data)
        for (start, end, first_line), following in zip(spans, spans[1:] + [None], strict=True):
            assert start < end and data[end - 1 : end] == b"\n" or end == len(data)
            assert first_line == data.count(b"\n", 0, start) + 1
            if following:
                assert following[0] == end


def test_only_plain_json_lines_files_are_cut(tmp_path: Path) -> None:
    from lotlhunt.sources.formats.jsonl import line_spans

    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"EventID": i} for i in range(2000)], indent=1), "utf-8")
    utf16 = tmp_path / "utf16.jsonl"
    utf16.write_text("\n".join(json.dumps({"EventID": i}) for i in range(2000)), "utf-16")
    small = tmp_path / "small.jsonl"
    small.write_text('{"EventID": 1}\n', "utf-8")
    for path in (array, utf16, small):
        assert line_spans(str(path), path.stat().st_size, 4) is None


def cuts_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The list fills with how many parts each file cut into parts became."""
    cut: list[int] = []
    original = parallel_module._in_parts

    def spy(*args: object) -> object:
        units, counts = original(*args)  # type: ignore[arg-type]
        cut.extend(counts.values())
        return units, counts

    monkeypatch.setattr(parallel_module, "_in_parts", spy)
    return cut


def rows_and_reports(
    units: list[Any], workers: int, columns: list[str], split_bytes: int
) -> tuple[list[tuple[Any, ...]], dict[str, UnitReport]]:
    """Sorted (source, position, *columns) rows and each file's one report, files from
    ``split_bytes`` cut into parts; no batch of a file may arrive after its report."""
    out: list[tuple[Any, ...]] = []
    reports: dict[str, UnitReport] = {}
    options = replace(POOLED, batch_rows=500, split_bytes=split_bytes, part_bytes=1)
    for item in read_all(units, workers=workers, options=options):
        if isinstance(item, UnitReport):
            assert item.unit.label not in reports  # one report per file
            reports[item.unit.label] = item
            continue
        names = ["source", "position", *columns]
        for row in zip(*(item[n].to_pylist() for n in names), strict=True):
            assert row[0] not in reports, "a batch arrived after its file's report"
            out.append(row)
    return sorted(out), reports


def assert_same_reports(serial: dict[str, UnitReport], parallel: dict[str, UnitReport]) -> None:
    assert serial.keys() == parallel.keys()
    for label, report in serial.items():
        other = parallel[label]
        assert other.unit == report.unit and other.unit.span is None
        assert (other.records, other.records_failed) == (report.records, report.records_failed)
        assert [str(i) for i in other.issues] == [str(i) for i in report.issues]


def test_a_large_json_lines_file_is_read_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "export.jsonl"
    _messy_lines(path, 6000)
    write_lines(tmp_path / "small.jsonl", 300)
    cut = cuts_made(monkeypatch)
    units = discover([tmp_path]).units
    serial_rows, serial_reports = rows_and_reports(units, 1, ["Image"], 100_000)
    assert cut == []
    parallel_rows, parallel_reports = rows_and_reports(units, 2, ["Image"], 100_000)
    assert cut == [4]  # two parts per worker
    assert parallel_rows == serial_rows
    assert_same_reports(serial_reports, parallel_reports)
    export = serial_reports[str(path)]
    blank = sum(1 for i in range(6000) if i % 89 != 5 and i % 61 == 7)
    assert export.records + export.records_failed == 6000 - blank + 1  # every line counted
    assert export.records_failed == sum(1 for i in range(6000) if i % 89 == 5) > 0
    assert children() == []


def test_a_large_evtx_file_is_read_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_evtx(tmp_path / "Security.evtx", [record(i) for i in range(3000)])
    write_evtx(tmp_path / "small.evtx", [record(i) for i in range(50)])
    cut = cuts_made(monkeypatch)
    units = discover([tmp_path]).units
    columns = ["record_id", "CommandLine"]
    serial_rows, serial_reports = rows_and_reports(units, 1, columns, 200_000)
    assert cut == []
    parallel_rows, parallel_reports = rows_and_reports(units, 2, columns, 200_000)
    assert cut == [4]  # two parts per worker
    assert parallel_rows == serial_rows and len(serial_rows) == 3050
    assert_same_reports(serial_reports, parallel_reports)
    assert children() == []


def test_compressed_tar_members_go_to_workers_in_archive_order(tmp_path: Path) -> None:
    import io
    import tarfile
    import zipfile

    tgz = tmp_path / "set.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        for i in range(40):
            data = "".join(json.dumps({"EventID": 1, "n": j}) + "\n" for j in range(i % 7 + 1))
            info = tarfile.TarInfo(f"m{i}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data.encode()))
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("small.json", '{"EventID":1}\n')
        zf.writestr("big.json", '{"EventID":1}\n' * 100)
    big = tmp_path / "big.json"
    big.write_text('{"EventID":1}\n' * 1000)
    units = discover([tgz, archive, big]).units
    ordered = parallel_module._largest_first(units)
    assert [u.label for u in ordered][:1] == [str(big)]
    members = [u for u in ordered if u.path == str(tgz)]
    first = ordered.index(members[0])
    assert ordered[first : first + 40] == [u for u in units if u.path == str(tgz)]
    zipped = [u.member for u in ordered if u.path == str(archive)]
    assert zipped == ["big.json", "small.json"]  # random access: largest first
    items = list(read_all(units, 2, POOLED))
    reports = [r for r in items if isinstance(r, UnitReport)]
    assert len(reports) == 43 and not any(r.issues for r in reports)
    rows = sum(b.num_rows for b in items if isinstance(b, pa.RecordBatch))
    assert rows == sum(i % 7 + 1 for i in range(40)) + 101 + 1000


@pytest.mark.parametrize(("workers", "split_bytes"), [(1, 2**40), (2, 2**40), (2, 1)])
def test_readers_drop_rows_outside_the_scope(
    tmp_path: Path, workers: int, split_bytes: int
) -> None:
    """Rows outside the scope are dropped by the reader itself (in a worker, before the
    pipe), counted per unit, never handed on; every row read is one or the other."""
    from lotlhunt.scope import EventScope

    with (tmp_path / "mixed.jsonl").open("w", encoding="utf-8") as out:
        for i in range(3000):
            out.write(json.dumps({"EventID": 4688 if i % 3 else 4624, "RecordNumber": i}) + "\n")
    units = discover([tmp_path]).units
    scope = EventScope(event_ids=frozenset({4624}))
    options = replace(POOLED, batch_rows=250, split_bytes=split_bytes, part_bytes=1)
    batches, reports = [], []
    for item in read_all(units, workers, options, scope):
        (reports if isinstance(item, UnitReport) else batches).append(item)
    ids = {i for b in batches for i in b["event_id"].to_pylist()}
    assert ids == {4624}
    assert sum(b.num_rows for b in batches) == 1000
    (report,) = reports  # a file read in parts: one report, the parts' counts summed
    assert (report.records, report.out_of_scope) == (3000, 2000)
    assert children() == []


def _parts_target(folder: Path, rows: int | None = None) -> Any:
    from lotlhunt.events.parts import PART_ROWS, PartsTarget

    claimed = [1]

    def claim(count: int) -> int:
        first = claimed[0]
        claimed[0] += count
        return first

    return PartsTarget(str(folder), claim, rows or PART_ROWS)


def test_workers_write_parts_and_hand_on_small_remainders(tmp_path: Path) -> None:
    # With a parts target, workers write what they read as Parquet parts and send only
    # what each holds; a unit's last rows under SMALL_ROWS cross the pipe as batches
    # (many small files must not become many small parts). Every row is in one or the
    # other, with a row id unique across workers, and the reports count them all.
    import pyarrow.parquet as pq

    from lotlhunt.events.parts import SMALL_ROWS, UNIT_BITS, EventPart

    logs, parts = tmp_path / "logs", tmp_path / "parts"
    logs.mkdir()
    parts.mkdir()
    write_lines(logs / "big.jsonl", 40_000, bad_every=997)
    for i in range(3):
        write_lines(logs / f"small{i}.jsonl", 700)
    units = discover([logs]).units
    options = replace(POOLED, batch_rows=4000)
    serial, serial_reports, _ = collect(read_all(units, workers=1, options=options))
    rows: dict[str, list[int]] = defaultdict(list)
    rids: list[int] = []
    handed: dict[str, list[int]] = defaultdict(list)
    reports: dict[str, UnitReport] = {}
    written: list[EventPart] = []
    for item in read_all(units, 2, options, parts=_parts_target(parts)):
        if isinstance(item, EventPart):
            written.append(item)
            table = pq.read_table(item.path)
            assert table.num_rows == item.rows and item.pairs == {(None, 4688)}
            for label, position in zip(
                table["source"].to_pylist(), table["position"].to_pylist(), strict=True
            ):
                rows[label].append(position)
            rids += table["__rid"].to_pylist()
            assert (min(table["__rid"].to_pylist()), max(table["__rid"].to_pylist())) == (
                item.first_rid,
                item.last_rid,
            )
        elif isinstance(item, UnitReport):
            reports[item.unit.label] = item
        else:
            for label, position, rid in zip(
                item["source"].to_pylist(),
                item["position"].to_pylist(),
                item["__rid"].to_pylist(),
                strict=True,
            ):
                rows[label].append(position)
                handed[label].append(rid)
    big = str(logs / "big.jsonl")
    assert written and all(p.rows >= SMALL_ROWS for p in written)
    assert {label for p in written for label in pq.read_table(p.path)["source"].to_pylist()} == {
        big
    }
    assert {k: sorted(v) for k, v in rows.items()} == serial
    assert len(set(rids)) == len(rids) == sum(p.rows for p in written)
    # Rows handed over as batches are numbered by their unit too (unit numbers claimed
    # in discovery order, from 1 here), whichever worker's batch arrived first: two
    # identical events of two files get the same ids in every run.
    assert set(handed) == {str(logs / f"small{i}.jsonl") for i in range(3)}
    order = [u.label for u in units]
    for label, ids in handed.items():
        unit_number = 1 + order.index(label)
        assert sorted(ids) == [(unit_number << UNIT_BITS) + n for n in range(700)]
    assert not set(rids) & {r for ids in handed.values() for r in ids}
    assert {k: (r.records, r.records_failed) for k, r in reports.items()} == {
        k: (r.records, r.records_failed) for k, r in serial_reports.items()
    }
    assert not list(parts.glob("*.tmp"))
    assert children() == []


def test_a_worker_dying_while_writing_parts_is_reported_with_the_rows_written(
    tmp_path: Path,
) -> None:
    import pyarrow.parquet as pq

    from lotlhunt.events.parts import EventPart

    logs, parts = tmp_path / "logs", tmp_path / "parts"
    logs.mkdir()
    parts.mkdir()
    write_lines(logs / "big.jsonl", 300_000)
    for i in range(4):
        write_lines(logs / f"small{i}.jsonl", 2000)
    units = discover([logs]).units
    big = str(logs / "big.jsonl")
    stored: dict[str, int] = defaultdict(int)
    reports: dict[str, UnitReport] = {}
    killed = False
    options = replace(POOLED, batch_rows=4000, split_bytes=1 << 40)  # one unit, not cut
    for item in read_all(units, 2, options, parts=_parts_target(parts, rows=10_000)):
        if isinstance(item, UnitReport):
            reports[item.unit.label] = item
            continue
        if isinstance(item, EventPart):
            for label in set(pq.read_table(item.path)["source"].to_pylist()):
                stored[label] += item.rows
            if not killed:
                for pid in children():
                    os.kill(pid, signal.SIGKILL)
                killed = True
            continue
        stored[item["source"][0].as_py()] += item.num_rows
    assert killed and set(reports) == {u.label for u in units}
    # Every report counts exactly the rows stored for it, died or not: a worker that died
    # reading the big file (the usual case; parts are small messages, so under load it
    # may have finished first) has it said, with what its whole parts held.
    for label, report in reports.items():
        assert report.records == stored[label]
    if any("died" in i.message for i in reports[big].issues):
        assert stored[big] < 300_000
    else:
        assert stored[big] == 300_000
    assert children() == []


def test_small_units_read_in_process_share_batches(tmp_path: Path) -> None:
    # Small files read in this process share batches (a batch per small file cost more
    # than reading it); each row keeps its own file as ``source``, each report follows
    # the batch with its rows and says what reading that file alone says. A shared batch
    # whose building found an unreadable core value is built again file by file, so the
    # note lands on the file that holds the value, not on its neighbours.
    from lotlhunt.sources.parallel import read_unit

    for i in range(5):
        write_lines(tmp_path / f"f{i}.jsonl", 40 + 10 * i, bad_every=7)
    with (tmp_path / "f2b.jsonl").open("w", encoding="utf-8") as out:
        out.write(json.dumps({"EventID": 99999999999999999999, "Image": "x"}) + "\n")
        out.write(json.dumps({"EventID": 1, "image": "y", "Extra": "z"}) + "\n")
    write_evtx(tmp_path / "sysmon.evtx", [record(i) for i in range(30)])
    units = discover([tmp_path]).units
    options = replace(DEFAULT_OPTIONS, batch_rows=120)
    alone_rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    alone_reports: dict[str, tuple[Any, ...]] = {}
    for unit in units:
        for item in read_unit(unit, options):
            if isinstance(item, UnitReport):
                alone_reports[unit.label] = _said(item)
            else:
                for row in item.to_pylist():
                    alone_rows[unit.label].append(_cells(row))
    batches = 0
    rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    reports: dict[str, tuple[Any, ...]] = {}
    for item in read_all(units, 1, options):
        if isinstance(item, UnitReport):
            reports[item.unit.label] = _said(item)
            continue
        batches += 1
        for row in item.to_pylist():
            assert row["source"] not in reports, "a batch arrived after its unit's report"
            rows[row["source"]].append(_cells(row))
    assert batches < len(units)
    assert rows == alone_rows and reports == alone_reports
    odd = reports[str(tmp_path / "f2b.jsonl")]
    assert any("event_id values unreadable" in message for _, message in odd[2])
    assert sum("unreadable" in m for r in reports.values() for _, m in r[2]) == 1


def _cells(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row's non-null cells, names lower-cased (a shared batch spells a column as its
    first file does)."""
    return tuple(sorted((k.lower(), str(v)) for k, v in row.items() if v is not None))


def _said(report: UnitReport) -> tuple[Any, ...]:
    return (
        report.records,
        report.records_failed,
        [(i.position, i.message) for i in report.issues],
    )
