"""Finding inputs: folders, archives (sound and damaged), sniffing, skipping non-logs."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa

from lotlhunt.sources import InputUnit, UnitReport, discover, read_all, read_unit

LINES = "".join(json.dumps({"EventID": 1, "RecordNumber": i}) + "\n" for i in range(50))


def read_rows(unit: InputUnit) -> tuple[list[int], UnitReport]:
    items = list(read_unit(unit))
    report = items[-1]
    assert isinstance(report, UnitReport)
    batches = [b for b in items[:-1] if isinstance(b, pa.RecordBatch)]
    ids = [r for b in batches for r in b["record_id"].to_pylist()]
    return ids, report


def test_folder_sniffing_and_skips(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "events.json").write_text(LINES)
    (tmp_path / "renamed.txt").write_text(LINES)  # content decides
    (tmp_path / "README.md").write_text("# notes")
    (tmp_path / "capture.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 20)
    (tmp_path / "notebook.ipynb").write_text('{"cells": []}')
    (tmp_path / "._events.json").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "plain.log").write_text("GET / HTTP/1.1 200\n")
    (tmp_path / "damaged.evtx").write_bytes(b"not an evtx header")
    found = discover([tmp_path, tmp_path / "missing"])
    by_name = {Path(u.path).name: u for u in found.units}
    assert set(by_name) == {"events.json", "renamed.txt", "damaged.evtx"}
    assert by_name["events.json"].fmt == "json" and by_name["damaged.evtx"].fmt == "evtx"
    skipped = {Path(label).name: why for label, why in found.skipped}
    assert set(skipped) == {
        "README.md",
        "capture.pcap",
        "notebook.ipynb",
        "._events.json",
        "empty.json",
        "plain.log",
    }
    assert "macOS" in skipped["._events.json"]
    assert [i.kind for i in found.issues] == ["file"]
    assert found.issues[0].path.endswith("missing")


def test_same_file_twice_is_one_unit(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(LINES)
    found = discover([tmp_path, tmp_path / "a.json"])
    assert len(found.units) == 1


def test_links_to_folders_are_followed_once(tmp_path: Path) -> None:
    # A case folder made of links to hosts' log folders read nothing before; a link back
    # to a parent must not loop, and a folder reached twice is read once.
    logs = tmp_path / "store" / "dc01"
    logs.mkdir(parents=True)
    (logs / "security.json").write_text(LINES)
    case = tmp_path / "case"
    case.mkdir()
    (case / "dc01").symlink_to(logs, target_is_directory=True)
    (logs / "up").symlink_to(tmp_path / "store", target_is_directory=True)
    found = discover([case, tmp_path / "store"])
    assert [Path(u.path).name for u in found.units] == ["security.json"]
    assert all("already read" in why for _, why in found.skipped) and found.skipped
    assert not found.issues


def test_damaged_evtx_is_a_file_issue(tmp_path: Path) -> None:
    path = tmp_path / "damaged.evtx"
    path.write_bytes(b"ElfFile\x00" + b"\xff" * 40)  # magic, then a header cut short
    ids, report = read_rows(discover([path]).units[0])
    assert ids == [] and report.records == 0
    assert [i.kind for i in report.issues] == ["file"]


def test_zip_members(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr("x.json", LINES)
    path = tmp_path / "case.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("logs/a.json", LINES)
        zf.writestr("logs/capture.cap", b"\x00" * 100)
        zf.writestr("__MACOSX/logs/._a.json", b"\x00\x05\x16\x07")
        zf.writestr("nested.zip", inner.getvalue())
        zf.writestr("dir/", b"")
    found = discover([path])
    assert [u.label for u in found.units] == [f"{path}!logs/a.json"]
    assert {label.split("!")[1] for label, _ in found.skipped} == {
        "logs/capture.cap",
        "__MACOSX/logs/._a.json",
        "nested.zip",
    }
    ids, report = read_rows(found.units[0])
    assert ids == list(range(50)) and report.records_failed == 0
    assert found.units[0].size == len(LINES)


def test_zip_without_central_directory(tmp_path: Path) -> None:
    path = tmp_path / "cut.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.json", LINES)
        zf.writestr("b.json", LINES)
    data = path.read_bytes()
    path.write_bytes(data[: data.find(b"PK\x01\x02") - 10])  # lose the directory, cut b
    found = discover([path])
    assert any("damaged zip" in i.message for i in found.issues)
    assert [u.member for u in found.units] == ["a.json", "b.json"]
    ids_a, report_a = read_rows(found.units[0])
    assert ids_a == list(range(50)) and report_a.records_failed == 0
    ids_b, report_b = read_rows(found.units[1])
    assert ids_b == list(range(len(ids_b))) and len(ids_b) > 30  # what was there
    assert report_b.records + report_b.records_failed <= 50
    assert any("truncated" in i.message for i in report_b.issues)


def test_zip_member_with_bad_crc_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "crc.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.json", LINES)
    data = bytearray(path.read_bytes())
    at = data.find(b'"RecordNumber": 49')
    data[at + 17] = ord("8")  # 49 -> 48: still JSON, wrong checksum
    path.write_bytes(bytes(data))
    ids, report = read_rows(discover([path]).units[0])
    assert ids == [*range(49), 48]
    assert any("CRC" in i.message for i in report.issues)


def test_tar_gz_and_gz(tmp_path: Path) -> None:
    tgz = tmp_path / "set.tar.gz"
    payload = LINES.encode()
    with tarfile.open(tgz, "w:gz") as tar:
        info = tarfile.TarInfo("set/events.json")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    gz = tmp_path / "single.json.gz"
    gz.write_bytes(gzip.compress(payload))
    truncated = tmp_path / "cut.json.gz"
    truncated.write_bytes(gzip.compress(payload)[:-30])
    found = discover([tgz, gz, truncated])
    assert [u.label for u in found.units] == [
        f"{tgz}!set/events.json",
        f"{gz}!single.json",
        f"{truncated}!cut.json",
    ]
    for unit in found.units[:2]:
        ids, report = read_rows(unit)
        assert ids == list(range(50)) and report.issues == []
    ids, report = read_rows(found.units[2])
    assert ids == list(range(len(ids))) and report.records + report.records_failed <= 50
    assert any("truncated" in i.message for i in report.issues)


def test_read_all_in_process_keeps_unit_order(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.json").write_text(LINES)
    found = discover([tmp_path])
    labels = [i.unit.label for i in read_all(found.units, workers=1) if isinstance(i, UnitReport)]
    assert labels == [u.label for u in found.units]


def test_special_files_are_skipped_not_opened(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # opening it for reading would block forever
    (tmp_path / "a.json").write_text(LINES)
    found = discover([tmp_path])
    assert [Path(u.path).name for u in found.units] == ["a.json"]
    assert (str(fifo), "not a regular file") in found.skipped
