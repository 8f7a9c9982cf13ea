"""Hostile input: no log, rule, archive, output or signal may stop a hunt, lose a record
silently, or reach the network. One test (at least) per class of attack."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from lotlhunt.cli import cli
from lotlhunt.engines.duckdb import store as store_module
from lotlhunt.engines.duckdb.engine import CaseError, DuckDBEngine
from lotlhunt.engines.prefilter import _automaton
from lotlhunt.errors import UsageError
from lotlhunt.events import schema
from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.interrupts import Interrupted, interrupted_by, stop_on_signals
from lotlhunt.outputs import output_problem
from lotlhunt.rules.compile.literals import MAX_LITERAL
from lotlhunt.simulate.evtx_writer import write_evtx
from lotlhunt.simulate.records import EvtxRecord
from lotlhunt.sources import InputUnit, UnitReport, archives, discover, read_unit
from lotlhunt.sources.formats import evtx_spool
from lotlhunt.sources.formats.json_documents import _string_end
from lotlhunt.sources.options import DEFAULT_OPTIONS, ReaderOptions
from lotlhunt.tempfiles import SPILL_PREFIX, remove_stale
from lotlhunt.testing import rule_yaml, write_yaml

SRC = str(Path(__file__).resolve().parents[1] / "src")
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def lines(path: Path, *docs: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), "utf-8")
    return path


def read(
    path: Path,
    member: str | None = None,
    fmt: str = "json",
    occurrence: int = 1,
    options: ReaderOptions = DEFAULT_OPTIONS,
) -> tuple[list[dict[str, Any]], UnitReport]:
    items = list(read_unit(InputUnit(str(path), member, fmt, occurrence=occurrence), options))
    report = items[-1]
    assert isinstance(report, UnitReport)
    rows = [r for b in items[:-1] if isinstance(b, pa.RecordBatch) for r in b.to_pylist()]
    return rows, report


def hunt(*paths: Path, rules: tuple[Path, ...] = (), case: Path | None = None) -> Any:
    return run_hunt(HuntConfig(paths=paths, rules=rules, default_rules=False, case=case))


def sysmon_rule(folder: Path, field: str, value: str, name: str = "r.yml") -> Path:
    doc = {
        "title": f"rule on {field!r}",
        "id": "11111111-2222-4333-8444-555555555555",
        "level": "high",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {"sel": {f"{field}|contains": value}, "condition": "sel"},
    }
    return write_yaml(folder / name, doc)


# -- 1. field names that collide with internal and core columns ---------------------------


RESERVED = ["__rid", "__RID", "__Rids", "__text", "__w0", "__bits_rid", "__rule", "__lc"]
CORE = ["timestamp", "HOST", "Channel_", "source", "Source", "position", "event_id", "record_id"]


def test_reserved_and_core_names_in_json_are_kept_aside(tmp_path: Path) -> None:
    doc = {"EventID": 1, "Channel": SYSMON, "CommandLine": "whoami"}
    doc |= {name: f"v-{name}" for name in RESERVED + CORE}
    doc |= {".": "dot", ".a.b": "path", "[0]": "index"}  # Arrow reads these as paths
    result = hunt(
        lines(tmp_path / "r.json", doc), rules=(sysmon_rule(tmp_path, "CommandLine", "whoami"),)
    )
    assert result.stats.records == 1 and result.stats.records_failed == 0
    assert result.stats.detections == 1


def test_reserved_names_never_name_a_column(tmp_path: Path) -> None:
    for name in RESERVED + ["__RID", "host", "SOURCE", "Position"]:
        column = schema.field_column(name)
        assert not column.startswith("__") and not schema.is_core(column), name
    engine = DuckDBEngine()
    try:
        doc = {"EventID": 1, "Channel": "Security", **{n: n for n in RESERVED}}
        path = lines(tmp_path / "e.json", doc)
        from lotlhunt.hunt import read_into

        read_into(engine, [path])
        row = engine.con.sql("SELECT * FROM events").to_arrow_table().to_pylist()[0]
        assert row["__rid"] == 0  # the engine's own row id, untouched
        assert row["field___rid"] == "__rid"
    finally:
        engine.close()


def test_reserved_names_in_evtx_and_evtx_json(tmp_path: Path) -> None:
    event_data = {"__rid": "x", "__RID": "y", "Host": "evil", "position": "p", "Image": "a.exe"}
    record = EvtxRecord(
        provider="Microsoft-Windows-Sysmon",
        event_id=1,
        channel=SYSMON,
        computer="ws1",
        timestamp=__import__("datetime").datetime(2024, 1, 1, tzinfo=__import__("datetime").UTC),
        record_id=1,
        event_data=event_data,
    )
    write_evtx(tmp_path / "r.evtx", [record])
    doc = {
        "Event": {
            "System": {"EventID": 1, "Channel": SYSMON, "Computer": "ws1"},
            "EventData": event_data,
        }
    }
    lines(tmp_path / "r.json", doc)
    result = hunt(tmp_path / "r.evtx", tmp_path / "r.json")
    assert result.stats.records == 2 and result.stats.records_failed == 0


# -- 2. control characters in field names ---------------------------------------------------


def test_nul_and_escapes_in_json_keys(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text(
        '{"EventID":1,"Channel":"Security","K\\u0000y":"v","T\\u001b[2Jx":"w","\\u0000":"z"}\n'
    )
    rows, report = read(path)
    assert report.records_failed == 0
    assert rows[0]["K\\u0000y"] == "v" and rows[0]["T\\u001b[2Jx"] == "w"
    assert all("\x00" not in k and "\x1b" not in k for k in rows[0])
    result = hunt(path)
    assert result.stats.records == 1


def test_rule_with_control_characters_or_reserved_field_fails_alone(tmp_path: Path) -> None:
    events = lines(tmp_path / "e.json", {"EventID": 1, "Channel": SYSMON, "Image": "a"})
    rules = [
        sysmon_rule(tmp_path, "Comm\x00and", "x", "nul.yml"),
        sysmon_rule(tmp_path, "__rid", "1", "rid.yml"),
        sysmon_rule(tmp_path, "Image__lc", "a", "lc.yml"),
        sysmon_rule(tmp_path, "Image", "a", "ok.yml"),
    ]
    result = hunt(events, rules=tuple(rules))
    assert result.stats.detections == 1
    reasons = " ".join(i.message for i in result.rule_issues)
    assert "control character" in reasons and reasons.count("reserved") == 2


# -- 3. a rule with a huge value --------------------------------------------------------------


def test_literals_are_capped_before_the_automaton() -> None:
    from lotlhunt.testing import compile_rules

    ruleset = compile_rules(
        rule_yaml(
            logsource={"product": "windows", "category": "process_creation"},
            detection={"sel": {"CommandLine|contains": "x" * 100_000}, "condition": "sel"},
        )
    )
    (rule,) = ruleset.rules
    assert rule.needs and all(len(lit) <= MAX_LITERAL for c in rule.needs for _, lit in c)
    with pytest.raises(ValueError):
        _automaton({"y" * (MAX_LITERAL + 1): 1})


def test_a_million_character_rule_value_does_not_crash(tmp_path: Path) -> None:
    # pyahocorasick crashed (SIGSEGV) freeing an automaton with a 700,000-character word:
    # run in a process of its own, so a crash fails this test instead of the suite.
    events = lines(
        tmp_path / "e.json",
        {"EventID": 1, "Channel": SYSMON, "CommandLine": "y" * 2000},
        {"EventID": 1, "Channel": SYSMON, "CommandLine": "x" * 10},
    )
    rule = sysmon_rule(tmp_path, "CommandLine", "x" * 1_000_000)
    done = subprocess.run(
        [sys.executable, "-m", "lotlhunt.cli", "hunt", str(events), "--rules", str(rule)],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Rules 81 loaded" in done.stdout.replace("\n", " ") or "loaded" in done.stdout


# -- 7. memory on long strings in documents -------------------------------------------------


def test_string_end_handles_escapes() -> None:
    data = b'abc\\"def\\\\"rest'
    assert _string_end(data, 0) == data.index(b"rest")
    assert _string_end(b'\\\\\\"', 0) == -1
    assert _string_end(b'x"', 0) == 2


def test_long_string_in_a_pretty_document_costs_a_few_copies(tmp_path: Path) -> None:
    size = 24 << 20
    path = tmp_path / "pretty.json"
    with path.open("w") as out:
        out.write(json.dumps({"EventID": 1, "Channel": "Security", "Big": "A" * size}, indent=2))
        out.write("\n" + json.dumps({"EventID": 2, "Channel": "Security"}, indent=2) + "\n")
    code = (
        "import resource, sys; from lotlhunt.sources import InputUnit, read_unit;"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "items = [1 for _ in read_unit(InputUnit(sys.argv[1], None, 'json'))];"
        "print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    base, peak = map(int, done.stdout.split())
    grown = (peak - base) * 1024
    assert grown < 8 * size, f"{grown / size:.1f} bytes of memory per byte of the string"
    rows, report = read(path)
    assert len(rows) == 2 and report.records_failed == 0


@pytest.mark.parametrize("framing", ["pretty", "array"])
def test_a_document_over_the_cap_is_skipped_and_the_next_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, framing: str
) -> None:
    options = ReaderOptions(max_record_bytes=1 << 20, read_bytes=1 << 16)
    docs = [
        {"EventID": 1, "Channel": "Security"},
        {"EventID": 2, "Channel": "Security", "Big": 'A\\"' * (1 << 20), "After": {"x": "}"}},
        {"EventID": 3, "Channel": "Security", "Tail": "]"},
    ]
    path = tmp_path / "docs.json"
    if framing == "pretty":
        path.write_text("".join(json.dumps(d, indent=2) + "\n" for d in docs))
    else:
        path.write_text(json.dumps(docs, indent=1))
    rows, report = read(path, options=options)
    assert [r["event_id"] for r in rows] == [1, 3]
    assert report.records_failed == 1 and "larger than" in report.issues[0].message


# -- 8. many distinct keys --------------------------------------------------------------------


def test_many_distinct_keys_are_folded_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_TABLE_COLUMNS", 60)
    # Several batches, each with more keys than it may hold as columns.
    options = ReaderOptions(max_field_columns=40, batch_bytes=2000)
    docs = [
        {
            "EventID": 1,
            "Channel": "Security",
            "Common": "c",
            **{f"k{i}_{j}": f"v{i}" for j in range(30)},
        }
        for i in range(30)
    ]
    path = lines(tmp_path / "keys.json", *docs)
    engine = DuckDBEngine()
    try:
        from lotlhunt.hunt import read_into

        stats = read_into(engine, [path], options=options)
        assert stats.records == 30 and stats.records_failed == 0
        assert len(engine.columns) <= 60
        rows = engine.con.sql("SELECT * FROM events ORDER BY position").to_arrow_table().to_pylist()
        for i, row in enumerate(rows):
            extra = json.loads(row[schema.EXTRA_FIELDS] or "{}")
            held = {k: v for k, v in row.items() if k.startswith(f"k{i}_") and v is not None}
            assert {**held, **extra}.keys() >= {f"k{i}_{j}" for j in range(30)}
        assert engine.store.folded_fields and any(
            "lotlhunt_extra_fields" in n for n in engine.memory.notes
        )
    finally:
        engine.close()


# -- 9. damaged and inconsistent cases ------------------------------------------------------


@pytest.fixture
def case(tmp_path: Path) -> tuple[Path, Path]:
    events = lines(tmp_path / "e.json", *({"EventID": i, "Channel": "Security"} for i in range(50)))
    path = tmp_path / "case.duckdb"
    hunt(events, case=path)
    return path, events


def test_case_one_byte_short_is_an_error(case: tuple[Path, Path], tmp_path: Path) -> None:
    path, _ = case
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CaseError, match="damaged"):
        hunt(case=cut)
    done = CliRunner().invoke(cli, ["hunt", "--case", str(cut), "--no-default-rules"])
    assert done.exit_code == 1 and "damaged" in done.output
    done = CliRunner().invoke(cli, ["rules", "check", "--case", str(cut), "--no-default-rules"])
    assert done.exit_code == 1 and "damaged" in done.output


def test_case_whose_tables_disagree_is_an_error(case: tuple[Path, Path]) -> None:
    path, _ = case
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO events SELECT * FROM events WHERE event_id < 10")
    con.close()
    with pytest.raises(CaseError, match="holds 60 events"):
        hunt(case=path)


def test_not_a_case_file_is_refused_without_the_network(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "x.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE a (b)").connection.commit()
    with pytest.raises(CaseError, match="not a lotlhunt case"):
        DuckDBEngine(str(other))
    engine = DuckDBEngine()
    try:
        settings = engine.con.execute(
            "SELECT current_setting('autoinstall_known_extensions'),"
            " current_setting('autoload_known_extensions')"
        ).fetchone()
        assert settings == (False, False)
    finally:
        engine.close()


def test_hunting_the_same_inputs_into_a_case_is_refused(case: tuple[Path, Path]) -> None:
    path, events = case
    with pytest.raises(UsageError, match="already holds"):
        hunt(events, case=path)
    assert hunt(case=path).stats.records == 50  # the case is as it was


# -- 10 and 13. archives ----------------------------------------------------------------------


def test_many_zip_members_read_the_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(1500):
            zf.writestr(f"m{i}.json", json.dumps({"EventID": 1, "Channel": "Security", "n": i}))
    opened = []
    real = zipfile.ZipFile.__init__

    def counting(self: zipfile.ZipFile, *args: Any, **kwargs: Any) -> None:
        opened.append(args[0] if args else None)
        real(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting)
    found = discover([path])
    assert len(found.units) == 1500
    started = time.perf_counter()
    total = sum(read(path, u.member)[1].records for u in found.units)
    assert total == 1500
    assert len(opened) <= 3, len(opened)  # discovery, then once for all members
    assert time.perf_counter() - started < 30


def _tar_of_tiny_members(path: Path, count: int, mode: str) -> Path:
    with tarfile.open(path, mode) as tar:
        for i in range(count):
            data = json.dumps({"EventID": 1, "Channel": "Security", "n": i}).encode() + b"\n"
            info = tarfile.TarInfo(f"m{i}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(("name", "mode"), [("many.tar", "w"), ("many.tar.gz", "w:gz")])
def test_many_tar_members_are_read_in_bounded_time(tmp_path: Path, name: str, mode: str) -> None:
    path = _tar_of_tiny_members(tmp_path / name, 5000, mode)
    started = time.perf_counter()
    found = discover([path])
    assert len(found.units) == 5000 and not found.issues
    items = [item for u in found.units for item in read_unit(u)]
    rows = sum(b.num_rows for b in items if isinstance(b, pa.RecordBatch))
    reports = [r for r in items if isinstance(r, UnitReport)]
    assert rows == 5000 and not any(r.issues for r in reports)
    # Re-reading the archive for each member took minutes here (quadratic).
    assert time.perf_counter() - started < 60


class _CountingFile(io.FileIO):
    """A file that counts the bytes read from it (all instances together)."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        _CountingFile.read_bytes += len(data or b"")
        return data

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer) or 0
        _CountingFile.read_bytes += n
        return n


@pytest.mark.parametrize(
    ("name", "mode"), [("t.tar", "w"), ("t.tar.gz", "w:gz"), ("t.tar.bz2", "w:bz2")]
)
def test_reading_tar_members_reads_the_archive_a_bounded_number_of_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, mode: str
) -> None:
    def counting_open(path: str, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        assert mode == "rb"
        return _CountingFile(path, "r")

    monkeypatch.setattr(archives, "open", counting_open, raising=False)
    for count in (300, 1200):
        path = _tar_of_tiny_members(tmp_path / f"{count}{name}", count, mode)
        units = discover([path]).units
        _CountingFile.read_bytes = 0
        rows = sum(len(read(path, u.member)[0]) for u in units)
        assert rows == count
        # The archive about once, and the first bytes of it once per member (to tell its
        # kind); reading it from the start for each member is ``count / 2`` times.
        bound = 3 * path.stat().st_size + count * archives.SNIFF_BYTES
        assert _CountingFile.read_bytes < bound, (_CountingFile.read_bytes, bound)


@pytest.mark.parametrize(("name", "mode"), [("d.tar", "w"), ("d.tar.gz", "w:gz")])
def test_tar_members_read_out_of_order_and_of_one_name(
    tmp_path: Path, name: str, mode: str
) -> None:
    path = tmp_path / name
    with tarfile.open(path, mode) as tar:
        for i, member in enumerate(["a.json", "b.json", "a.json", "c.json", "a.json"]):
            data = json.dumps({"EventID": i}).encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    units = discover([path]).units
    assert [u.label.rsplit("!", 1)[1] for u in units] == [
        "a.json",
        "b.json",
        "a.json#2",
        "c.json",
        "a.json#3",
    ]
    order = [4, 0, 3, 1, 2, 2, 4]  # backwards, then forwards again, one twice
    got = [read(path, units[i].member, occurrence=units[i].occurrence)[0] for i in order]
    assert [r[0]["event_id"] for r in got] == order
    assert read(path, "missing.json")[1].issues
    assert read(path, "a.json", occurrence=4)[1].issues


@pytest.mark.parametrize(("name", "mode"), [("cut.tar", "w"), ("cut.tar.gz", "w:gz")])
def test_truncated_tar_members_before_the_cut_are_read(
    tmp_path: Path, name: str, mode: str
) -> None:
    whole = _tar_of_tiny_members(tmp_path / f"whole{name}", 200, mode)
    path = tmp_path / name
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    found = discover([path])
    assert 0 < len(found.units) < 200
    reports = [read(path, u.member)[1] for u in found.units]
    assert sum(r.records for r in reports) >= len(found.units) - 1
    assert all(len(r.issues) <= 1 for r in reports)
    assert read(path, "m199.json")[1].issues  # past the cut: said, not raised


def test_zip_members_of_one_name_are_all_read(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("a.json", '{"EventID":1,"x":"first"}\n')
            zf.writestr("a.json", '{"EventID":2,"x":"second"}\n{"EventID":3}\n')
    found = discover([path])
    labels = [u.label for u in found.units]
    assert labels == [f"{path}!a.json", f"{path}!a.json#2"]
    rows = [r for u in found.units for r in read(path, u.member, occurrence=u.occurrence)[0]]
    assert [r["event_id"] for r in rows] == [1, 2, 3]
    assert [r["source"] for r in rows] == [labels[0], labels[1], labels[1]]
    result = hunt(path)
    assert result.stats.files == 2 and result.stats.records == 3


def test_evtx_member_copies_are_bounded_and_sparse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    class Sink(io.BytesIO):
        pass

    zeros = io.BytesIO(bytes(5 * 65536) + b"data" + bytes(100))
    sink = Sink()
    assert evtx_spool._copy(zeros, sink, 1 << 30) is None
    assert sink.getvalue() == bytes(5 * 65536) + b"data" + bytes(100)
    assert "larger than" in (evtx_spool._copy(io.BytesIO(b"x" * 1000), Sink(), 100) or "")
    monkeypatch.setattr(evtx_spool, "MAX_SPOOL_BYTES", 4096 + 65536)
    records = [
        EvtxRecord(
            provider="P",
            event_id=1,
            channel="Security",
            computer="h",
            timestamp=__import__("datetime").datetime(
                2024, 1, 1, tzinfo=__import__("datetime").UTC
            ),
            record_id=i + 1,
            event_data={"Data": "x" * 400},
        )
        for i in range(400)
    ]
    write_evtx(tmp_path / "big.evtx", records)
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(tmp_path / "big.evtx", "big.evtx")
    rows, report = read(archive, "big.evtx", "evtx")
    assert 0 < len(rows) < 400
    assert any("larger than" in i.message for i in report.issues)


# -- 13. numbers ------------------------------------------------------------------------------


def test_huge_numbers_are_kept_exactly(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text(
        '{"EventID":1,"Channel":"Security","a":123456789012345678901234567890,'
        '"b":18446744073709551615,"c":1e400,"d":12345678901234567890.5,'
        '"e":-9223372036854775809,"f":0.1,"g":7}\n'
        '{"EventID":99999999999999999999,"Channel":"Security",'
        '"RecordNumber":123456789012345678901234567890}\n'
    )
    rows, report = read(path)
    assert report.records_failed == 0
    first, second = rows
    assert (first["a"], first["b"], first["c"]) == (
        "123456789012345678901234567890",
        "18446744073709551615",
        "1e400",
    )
    assert (first["d"], first["e"], first["f"], first["g"]) == (
        "12345678901234567890.5",
        "-9223372036854775809",
        "0.1",
        "7",
    )
    assert second["event_id"] is None and second["field_event_id"] == "99999999999999999999"
    assert second["field_record_id"] == "123456789012345678901234567890"
    assert any("kept in field_event_id" in i.message for i in report.issues)


def test_lone_surrogates_beside_long_numbers_fail_their_line_only(tmp_path: Path) -> None:
    """A long number sends a line to the exact parser, which accepts a lone surrogate
    escape that no Arrow string holds: that line fails, the rest of the file is read."""
    path = tmp_path / "s.jsonl"
    lines = [
        '{"EventID":1,"Channel":"Security","a":"ok","k":1234567890123456789012}',
        '{"EventID":2,"Channel":"Security","k":1e400,"a":"x\\ud800y"}',
        '{"EventID":3,"Channel":"Security","a":"x\\ud800y","k":"0x8020000000000000"}',
        '{"EventID":4,"Channel":"Security","a":"x\\udc80y","k":12345678901234567890.5}',
        '{"EventID":5,"Channel":"Security","a":"fine","k":"0x8020000000000000","f":1.50}',
        '{"EventID":6,"Channel":"Security","a":"last","k":-9214364837600034816}',
    ]
    path.write_text("\n".join(lines) + "\n")
    rows, report = read(path)
    assert not [i for i in report.issues if i.kind == "file"]
    assert [r["event_id"] for r in rows] == [1, 5, 6]
    assert report.records_failed == 3
    assert [i.position for i in report.issues] == [2, 3, 4]
    assert rows[0]["k"] == "1234567890123456789012"
    assert (rows[1]["k"], rows[2]["k"]) == ("0x8020000000000000", "-9214364837600034816")


# -- 11. outputs ------------------------------------------------------------------------------


def test_outputs_are_checked_before_the_hunt(tmp_path: Path) -> None:
    events = lines(tmp_path / "e.json", {"EventID": 1, "Channel": "Security"})
    assert output_problem(tmp_path) == "is a directory"
    assert "does not exist" in (output_problem(tmp_path / "no" / "x.json") or "")
    assert output_problem(tmp_path / "fine.json") is None
    started = time.perf_counter()
    done = CliRunner().invoke(cli, ["hunt", str(events), "--jsonl", str(tmp_path)])
    assert done.exit_code == 2 and "is a directory" in done.output
    done = CliRunner().invoke(cli, ["hunt", str(events), "--csv", str(tmp_path / "no/x.csv")])
    assert done.exit_code == 2 and "does not exist" in done.output
    assert time.perf_counter() - started < 30


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failing_output_loses_no_other(tmp_path: Path) -> None:
    events = lines(tmp_path / "e.json", {"EventID": 1, "Channel": SYSMON, "Image": "a"})
    rule = sysmon_rule(tmp_path, "Image", "a")
    stats = tmp_path / "stats.json"
    csv = tmp_path / "t.csv"
    done = CliRunner().invoke(
        cli,
        ["hunt", str(events), "--rules", str(rule), "--no-default-rules"]
        + ["--jsonl", "/dev/full", "--stats", str(stats), "--csv", str(csv)],
    )
    assert done.exit_code == 1
    assert "cannot write --jsonl /dev/full" in done.output
    assert "1 detections" in done.output.replace("\n", " ")
    assert json.loads(stats.read_text())["detections"] == 1 and csv.read_text()


# -- 12. signals and spill folders --------------------------------------------------------------


def test_stale_spill_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{SPILL_PREFIX}{dead.pid}-abc"
    live = tmp_path / f"{SPILL_PREFIX}{os.getpid()}-abc"
    other = tmp_path / "lotlhunt-spill-unmarked"
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "data").write_text("x")
    assert remove_stale(str(tmp_path)) == [str(stale)]
    assert live.exists() and other.exists() and not stale.exists()


def test_a_signal_stops_a_query_as_interrupted() -> None:
    con = duckdb.connect()
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.perf_counter()
    with pytest.raises(BaseException) as caught, stop_on_signals():
        timer.start()
        # Seconds of work (finite: should the signal not stop it, the test fails, not hangs).
        con.execute("SELECT count(*) FROM range(300000000) t(i) WHERE i % 7 = 3").fetchall()
    stop = interrupted_by(caught.value)
    assert isinstance(stop, Interrupted) and stop.exit_code == 143
    assert time.perf_counter() - started < 10
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_end_a_hunt_cleanly(tmp_path: Path, signum: int, code: int) -> None:
    events = tmp_path / "many.json"
    with events.open("w") as out:
        for i in range(400_000):
            out.write(f'{{"EventID":1,"Channel":"{SYSMON}","CommandLine":"c {i}","n":{i}}}\n')
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lotlhunt.cli", "hunt", str(events), "--workers", "1"],
        env={**os.environ, "PYTHONPATH": SRC, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(SPILL_PREFIX) for p in temp.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and "interrupted" in err
    assert not any(p.name.startswith("lotlhunt-") for p in temp.iterdir())
